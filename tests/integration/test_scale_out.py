"""Scale-out: pairs are keys, so several workers (threads or processes) share the pairs and the
journal holds the same rows as one worker's, only wall-clock latency stamps differ.

The two-pair sample puts SOL/USDC and ETH/USDC on different workers of two (the replay spreads
pairs over the workers by their number of markets, `engine.placement.balanced_workers`, and
runs each pair's steps under a key Bytewax places there), so these runs really split the pairs.
Each worker writes its own journal part files (`w<worker>-<part>`), so no worker overwrites
another's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from bytewax.testing import cluster_main, run_main

from cli.main import main as solarb
from config import load_settings
from connectors.journal import read_rows, run_dir
from flows.replay import build_flow
from sim.market import write_multi_pair_capture
from sim.simulate import SAMPLE_MARKETS_MULTI

ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}
TABLES = ("opportunities", "decisions", "intents", "fills", "health", "counters")
Journal = dict[str, list[tuple[tuple[str, Any], ...]]]

# ---- PINNED: what the first 240 s of the two-pair market-simulator sample give (re-pin here
# when fills or sizing change). ETH/USDC signals at 70 s, SOL/USDC at 187 s and 201 s.
PINNED_FRAMES = 5587
PINNED_SIGNALS = [
    ("ETH/USDC", "buy_cex_sell_dex"),
    ("ETH/USDC", "buy_cex_sell_dex"),
    ("SOL/USDC", "buy_cex_sell_dex"),
    ("SOL/USDC", "buy_dex_sell_cex"),
]
PINNED_ACCEPTED = 4
# a 2nd ETH/USDC signal came with exact sizing and live SOL gas (issue 15): 8 legs + unwinds
PINNED_FILLS = 11
# ---- end of PINNED


def sorted_rows(journal: Path) -> Journal:
    """Every table's rows (wall-clock columns dropped), sorted: worker order does not matter."""
    out: Journal = {}
    for name in TABLES:
        rows = read_rows(journal, name)
        out[name] = sorted(
            tuple(sorted((k, v) for k, v in r.items() if k not in WALL_CLOCK)) for r in rows
        )
    return out


def pairs_by_worker(journal: Path) -> dict[str, set[str]]:
    """Which pairs' opportunities each worker's part files hold."""
    out: dict[str, set[str]] = {}
    for f in sorted((run_dir(journal) / "opportunities").glob("*.parquet")):
        out.setdefault(f.name.split("-")[0], set()).update(pq.read_table(f)["pair"].to_pylist())
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "multi.parquet"
    # the two-pair sample's first 240 s: the shortest span in which both pairs signal
    assert write_multi_pair_capture(path, duration_s=240) == PINNED_FRAMES
    return path


