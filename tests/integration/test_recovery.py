"""Bytewax recovery: a replay killed with SIGKILL mid-run and started again with the same
recovery folder gives the journal an uninterrupted run gives, row for row.

The killed run and the resumed run write into the same journal folder. Rows the killed run
wrote after its last snapshot are written again by the resumed run (Bytewax replays the epoch
that was cut short), so the journal is read deduplicated by row id: the `row_id` column where
the journal writes one, otherwise every column but the wall-clock ones (equal rows are the same
record). Only wall-clock latency stamps differ between runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bytewax.testing import run_main

from config import load_settings
from connectors.journal import read_rows, read_table
from flows.replay import build_flow
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

ROOT = Path(__file__).resolve().parents[2]
CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}
TABLES = ("opportunities", "decisions", "intents", "fills", "health", "counters")
Rows = dict[str, dict[Any, dict[str, Any]]]


def journal_rows(journal: Path) -> Rows:
    """Every table's rows by row key, wall-clock columns dropped; duplicates collapse."""
    out: Rows = {}
    for name in TABLES:
        rows = {}
        for r in read_rows(journal, name):
            kept = {k: v for k, v in r.items() if k not in WALL_CLOCK}
            key = kept.get("row_id") or tuple(sorted(kept.items()))
            rows[key] = kept
        out[name] = rows
    return out


def _bytewax_run(recovery: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bytewax.run", "tests.integration.recovery_flow"]
    cmd += ["-r", str(recovery), "-s", "1", "-b", "0"]  # bytewax.run takes whole seconds
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(cond: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_replay_killed_mid_run_resumes_from_its_snapshots_to_the_uninterrupted_journal(
    tmp_path: Path,
) -> None:
    cap = tmp_path / "c.parquet"
    assert write_capture(cap, CFG) == 687
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [cap], tmp_path / "uninterrupted"))
    expected = journal_rows(tmp_path / "uninterrupted")
    # Decision rows are unique within a run, so deduplication drops nothing real there (the
    # counters table repeats one row: `pair_engine views` is reported twice with one value).
    for name in ("opportunities", "decisions", "intents", "fills"):
        t = read_table(tmp_path / "uninterrupted", name)
        assert t is not None and len(expected[name]) == t.num_rows, name

    journal, recovery = tmp_path / "journal", tmp_path / "recovery"
    recovery.mkdir()
    init = [sys.executable, "-m", "bytewax.recovery", str(recovery), "1"]
    subprocess.run(init, cwd=ROOT, check=True, timeout=60)
    env = dict(
        os.environ,
        SOLARB_CAPTURE=str(cap),
        SOLARB_MARKETS=str(SAMPLE_MARKETS),
        SOLARB_JOURNAL=str(journal),
        # A journal that keeps one folder per run must put the resumed run in the killed one's.
        SOLARB_RUN_ID="recovered",
        SOLARB__ENGINE__JOURNAL_FLUSH_ROWS="1",  # every batch on disk before its epoch snapshot
        SOLARB_TEST_FRAME_SLEEP_MS="10",  # ~7 s for the 687 frames
    )
    first = _bytewax_run(recovery, env)
    try:
        # Kill once the first signal has been decided (20 s into the session's 60) and a
        # snapshot has been taken since (1 s epochs); the -80 bps jump at 45 s is ~2.9 s ahead.
        decided = _wait_for(
            lambda: first.poll() is not None
            or any((journal / "recovered" / "decisions").glob("*.parquet")),
            30,
        )
        assert decided and first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(1.5)
        assert first.poll() is None, "the run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=30)
    killed = journal_rows(journal)
    assert 0 < len(killed["decisions"]) < len(expected["decisions"])
    assert killed["counters"] == {}  # counters come at the end of a run: it never got there

    before = {f for f in journal.rglob("*.parquet")}
    second = _bytewax_run(recovery, dict(env, SOLARB_TEST_FRAME_SLEEP_MS="0"))
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]

    assert journal_rows(journal) == expected
    # It resumed rather than started over: the first decision is not written a second time.
    decisions = (journal / "recovered" / "decisions").glob("*.parquet")
    resumed_decisions = [f for f in decisions if f not in before]
    assert 0 < len(resumed_decisions) < len(expected["decisions"])


def test_solarb_replay_with_a_recovery_dir_creates_its_partitions_and_a_rerun_adds_nothing(
    tmp_path: Path,
) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=30, jumps=((20, 70),)))
    recovery = tmp_path / "recovery"
    base = [sys.executable, "-m", "cli.main", "--markets", str(SAMPLE_MARKETS), "replay"]
    base += [str(cap), "--journal", str(tmp_path / "j"), "--report", str(tmp_path / "r.md")]
    base += ["--recovery-dir", str(recovery), "--snapshot-interval", "0.2"]
    proc = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in recovery.iterdir()) == [
        "part-0.sqlite3", "solarb-run-id", "solarb-state-version", "solarb-workers"]  # fmt: skip
    once = journal_rows(tmp_path / "j")
    assert len([o for o in once["opportunities"].values() if o["update_seq"] == 0]) == 1

    proc = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "from the recovery snapshots in" in proc.stdout
    # The whole capture was already snapshotted as replayed: the rerun adds no decision, and
    # its end-of-run counters are the same counts (state restored, not rebuilt from zero).
    assert journal_rows(tmp_path / "j") == once
    # snapshots of another build's state layout are refused before anything runs
    (recovery / "solarb-state-version").write_text("0\n", encoding="utf-8")
    proc = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "its snapshots are of state version 0, this build reads" in proc.stderr + proc.stdout
    assert journal_rows(tmp_path / "j") == once
