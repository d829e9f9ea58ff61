"""Tracing overhead: tick -> opportunity latency and replay throughput, tracing off vs on.

The same simulated capture is replayed with tracing off and with traces exported over OTLP/gRPC
to a local receiver (sim/otlp_receiver.py, in a process of its own so its decoding does not
compete with the graph), alternating off/on so drift in the machine hits both alike. Latency is
`ts_detect_wall_ns - ts_ingest_ns` of every opportunity at batch 1 (the live setting);
throughput is frames/s at the replay batch size. Target: tracing on costs <= 10 % of the tick ->
opportunity p50.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bytewax.testing import run_main

from config import Settings, load_settings
from connectors.journal import read_table
from connectors.otel import GRPC, TraceConfig, trace_config
from flows.replay import build_flow
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

ROUNDS = 5
"""Off/on pairs in the full run (each pair: one batch-1 replay of each mode)."""


def _latencies_us(settings: Settings, cap: Path, journal: Path, trace: TraceConfig) -> list[float]:
    run_main(build_flow(settings, [cap], journal, batch_size=1, trace=trace))
    opps = read_table(journal, "opportunities")
    if opps is None:
        return []
    rows = opps.select(["ts_ingest_ns", "ts_detect_wall_ns"]).to_pylist()
    return [(r["ts_detect_wall_ns"] - r["ts_ingest_ns"]) / 1e3 for r in rows]


def _fps(settings: Settings, cap: Path, journal: Path, trace: TraceConfig, n: int) -> float:
    flow = build_flow(settings, [cap], journal, batch_size=1000, trace=trace)
    t0 = time.perf_counter()
    run_main(flow)
    return n / (time.perf_counter() - t0)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """p50/p99 tick -> opportunity and frames/s with tracing off and on, and the overheads."""
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    off = trace_config(settings.telemetry, {})
    receiver = subprocess.Popen(
        [sys.executable, "-m", "sim.otlp_receiver", GRPC],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdin is not None and receiver.stdout is not None
    spans = "?"
    lat: dict[str, list[float]] = {"off": [], "on": []}
    fps: dict[str, list[float]] = {"off": [], "on": []}
    try:
        on = trace_config(
            settings.telemetry,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.stdout.readline().strip(),
                "OTEL_EXPORTER_OTLP_PROTOCOL": GRPC,
            },
        )
        with tempfile.TemporaryDirectory() as tmp:
            cap = Path(tmp) / "bench.parquet"
            n = write_capture(cap, SimConfig(duration_s=60 if quick else 900, seed=11))
            # warm-up (imports, JIT-compiled math, first exporter connection), not measured
            _fps(settings, cap, Path(tmp) / "warm", on, n)
            for k in range(1 if quick else ROUNDS):
                for mode, cfg in (("off", off), ("on", on)):
                    folder = Path(tmp) / f"{mode}{k}"
                    lat[mode] += _latencies_us(settings, cap, folder / "lat", cfg)
                    fps[mode].append(_fps(settings, cap, folder / "fps", cfg, n))
        receiver.stdin.close()  # the receiver prints its span count and exits
        spans = receiver.stdout.readline().strip()
    finally:
        if not receiver.stdin.closed:
            receiver.stdin.close()
        receiver.wait(10)
    p50 = {m: float(np.percentile(v, 50)) if v else 0.0 for m, v in lat.items()}
    p99 = {m: float(np.percentile(v, 99)) if v else 0.0 for m, v in lat.items()}
    rate = {m: float(np.median(v)) for m, v in fps.items()}
    over_p50 = (p50["on"] / p50["off"] - 1) * 100 if p50["off"] else 0.0
    over_fps = (1 - rate["on"] / rate["off"]) * 100 if rate["off"] else 0.0
    print(
        f"   tick->opp p50  off {p50['off']:8.1f} us | on {p50['on']:8.1f} us "
        f"({over_p50:+.1f} %)\n"
        f"   tick->opp p99  off {p99['off']:8.1f} us | on {p99['on']:8.1f} us\n"
        f"   frames/s       off {rate['off']:8,.0f}    | on {rate['on']:8,.0f}     "
        f"({-over_fps:+.1f} %)\n"
        f"   {len(lat['on'])} traced opportunities, {spans} spans received",
        flush=True,
    )
    note = f"{len(lat['off'])} / {len(lat['on'])} opportunity timings off / on, batch 1"
    out: list[dict[str, Any]] = []
    for mode in ("off", "on"):
        out += [
            dict(
                name=f"tracing.tick_to_opp_p50_us_{mode}",
                value=p50[mode],
                unit="us",
                better="lower",
                target="(on vs off)",
                note=note,
            ),
            dict(
                name=f"tracing.tick_to_opp_p99_us_{mode}",
                value=p99[mode],
                unit="us",
                better="lower",
                target="(on vs off)",
                note=note,
            ),
            dict(
                name=f"tracing.replay_frames_per_s_{mode}",
                value=rate[mode],
                unit="frames/s",
                better="higher",
                target="(on vs off)",
                note="batch 1000, median of the rounds",
            ),
        ]
    out += [
        dict(
            name="tracing.tick_to_opp_p50_overhead_pct",
            value=over_p50,
            unit="%",
            better="lower",
            target="<= 10 %",
            note="tracing on (OTLP/gRPC to a loopback receiver) vs off",
        ),
        dict(
            name="tracing.replay_throughput_overhead_pct",
            value=over_fps,
            unit="%",
            better="lower",
            target="<= 10 %",
            note="frames/s lost with tracing on",
        ),
    ]
    return out
