"""A paced replay (`speed`): frames at their recorded spacing / speed, stamped when due, the same
decisions as an unpaced one; idle partitions read nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.journal import read_rows
from flows.replay import build_flow
from operators.errors import ConfigError
from replay.source import ReplaySource
from sim.market import MarketConfig, write_market_capture
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}


def test_paced_frames_are_stamped_at_their_recorded_spacing_over_speed(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=5))
    src = ReplaySource([cap], partition_of=lambda _s: "all", batch_size=1_000, speed=50.0)
    part = src.build_part("capture", "all", None)
    frames = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            frames += part.next_batch()
        except StopIteration:
            break
        awake = part.next_awake()
        assert awake is None or awake > datetime.now(UTC).replace(microsecond=0)
    assert len(frames) == 63
    t0, r0 = frames[0].ts_ingest_ns, frames[0].ts_recv_ns
    # due times are the recorded offsets / 50, to the nanosecond's rounding
    assert [f.ts_ingest_ns - t0 for f in frames] == [
        int((f.ts_recv_ns - r0) / 50.0) for f in frames
    ]
    assert part.snapshot() == 63


def test_a_frame_not_yet_due_is_not_emitted_and_the_partition_says_when(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=5))
    # 1 ns recorded = 1 s paced: after the first frame, the next one is due seconds later
    src = ReplaySource([cap], partition_of=lambda _s: "all", batch_size=1_000, speed=1e-9)
    part = src.build_part("capture", "all", None)
    assert part.next_awake() is None  # nothing emitted yet: the first frame is due at once
    first = part.next_batch()  # the frames recorded at the first instant (5 of them)
    assert len(first) == 5 and {f.ts_recv_ns for f in first} == {first[0].ts_recv_ns}
    assert part.next_batch() == []
    awake = part.next_awake()
    assert awake is not None and (awake - datetime.now(UTC)).total_seconds() > 0.5


def test_a_paced_replay_decides_what_an_unpaced_one_does(tmp_path: Path) -> None:
    cap = tmp_path / "m.parquet"
    write_market_capture(cap, MarketConfig(duration_s=240))
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    tables = {}
    for name, speed in (("unpaced", None), ("paced", 400.0)):
        journal = tmp_path / name
        run_main(build_flow(settings, [cap], journal, batch_size=1, run_id="r", speed=speed))
        tables[name] = {
            t: sorted(
                tuple(sorted((k, v) for k, v in r.items() if k not in WALL_CLOCK))
                for r in read_rows(journal / "r", t)
            )
            for t in ("opportunities", "decisions", "fills")
        }
    assert tables["paced"] == tables["unpaced"]
    assert len(tables["paced"]["opportunities"]) == 2  # the sample's two signals


def test_replay_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="replay speed must be > 0, got 0"):
        ReplaySource([], speed=0.0)


def test_an_idle_partition_reads_nothing(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=5))
    src = ReplaySource([cap], partition_of=lambda _s: "p", idle_parts=["000.001.idle"])
    assert src.list_parts() == ["000.001.idle", "p"]
    with pytest.raises(StopIteration):
        src.build_part("capture", "000.001.idle", None).next_batch()
