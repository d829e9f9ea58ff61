"""Capture v2: health / exec rows of a recorded session, the session key, old captures."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.capture import (
    CaptureWriter,
    capture_session,
    read_capture,
    validate_capture,
)
from connectors.capture_events import (
    decode_exec,
    decode_health,
    exec_row,
    health_row,
    recordable,
)
from connectors.execution import ExecClock
from engine.recording import record_path_from_env
from operators.errors import FeedError
from operators.events import ExecutionReport, HealthEvent, RawFrame

HEALTH = HealthEvent("binance", "stale", "no frame for 5 s", 1_000, 1_005, 5.25)
REPORT = ExecutionReport(
    "opp-1:buy", "opp-1", "orca", "buy", "partial", 123_456_789, 9_876_543_210_987, 1_234,
    "ioc remainder", 2_000, 2_010, 2_009, {"signature": "5xYz", "client_order_id": "c-1"},
    9_876_543_000_000, 70_123, 0.70123,
)  # fmt: skip
CLOCK = ExecClock(3_000)


def test_health_row_round_trips_every_field_at_its_receive_time() -> None:
    row = health_row(HEALTH)
    assert (row.ts_recv_ns, row.source, row.stream, row.kind, row.slot) == (
        1_005, "binance", "health", "health", None
    )  # fmt: skip
    assert decode_health(row) == HEALTH


def test_exec_rows_round_trip_reports_and_clock_keyed_by_pair() -> None:
    for item, ts in ((REPORT, 2_010), (CLOCK, 3_000)):
        row = exec_row(("SOL/USDC", item))
        assert (row.ts_recv_ns, row.source, row.stream, row.kind) == (
            ts, "SOL/USDC", "exec:SOL/USDC", "exec"
        )  # fmt: skip
        assert decode_exec(row) == ("SOL/USDC", item)


def test_an_object_outside_the_closed_set_is_neither_recorded_nor_decoded() -> None:
    assert recordable(REPORT) and recordable(CLOCK) and recordable(HEALTH)
    assert not recordable(("not", "a", "record"))
    with pytest.raises(FeedError, match="cannot record a tuple"):
        exec_row(("SOL/USDC", ("x",)))
    forged = RawFrame(1, "SOL/USDC", "exec:SOL/USDC", "exec", b'{"type":"Popen","args":"ls"}')
    with pytest.raises(FeedError, match=r"bad exec row.*KeyError"):
        decode_exec(forged)
    as_health = exec_row(("SOL/USDC", CLOCK))
    with pytest.raises(FeedError, match="health row holds a ExecClock"):
        decode_health(RawFrame(1, "x", "health", "health", as_health.payload))


def test_session_capture_keeps_frames_and_events_in_write_order(tmp_path: Path) -> None:
    path = tmp_path / "paper.parquet"
    frame = RawFrame(1_001, "binance", "solusdc@depth@100ms", "ws", b'{"u":1}')
    rows = [frame, health_row(HEALTH), exec_row(("SOL/USDC", REPORT))]
    with CaptureWriter(path, flush_rows=2, session="live") as w:
        w.write_all(rows)
    assert validate_capture(path) == 3
    assert capture_session(path) == "live"
    assert list(read_capture(path)) == rows
    meta = pq.read_schema(path).metadata
    assert (meta[b"solarb.capture.version"], meta[b"solarb.capture.session"]) == (b"2", b"live")


def test_a_version_1_capture_still_loads_as_a_recording_of_frames(tmp_path: Path) -> None:
    path = tmp_path / "v1.parquet"
    v1 = pa.schema(
        [
            pa.field("ts_recv_ns", pa.int64(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("stream", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("payload", pa.binary(), nullable=False),
            pa.field("slot", pa.int64(), nullable=True),
        ],
        metadata={b"solarb.capture.version": b"1"},
    )
    table = pa.table(
        {"ts_recv_ns": [7], "source": ["orca"], "stream": ["P:A"], "kind": ["account"],
         "payload": [b"\x01"], "slot": [42]},
        schema=v1,
    )  # fmt: skip
    pq.write_table(table, str(path))
    assert validate_capture(path) == 1
    assert capture_session(path) == "record"
    assert list(read_capture(path)) == [RawFrame(7, "orca", "P:A", "account", b"\x01", 42)]


def test_unknown_session_is_refused_at_write_time(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="capture session must be one of"):
        CaptureWriter(tmp_path / "c.parquet", session="backtest")


def test_record_path_comes_from_the_flow_s_own_variable() -> None:
    env = {"SOLARB_PAPER_RECORD": "out/p.parquet", "SOLARB_LIVE_RECORD": ""}
    assert record_path_from_env(env, "paper") == Path("out/p.parquet")
    assert record_path_from_env(env, "live") is None