@pytest.fixture(scope="module")
def one_worker(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Journal:
    journal = tmp_path_factory.mktemp("one") / "journal"
    run_main(
        build_flow(load_settings(markets_path=SAMPLE_MARKETS_MULTI, env={}), [capture], journal)
    )
    rows = sorted_rows(journal)
    signals = [dict(r) for r in rows["opportunities"] if dict(r)["update_seq"] == 0]
    # the property: both pairs trade, so each worker of two has work
    assert {s["pair"] for s in signals} == {"SOL/USDC", "ETH/USDC"}
    assert sorted((s["pair"], s["direction"]) for s in signals) == PINNED_SIGNALS
    assert [dict(d)["accepted"] for d in rows["decisions"]].count(True) == PINNED_ACCEPTED
    assert len(rows["fills"]) == PINNED_FILLS
    return rows


def _env(capture: Path, journal: Path) -> dict[str, str]:
    return dict(
        os.environ,
        SOLARB_CAPTURE=str(capture),
        SOLARB_MARKETS=str(SAMPLE_MARKETS_MULTI),
        SOLARB_JOURNAL=str(journal),
        # A journal that keeps one folder per run must put both processes in the same one.
        SOLARB_RUN_ID="scale-out",
    )


def test_solarb_replay_with_two_workers_journals_what_one_worker_does(
    capture: Path, one_worker: Journal, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    args = ["--markets", str(SAMPLE_MARKETS_MULTI), "replay", str(capture), "--workers", "2"]
    assert solarb([*args, "--journal", str(journal), "--report", str(tmp_path / "r.md")]) == 0
    assert sorted_rows(journal) == one_worker
    assert pairs_by_worker(journal) == {"w0": {"ETH/USDC"}, "w1": {"SOL/USDC"}}


def test_bytewax_run_with_two_workers_journals_what_one_worker_does(
    capture: Path, one_worker: Journal, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.replay", "-w", "2"],
        cwd=ROOT,
        env=_env(capture, journal),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted_rows(journal) == one_worker
    assert pairs_by_worker(journal) == {"w0": {"ETH/USDC"}, "w1": {"SOL/USDC"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_on_loopback_journal_what_one_worker_does(
    capture: Path, one_worker: Journal, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    addresses = ";".join(f"127.0.0.1:{_free_port()}" for _ in range(2))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.replay", "-i", str(i), "-a", addresses],
            cwd=ROOT,
            env=_env(capture, journal),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errors]
    assert sorted_rows(journal) == one_worker
    # process i runs worker i: each process wrote only its own pair's part files
    assert pairs_by_worker(journal) == {"w0": {"ETH/USDC"}, "w1": {"SOL/USDC"}}


def test_two_workers_with_a_recovery_dir_journal_what_one_worker_does_and_resume_to_it(
    capture: Path, one_worker: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, recovery = tmp_path / "journal", tmp_path / "recovery"
    args = ["--markets", str(SAMPLE_MARKETS_MULTI), "replay", str(capture), "--workers", "2"]
    args += ["--journal", str(journal), "--report", str(tmp_path / "r.md")]
    args += ["--recovery-dir", str(recovery), "--snapshot-interval", "0.5"]
    assert solarb(args) == 0
    held = sorted(p.name for p in recovery.iterdir())
    assert held == [
        "part-0.sqlite3", "part-1.sqlite3", "solarb-run-id", "solarb-state-version",
        "solarb-workers",
    ]  # fmt: skip
    assert sorted_rows(journal) == one_worker
    # A rerun resumes after the last frame: no decision again, and the end-of-run counters it
    # writes once more carry the restored counts, equal to the first ones.
    assert solarb(args) == 0
    again = sorted_rows(journal)
    assert {k: sorted(set(v)) for k, v in again.items()} == {
        k: sorted(set(v)) for k, v in one_worker.items()
    }
    assert again["decisions"] == one_worker["decisions"]
    # its partitions are placed for two workers: a resume with one is refused before it runs
    capsys.readouterr()
    assert solarb([*args[:4], "--workers", "1", *args[6:]]) != 0
    assert "ran with --workers 2, this one asks for 1" in capsys.readouterr().err


def _crossings(
    monkeypatch: pytest.MonkeyPatch, capture: Path, journal: Path, placed_for: int
) -> tuple[int, int, int]:
    """Run the two-pair replay on two worker threads, partitions placed for `placed_for`
    workers; count the frames the pair step got on another thread than the one that read them.
    Returns (frames crossed, frames read, worker threads that ran a pair)."""
    from engine.steps import PairStep
    from replay.source import _ReplayPartition

    reader: dict[str, int] = {}  # pair -> thread that read its partition
    read: Counter[str] = Counter()
    ran: Counter[tuple[str, int]] = Counter()  # (pair, thread) -> frames the pair step got
    lock = threading.Lock()
    next_batch, on_item = _ReplayPartition.next_batch, PairStep.on_item

    def reading(self: Any) -> Any:
        rows = next_batch(self)
        pair = self._part.split(".")[-1]  # placed names end with the pair: "000.001.ETH/USDC"
        with lock:
            reader[pair] = threading.get_ident()
            read[pair] += len(rows)
        return rows

    inside = threading.local()  # on_item calls itself once to prepend its start-up notes

    def running(self: Any, item: Any) -> Any:
        if getattr(inside, "on", False):
            return on_item(self, item)
        with lock:
            ran[(self.pair, threading.get_ident())] += 1
        inside.on = True
        try:
            return on_item(self, item)
        finally:
            inside.on = False

    monkeypatch.setattr(_ReplayPartition, "next_batch", reading)
    monkeypatch.setattr(PairStep, "on_item", running)
    settings = load_settings(markets_path=SAMPLE_MARKETS_MULTI, env={})
    flow = build_flow(settings, [capture], journal, partition="pair", workers=placed_for)
    cluster_main(flow, [], 0, worker_count_per_proc=2)  # type: ignore[no-untyped-call]
    crossed = sum(n for (pair, thread), n in ran.items() if thread != reader[pair])
    return crossed, sum(read.values()), len({thread for _pair, thread in ran})


def test_placed_partitions_keep_every_frame_on_the_worker_that_reads_it(
    capture: Path, one_worker: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crossed, frames, threads = _crossings(monkeypatch, capture, tmp_path / "journal", 2)
    assert (crossed, frames, threads) == (0, PINNED_FRAMES, 2)
    assert sorted_rows(tmp_path / "journal") == one_worker


def test_partitions_named_by_pair_alone_send_every_frame_across_workers(
    capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the control of the test above: the same replay with partitions named by pair alone, as
    # before placement (sorted names go round-robin, keys go by hash: here the two disagree)
    crossed, frames, threads = _crossings(monkeypatch, capture, tmp_path / "journal", 1)
    assert (crossed, frames, threads) == (PINNED_FRAMES, PINNED_FRAMES, 2)
