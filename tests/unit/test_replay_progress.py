"""Replay progress: the source counts frames, plain lines off a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

from cli.progress import progress_line, replay_progress
from replay.source import ReplayProgress, ReplaySource
from sim.simulate import SimConfig, write_capture


def test_progress_line_shows_frames_share_rate_and_eta() -> None:
    assert progress_line("replay", 1_000, 4_000, 2.0) == (
        "solarb replay: 1,000 / 4,000 frames (25.0%), 500 frames/s, ETA 0:00:06"
    )


def test_progress_line_before_any_frame_has_no_eta() -> None:
    assert progress_line("replay", 0, 4_000, 0.0) == (
        "solarb replay: 0 / 4,000 frames (0.0%), 0 frames/s, ETA ?"
    )


def test_non_tty_progress_prints_plain_lines_and_a_final_one() -> None:
    counter = ReplayProgress(total=10)
    out = io.StringIO()  # not a TTY
    ticks = iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    with replay_progress(counter, out=out, every_s=0.05, clock=lambda: next(ticks, 5.0)):
        counter.bump("a", 4)
        counter.bump("b", 6)
    lines = out.getvalue().splitlines()
    assert lines, "at least the final line"
    assert lines[-1].startswith("solarb replay: 10 / 10 frames (100.0%), ")
    assert lines[-1].endswith("ETA 0:00:00")
    assert all(re.fullmatch(r"solarb replay: [\d,]+ / 10 frames .*", ln) for ln in lines)


def test_replay_source_knows_the_total_and_counts_what_it_emits(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    n = write_capture(cap, SimConfig(duration_s=5))
    src = ReplaySource([cap], partition_of=lambda _s: "all", batch_size=10, progress=True)
    assert n == 63
    assert src.progress is not None and src.progress.total == 63
    part = src.build_part("capture", "all", None)
    first = part.next_batch()
    assert src.progress.done == len(first) == 10
    resumed = ReplaySource([cap], partition_of=lambda _s: "all", progress=True)
    resumed.build_part("capture", "all", 15)
    assert resumed.progress is not None and resumed.progress.done == 15
