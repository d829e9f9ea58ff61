"""Live journals rotate per UTC day: one run folder, one `day=YYYY-MM-DD` folder per day."""

from __future__ import annotations

from pathlib import Path

from connectors.journal import JournalSink, day_folder, read_table, written_ids
from operators.events import HealthEvent

# 2026-12-04T23:59:59.5Z and the first instant of 2026-12-05, ns
BEFORE_MIDNIGHT_NS = 1_796_428_799_500_000_000
MIDNIGHT_NS = 1_796_428_800_000_000_000


class Clock:
    """A hand-moved clock, ns."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def _health(i: int) -> HealthEvent:
    return HealthEvent("binance", "up", f"tick {i}", 1_000 + i, 2_000 + i)


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*.parquet"))


def test_day_folder_is_the_utc_day_of_the_wall_clock() -> None:
    assert day_folder(BEFORE_MIDNIGHT_NS) == "day=2026-12-04"
    assert day_folder(MIDNIGHT_NS) == "day=2026-12-05"


def test_a_run_crossing_utc_midnight_writes_each_day_into_its_own_folder(tmp_path: Path) -> None:
    wall = Clock(BEFORE_MIDNIGHT_NS)
    sink = JournalSink(
        tmp_path,
        "paper1",
        flush_rows=1000,
        flush_ms=60_000,
        clock=Clock(0),
        rotate_daily=True,
        wall_clock=wall,
    )
    part = sink.build("journal", 0, 1)
    part.write_batch([_health(0), _health(1)])
    wall.now_ns = MIDNIGHT_NS  # rows pending across midnight still belong to the day they came
    part.write_batch([_health(2)])
    part.close()
    assert _files(tmp_path / "paper1") == [
        "health/day=2026-12-04/w0-00000.parquet",
        "health/day=2026-12-05/w0-00001.parquet",
    ]
    t = read_table(tmp_path, "health")  # `latest` -> paper1, every day, in day order
    assert t is not None and t.column("detail").to_pylist() == ["tick 0", "tick 1", "tick 2"]


def test_a_resumed_rotating_run_skips_rows_of_earlier_days(tmp_path: Path) -> None:
    wall = Clock(BEFORE_MIDNIGHT_NS)
    first = JournalSink(tmp_path, "paper1", flush_rows=1, rotate_daily=True, wall_clock=wall)
    first.build("journal", 0, 1).write_batch([_health(0)])
    wall.now_ns = MIDNIGHT_NS
    again = JournalSink(tmp_path, "paper1", flush_rows=1, rotate_daily=True, wall_clock=wall)
    assert len(written_ids(tmp_path / "paper1")) == 1
    p = again.build("journal", 0, 1)
    p.write_batch([_health(0), _health(1)])  # the replayed row is skipped, the new one lands
    assert p.duplicates == 1
    assert _files(tmp_path / "paper1") == [
        "health/day=2026-12-04/w0-00000.parquet",
        "health/day=2026-12-05/w0-00001.parquet",
    ]


def test_replay_journals_do_not_rotate(tmp_path: Path) -> None:
    part = JournalSink(tmp_path, "r1", flush_rows=1).build("journal", 0, 1)
    part.write_batch([_health(0)])
    assert _files(tmp_path / "r1") == ["health/w0-00000.parquet"]


def test_duckdb_reads_the_day_of_a_rotated_run_as_a_column(tmp_path: Path) -> None:
    import duckdb

    wall = Clock(BEFORE_MIDNIGHT_NS)
    part = JournalSink(tmp_path, "p", flush_rows=1, rotate_daily=True, wall_clock=wall).build(
        "journal", 0, 1
    )
    part.write_batch([_health(0), _health(1)])
    wall.now_ns = MIDNIGHT_NS
    part.write_batch([_health(2)])
    glob = tmp_path / "p" / "health" / "**" / "*.parquet"
    rows = duckdb.sql(
        f"SELECT day, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        "GROUP BY day ORDER BY day"
    ).fetchall()
    assert [(str(d), n) for d, n in rows] == [("2026-12-04", 2), ("2026-12-05", 1)]


def test_csv_export_of_a_rotated_run_has_every_day(tmp_path: Path) -> None:
    from connectors.journal_export import export_csv

    wall = Clock(BEFORE_MIDNIGHT_NS)
    part = JournalSink(tmp_path, "p", flush_rows=1, rotate_daily=True, wall_clock=wall).build(
        "journal", 0, 1
    )
    part.write_batch([_health(0)])
    wall.now_ns = MIDNIGHT_NS
    part.write_batch([_health(1)])
    assert export_csv(tmp_path, tmp_path / "csv") == {"health": 2}
    lines = (tmp_path / "csv" / "health.csv").read_text().splitlines()
    assert [ln.split(",")[3] for ln in lines[1:]] == ['"tick 0"', '"tick 1"']
