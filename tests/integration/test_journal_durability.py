"""The journal survives the ways a run ends: SIGTERM, SIGINT, SIGKILL, a rerun with fewer workers.

Every run is a subprocess on 127.0.0.1 (loopback venues, the Solana stand-in, or a capture),
bounded by timeouts; each test reads the journal back the way `solarb report` does.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.capture import read_capture
from connectors.journal import LATEST, TABLES, read_table, run_dir
from flows.replay import build_flow
from replay.report import summarize
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, write_capture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
SETTINGS = load_settings(None, SAMPLE_MARKETS, env={})
PROGRESS = f"solarb paper: {CEX} "
"""Start of a progress line (the start-up line has `{CEX},` instead)."""


class Proc:
    """A subprocess whose stdout lines arrive on a queue (so a test can wait for one)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.p = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout_s: float = 60.0) -> str:
        """The first stdout line starting with `prefix` (fails the test after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.p.poll() is not None and self.lines.empty():
                    break
                continue
            self.out.append(line)
            if line.startswith(prefix):
                return line
        self.p.kill()
        pytest.fail(f"no line starting {prefix!r}; got {self.out[-20:]}")

    def finish(self, timeout_s: float = 60.0) -> tuple[int, list[str], str]:
        """(exit code, every stdout line, stderr) once the process ends."""
        try:
            code = self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        self._reader.join(5)
        while not self.lines.empty():
            self.out.append(self.lines.get())
        assert self.p.stderr is not None
        return code, self.out, self.p.stderr.read()


def _solarb(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def test_sigterm_during_paper_leaves_a_readable_journal_a_summary_and_a_report(
    tmp_path: Path,
) -> None:
    journal, report = tmp_path / "journal", tmp_path / "report.md"
    proc = Proc(_solarb("paper", "--loopback", "--journal", str(journal), "--report", str(report)))
    proc.wait_for(PROGRESS)  # frames are flowing
    proc.p.send_signal(signal.SIGTERM)
    code, out, err = proc.finish()
    assert code == 143, err[-2000:]
    assert "Traceback" not in err
    assert "== solarb paper summary (interrupted)" in out
    assert report.read_text().startswith("# solarb report: paper session")
    s = summarize(journal, SETTINGS)
    assert s.frames_by_market[CEX] > 0  # the counters of every step reached the journal
    assert s.frames_by_market[DEX] >= 6  # pool + tick arrays
    health = read_table(journal, "health")
    assert health is not None
    assert "binance" in {h["source"] for h in health.to_pylist()}


def test_sigkill_during_paper_keeps_every_batch_written_before_the_kill(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    proc = Proc(
        _solarb("paper", "--loopback", "--journal", str(journal)),
        env={"SOLARB__ENGINE__JOURNAL_FLUSH_MS": "200"},
    )
    proc.wait_for(PROGRESS)
    proc.wait_for(PROGRESS)  # two progress lines: > 2 s of flushed batches
    proc.p.kill()
    proc.finish()
    run = run_dir(journal)
    assert run.parent == journal and run.name == (journal / LATEST).read_text().strip()
    assert not list(run.rglob("*.tmp"))  # parts appear atomically: none half-written
    health = read_table(journal, "health")
    assert health is not None
    assert "binance" in {h["source"] for h in health.to_pylist()}


def test_sigint_during_replay_still_writes_the_summary_and_the_report(tmp_path: Path) -> None:
    cap = tmp_path / "long.parquet"
    write_capture(cap, SimConfig(duration_s=1800))  # ~20k frames: several seconds of replay
    journal, report = tmp_path / "journal", tmp_path / "report.md"
    proc = Proc(
        _solarb(
            "--markets",
            str(SAMPLE_MARKETS),
            "replay",
            str(cap),
            "--journal",
            str(journal),
            "--report",
            str(report),
        )
    )
    proc.wait_for("solarb: replaying")
    time.sleep(1.0)
    proc.p.send_signal(signal.SIGINT)
    code, out, err = proc.finish()
    assert code == 130, err[-2000:]
    assert "Traceback" not in err
    assert "== solarb replay summary (interrupted)" in out
    assert report.read_text().startswith(f"# solarb report: {cap} (interrupted)")
    s = summarize(journal, SETTINGS)
    assert 0 < s.frames < 20_277  # stopped part way, and what was replayed is journaled


def _bytewax_run(tmp_path: Path, cap: Path, workers: int) -> None:
    env = dict(
        os.environ,
        SOLARB_CAPTURE=str(cap),
        SOLARB_MARKETS=str(SAMPLE_MARKETS),
        SOLARB_JOURNAL=str(tmp_path / "journal"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.replay", "-w", str(workers)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_bytewax_run_with_one_worker_after_two_does_not_double_count(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=30, jumps=((20, 70),)))
    _bytewax_run(tmp_path, cap, 2)
    _bytewax_run(tmp_path, cap, 1)
    journal = tmp_path / "journal"
    runs = sorted(p.name for p in journal.iterdir() if p.is_dir())
    assert len(runs) == 2  # each run in its own folder
    s = summarize(journal, SETTINGS)
    assert s.frames_by_market == {CEX: 301, DEX: 44}
    assert (s.signals, s.legs_filled) == (1, 2)
    for run in runs:  # and each folder holds exactly one run's rows
        assert summarize(journal / run, SETTINGS).frames_by_market == {CEX: 301, DEX: 44}


def test_sigterm_during_record_closes_a_readable_capture(tmp_path: Path) -> None:
    cap = tmp_path / "rec.parquet"
    proc = Proc(_solarb("record", "--loopback", "--duration", "60", "--out", str(cap)))
    proc.wait_for(f"solarb record: {CEX} ")  # a progress line: frames are flowing
    proc.p.send_signal(signal.SIGTERM)
    code, out, err = proc.finish()
    assert code == 143, err[-2000:]
    assert "== solarb record summary (interrupted)" in out
    frames = list(read_capture(cap))
    assert {f.source for f in frames} == {"binance", "orca"}


def test_a_replay_rerun_into_the_same_run_folder_writes_no_row_twice(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=30, jumps=((20, 70),)))
    settings = load_settings(None, SAMPLE_MARKETS, env={})
    journal = tmp_path / "journal"
    run_main(build_flow(settings, [cap], journal, run_id="same"))  # type: ignore[no-untyped-call]
    first = {name: read_table(journal, name) for name in set(TABLES.values())}
    # what Bytewax recovery does after a crash: the same run replays batches already journaled
    run_main(build_flow(settings, [cap], journal, run_id="same"))  # type: ignore[no-untyped-call]
    for name, table in first.items():
        again = read_table(journal, name)
        assert (None if again is None else again.num_rows) == (
            None if table is None else table.num_rows
        ), name
    assert sorted(p.name for p in journal.iterdir()) == [LATEST, "same"]


def test_sigterm_during_paper_start_up_still_ends_in_a_summary(tmp_path: Path) -> None:
    journal, report = tmp_path / "journal", tmp_path / "report.md"
    proc = Proc(
        _solarb("paper", "--loopback", "--journal", str(journal), "--report", str(report))
    )
    proc.wait_for("solarb: loopback venues")  # the feeds are not wired yet
    proc.p.send_signal(signal.SIGTERM)
    code, out, err = proc.finish()
    assert code == 143, err[-2000:]
    assert "== solarb paper summary (interrupted)" in out
    assert report.is_file()
