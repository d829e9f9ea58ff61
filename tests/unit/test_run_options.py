"""The CLI's run options: recovery folder, snapshot interval, workers (cli/runner.py)."""

from __future__ import annotations

import gc
from dataclasses import replace
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource

from cli.main import build_parser
from cli.runner import (
    REPLAY_GC_AUTO,
    RunOptions,
    ensure_recovery_dir,
    freeze_gc,
    is_resume,
    run_flow,
    run_options,
)
from operators.errors import ConfigError


def test_replay_and_paper_take_a_recovery_dir_and_snapshot_interval(tmp_path: Path) -> None:
    p = build_parser()
    rdir = str(tmp_path / "r")
    replay = p.parse_args(["replay", "--recovery-dir", rdir, "--snapshot-interval", "2.5"])
    assert run_options(replay) == RunOptions(1, Path(rdir), 2.5)
    replay2 = p.parse_args(["replay", "--workers", "2"])
    assert run_options(replay2) == RunOptions(2, None, 10.0)
    paper = p.parse_args(["paper", "--loopback", "--recovery-dir", rdir])
    assert run_options(paper) == RunOptions(1, Path(rdir), 10.0)


def test_runs_freeze_the_collector_unless_told_not_to() -> None:
    p = build_parser()
    assert run_options(p.parse_args(["replay"])).gc_freeze is True
    assert run_options(p.parse_args(["replay", "--no-gc-freeze"])).gc_freeze is False
    assert run_options(p.parse_args(["paper", "--loopback", "--no-gc-freeze"])).gc_freeze is False


def test_freeze_gc_moves_live_objects_out_of_the_collector() -> None:
    alive = [[i] for i in range(1000)]  # tracked containers alive at "start-up"
    before = gc.get_freeze_count()
    try:
        freeze_gc()
        assert gc.get_freeze_count() >= before + len(alive)
        assert gc.get_count()[0] < 100  # collected just before: generation 0 starts empty
    finally:
        gc.unfreeze()


def _collector_seen(opts: RunOptions) -> list[bool]:
    """Run a 3-item flow with `opts`; whether automatic collection was on at each item."""
    seen: list[bool] = []
    flow = Dataflow("gc_probe")
    s = op.input("in", flow, TestingSource([1, 2, 3]))
    op.output("out", op.map("probe", s, lambda _x: gc.isenabled()), TestingSink(seen))
    run_flow(flow, opts)
    return seen


def test_a_replay_runs_without_automatic_collection_and_restores_it_after() -> None:
    assert REPLAY_GC_AUTO is False
    assert gc.isenabled()
    assert _collector_seen(RunOptions(gc_freeze=False, gc_auto=REPLAY_GC_AUTO)) == [False] * 3
    assert gc.isenabled()  # back on once the run has ended


def test_paper_and_live_runs_keep_automatic_collection() -> None:
    p = build_parser()
    opts = run_options(p.parse_args(["paper", "--loopback"]))
    assert opts.gc_auto is True
    assert _collector_seen(replace(opts, gc_freeze=False)) == [True] * 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--workers", "0"], "--workers must be >= 1, got 0"),
        (["replay", "--snapshot-interval", "0"], "--snapshot-interval must be > 0 seconds"),
    ],
)
def test_bad_run_options_are_config_errors_naming_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_options(build_parser().parse_args(argv))


def test_recovery_partitions_are_created_once_then_reused(tmp_path: Path) -> None:
    rdir = tmp_path / "deep" / "recovery"
    opts = RunOptions(2, rdir, 1.0)
    assert not is_resume(opts)
    ensure_recovery_dir(rdir, 2)
    assert sorted(p.name for p in rdir.iterdir()) == ["part-0.sqlite3", "part-1.sqlite3"]
    assert is_resume(opts)
    before = {p.name: p.stat().st_mtime_ns for p in rdir.iterdir()}
    ensure_recovery_dir(rdir, 4)  # existing partitions are the run's state: never re-made
    assert {p.name: p.stat().st_mtime_ns for p in rdir.iterdir()} == before


def test_a_recovery_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        ensure_recovery_dir(f, 1)


def test_a_replay_recovery_dir_pins_its_worker_count(tmp_path: Path) -> None:
    from cli.runner import WORKERS_FILE, recovery_run_id

    rdir = tmp_path / "recovery"
    two = RunOptions(2, rdir, 1.0)
    assert recovery_run_id(two, "r1", explicit=False, pin_workers=True) == "r1"
    assert (rdir / WORKERS_FILE).read_text(encoding="utf-8") == "2\n"
    ensure_recovery_dir(rdir, 2)  # the run left snapshots: a rerun resumes
    assert recovery_run_id(two, "r2", explicit=False, pin_workers=True) == "r1"
    with pytest.raises(ConfigError, match="ran with --workers 2, this one asks for 3"):
        recovery_run_id(RunOptions(3, rdir, 1.0), "r3", explicit=False, pin_workers=True)
    # paper and live do not pin it (their partitions are the live feeds, not per worker)
    assert recovery_run_id(RunOptions(3, rdir, 1.0), "r3", explicit=False) == "r1"


def test_a_replay_recovery_dir_without_a_pinned_count_resumes_only_on_one_worker(
    tmp_path: Path,
) -> None:
    from cli.runner import WORKERS_FILE, recovery_run_id

    rdir = tmp_path / "recovery"
    recovery_run_id(RunOptions(1, rdir, 1.0), "r1", explicit=False)  # an older build's folder
    ensure_recovery_dir(rdir, 1)
    assert not (rdir / WORKERS_FILE).exists()
    with pytest.raises(ConfigError, match="did not pin the worker count"):
        recovery_run_id(RunOptions(2, rdir, 1.0), "r2", explicit=False, pin_workers=True)
    assert recovery_run_id(RunOptions(1, rdir, 1.0), "r2", explicit=False, pin_workers=True) == "r1"
