"""Scale-out: the multi-pair replay on one worker, two worker threads, and two processes.

The same two-pair capture (SOL/USDC and ETH/USDC, `sim.market.write_multi_pair_capture`,
longer than the bundled sample) is replayed through the whole graph at the replay batch size:
- one worker (`run_main`);
- two worker threads in one process (`bytewax.testing.cluster_main` via `solarb`'s runner);
- two processes on loopback (`python -m bytewax.run flows.replay -i 0|1 -a ...`), wall time of
  the slower process, start-up included for both sides of the comparison.
Several workers replay with one partition per pair (`SOLARB_REPLAY_PARTITION=pair`), so each
reads and decodes only its own pair's frames.
Pairs are the keys, so each worker owns one pair. Threads share the GIL, so the thread figure
shows Bytewax's exchange cost rather than parallelism; processes are the scale-out that counts.
The target (issue 16): two workers >= 1.7x one worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bytewax.testing import run_main

from cli.runner import RunOptions, run_flow
from config import load_settings
from flows.replay import build_flow
from sim.market import write_multi_pair_capture
from sim.simulate import SAMPLE_MARKETS_MULTI

ROOT = Path(__file__).resolve().parents[1]


def _row(name: str, value: float, unit: str, target: str, note: str) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target,
            "better": "higher", "note": note}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one(cap: Path, journal: Path, workers: int) -> float:
    settings = load_settings(markets_path=SAMPLE_MARKETS_MULTI, env={})
    partition = "pair" if workers > 1 else "all"
    flow = build_flow(settings, [cap], journal, batch_size=1000, partition=partition)
    t0 = time.perf_counter()
    if workers == 1:
        run_main(flow)  # type: ignore[no-untyped-call]
    else:
        run_flow(flow, RunOptions(workers=workers))
    return time.perf_counter() - t0


def _env(cap: Path, journal: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SOLARB_CAPTURE": str(cap),
        "SOLARB_MARKETS": str(SAMPLE_MARKETS_MULTI),
        "SOLARB_JOURNAL": str(journal),
        "SOLARB_RUN_ID": "bench",
        "SOLARB__ENGINE__REPLAY_BATCH_SIZE": "1000",
        "SOLARB_REPLAY_PARTITION": "pair",
    }


def _processes(cap: Path, journal: Path) -> float:
    addresses = ";".join(f"127.0.0.1:{_free_port()}" for _ in range(2))
    env = _env(cap, journal)
    cmd = [sys.executable, "-m", "bytewax.run", "flows.replay", "-a", addresses]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cmd, "-i", str(i)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise RuntimeError(f"bytewax.run failed: {[e[-500:] for e in errors]}")
    return wall


def _one_process(cap: Path, journal: Path) -> float:
    env = _env(cap, journal)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bytewax.run", "flows.replay"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL, timeout=600)  # fmt: skip
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Frames/s of the two-pair replay on 1 worker, 2 threads and 2 processes, and the ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cap = d / "multi.parquet"
        n = write_multi_pair_capture(cap, duration_s=120 if quick else 900)
        one = _one(cap, d / "j1", 1)
        two_threads = _one(cap, d / "j2", 2)
        one_proc = _one_process(cap, d / "j3")
        two_procs = _processes(cap, d / "j4")
    scope = f"{n} frames, 2 pairs, batch 1000"
    return [
        _row("scale_one_worker_frames_per_s", n / one, "frames/s", "reference", scope),
        _row("scale_two_threads_frames_per_s", n / two_threads, "frames/s", "reference",
             f"cluster_main, 2 worker threads, one process (GIL-bound); {scope}"),
        _row("scale_two_threads_over_one", one / two_threads, "x", ">= 1.7 x", scope),
        _row("scale_one_process_frames_per_s", n / one_proc, "frames/s", "reference",
             f"python -m bytewax.run, start-up included; {scope}"),
        _row("scale_two_processes_frames_per_s", n / two_procs, "frames/s", "reference",
             f"2 x python -m bytewax.run -i/-a on loopback, start-up included; {scope}"),
        _row("scale_two_processes_over_one", one_proc / two_procs, "x", ">= 1.7 x",
             f"both sides include process start-up; {scope}"),
    ]  # fmt: skip


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(f"{r['name']:40s} {r['value']:>12.2f} {r['unit']:9s} {r['target']}")
