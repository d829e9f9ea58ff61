"""The journal sink: bounded batches on disk, one folder per run, stable ids, idempotent resume."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.journal import (
    LATEST,
    CounterRecord,
    JournalSink,
    read_table,
    row_id,
    run_dir,
)
from operators.errors import ConfigError
from operators.events import ExecutionReport, HealthEvent, OrderIntent
from operators.risk import RiskDecision


class Clock:
    """A hand-moved monotonic clock, ns."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def _health(i: int, detail: str = "ok") -> HealthEvent:
    return HealthEvent("binance", "up", detail, 1_000 + i, 2_000 + i)


def _parts(run: Path, table: str) -> list[str]:
    return sorted(p.name for p in (run / table).glob("*.parquet"))


def test_rows_reach_disk_once_flush_rows_are_pending(tmp_path: Path) -> None:
    sink = JournalSink(tmp_path, "r1", flush_rows=2, flush_ms=60_000, clock=Clock())
    part = sink.build("journal", 0, 1)
    part.write_batch([_health(0)])
    assert _parts(tmp_path / "r1", "health") == []  # one row pending, under both bounds
    part.write_batch([_health(1), _health(2)])
    assert _parts(tmp_path / "r1", "health") == ["w0-00000.parquet"]
    assert read_table(tmp_path, "health").num_rows == 3  # type: ignore[union-attr]


def test_rows_reach_disk_once_the_oldest_pending_row_is_flush_ms_old(tmp_path: Path) -> None:
    clock = Clock()
    sink = JournalSink(tmp_path, "r1", flush_rows=1000, flush_ms=500, clock=clock)
    part = sink.build("journal", 0, 1)
    part.write_batch([_health(0)])
    clock.now_ns = 499_000_000
    part.write_batch([_health(1)])
    assert _parts(tmp_path / "r1", "health") == []
    clock.now_ns = 500_000_000  # the first row is now 500 ms old
    part.write_batch([CounterRecord("route", "okx", "unrouted_frames", 3)])
    assert _parts(tmp_path / "r1", "health") == ["w0-00000.parquet"]
    assert _parts(tmp_path / "r1", "counters") == ["w0-00000.parquet"]


def test_close_writes_the_last_partial_batch(tmp_path: Path) -> None:
    part = JournalSink(tmp_path, "r1", flush_rows=100, flush_ms=60_000, clock=Clock()).build(
        "journal", 0, 1
    )
    part.write_batch([_health(0)])
    part.close()
    assert read_table(tmp_path, "health").num_rows == 1  # type: ignore[union-attr]


def test_each_run_writes_its_own_folder_and_latest_names_the_newest(tmp_path: Path) -> None:
    for run, n in (("first", 3), ("second", 1)):
        part = JournalSink(tmp_path, run).build("journal", 0, 1)
        part.write_batch([_health(i) for i in range(n)])
        part.close()
    assert (tmp_path / LATEST).read_text() == "second\n"
    assert run_dir(tmp_path) == tmp_path / "second"
    assert read_table(tmp_path, "health").num_rows == 1  # type: ignore[union-attr]
    assert read_table(tmp_path / "first", "health").num_rows == 3  # type: ignore[union-attr]


def test_resumed_sink_skips_rows_already_on_disk_and_numbers_parts_after_them(
    tmp_path: Path,
) -> None:
    first = JournalSink(tmp_path, "r1", flush_rows=1).build("journal", 0, 1)
    first.write_batch([_health(0), _health(1)])
    # a crash here; Bytewax recovery replays the batch since its last snapshot into a new sink
    again = JournalSink(tmp_path, "r1", flush_rows=1).build("journal", 0, 1)
    again.write_batch([_health(1), _health(2)])
    again.close()
    assert again.duplicates == 1
    # the first sink's batch is one part; the resumed one adds only the new row, after it
    assert _parts(tmp_path / "r1", "health") == ["w0-00000.parquet", "w0-00001.parquet"]
    rows = read_table(tmp_path, "health").to_pylist()  # type: ignore[union-attr]
    assert [r["ts_event_ns"] for r in rows] == [1_000, 1_001, 1_002]


def test_reader_keeps_the_first_row_of_an_id_written_twice(tmp_path: Path) -> None:
    run = tmp_path / "r1" / "health"
    run.mkdir(parents=True)
    for i, detail in enumerate(("first", "second")):
        pq.write_table(
            pa.Table.from_pylist([{"row_id": "health:x", "detail": detail}]),
            run / f"w{i}-00000.parquet",
        )
    (tmp_path / LATEST).write_text("r1\n")
    assert read_table(tmp_path, "health").to_pylist() == [  # type: ignore[union-attr]
        {"row_id": "health:x", "detail": "first"}
    ]


def test_a_journal_from_before_run_folders_is_read_in_place(tmp_path: Path) -> None:
    (tmp_path / "counters").mkdir()
    pq.write_table(
        pa.Table.from_pylist([{"step": "s", "key": "k", "name": "n", "value": 1}]),
        tmp_path / "counters" / "w0-00000.parquet",
    )
    assert read_table(tmp_path, "counters").num_rows == 1  # type: ignore[union-attr]


def test_row_ids_derive_from_each_records_identity() -> None:
    intent = OrderIntent("p|d|a>b|0/buy", "p|d|a>b|0", "binance", "binance:X", "buy", 1, 2, 3, 4, 5)
    fill = ExecutionReport(
        "p|d|a>b|0/buy", "p|d|a>b|0", "binance", "buy", "filled", 1, 2, 0, "", 6, 7, 8
    )
    assert row_id(intent) == "intent:p|d|a>b|0/buy@5"
    assert row_id(fill) == "fill:p|d|a>b|0/buy@7>8:filled"
    assert row_id(RiskDecision("p|d|a>b|0", "p", True, "", "", 9)) == "decision:p|d|a>b|0@9"
    assert row_id(CounterRecord("route", "okx", "unrouted_frames", 3)) == (
        "counter:route|okx|unrouted_frames"
    )
    assert row_id(_health(0)) == row_id(_health(0))
    assert row_id(_health(0, "a")) != row_id(_health(0, "b"))


def test_health_detail_with_a_keyed_url_is_redacted_in_the_journal(tmp_path: Path) -> None:
    part = JournalSink(tmp_path, "r1").build("journal", 0, 1)
    part.write_batch([_health(0, "connected wss://rpc.example.com/?api-key=SECRET123")])
    part.close()
    rows = read_table(tmp_path, "health").to_pylist()  # type: ignore[union-attr]
    assert rows[0]["detail"] == "connected wss://rpc.example.com/?api-key=***"


def test_a_run_id_that_is_not_a_plain_folder_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run id '\.\./x'"):
        JournalSink(tmp_path, "../x")
    with pytest.raises(ConfigError, match="run id 'latest'"):
        JournalSink(tmp_path, LATEST)


def test_parts_are_read_in_numeric_order_past_five_digits(tmp_path: Path) -> None:
    folder = tmp_path / "r1" / "counters"
    folder.mkdir(parents=True)
    for part in (100000, 99999):
        row = {"row_id": f"counter:{part}", "step": "s", "key": "k", "name": "n", "value": part}
        pq.write_table(pa.Table.from_pylist([row]), folder / f"w0-{part:05d}.parquet")
    assert [r["value"] for r in read_table(tmp_path / "r1", "counters").to_pylist()] == [  # type: ignore[union-attr]
        99999,
        100000,
    ]
