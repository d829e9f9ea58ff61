"""Whole-graph figures: (a) frames/s through the replay graph, (b) tick -> opportunity latency
inside Bytewax, (c) the bare Bytewax source -> stateful -> sink floor, measured in the same run.

(a) replays a simulated capture (same generator as the sample session, longer) with the replay
batch size; (b) replays it again with one frame per batch (the live setting: lowest latency),
three times in the full run, and reads `ts_detect_wall_ns - ts_ingest_ns` of every opportunity
from the journals; (c) pushes the
same number of items through `input -> key_on -> stateful_map -> output` at both batch sizes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from config import load_settings
from connectors.journal import read_table
from flows.replay import build_flow
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

LATENCY_REPLAYS = 3
"""Batch-1 replays pooled for the tick -> opportunity percentiles (full run)."""


class _CountPart(StatefulSourcePartition[int, int]):
    def __init__(self, n: int, batch: int) -> None:
        self.i, self.n, self.batch = 0, n, batch

    def next_batch(self) -> list[int]:
        if self.i >= self.n:
            raise StopIteration
        k = min(self.batch, self.n - self.i)
        self.i += k
        now = time.perf_counter_ns()
        return [now] * k

    def snapshot(self) -> int:
        return self.i


class _CountSource(FixedPartitionedSource[int, int]):
    def __init__(self, n: int, batch: int) -> None:
        self.n, self.batch = n, batch

    def list_parts(self) -> list[str]:
        return ["one"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _CountPart:
        return _CountPart(self.n, self.batch)


class _LatPart(StatelessSinkPartition[Any]):
    def __init__(self, out: list[int]) -> None:
        self.out = out

    def write_batch(self, items: list[Any]) -> None:
        now = time.perf_counter_ns()
        self.out.extend(now - stamp for _k, stamp in items)


class _LatSink(DynamicSink[Any]):
    def __init__(self, out: list[int]) -> None:
        self.out = out

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LatPart:
        return _LatPart(self.out)


def bare_floor(n: int, batch: int) -> tuple[float, float, float]:
    """items/s, p50 and p99 us per item through source -> stateful_map -> sink."""
    lat: list[int] = []
    flow = Dataflow("bare")
    s = op.input("in", flow, _CountSource(n, batch))
    k = op.key_on("k", s, lambda _x: "k")
    m = op.stateful_map("sm", k, lambda st, x: ((st or 0) + 1, x))
    op.output("out", m, _LatSink(lat))
    t0 = time.perf_counter()
    run_main(flow)
    wall = time.perf_counter() - t0
    arr = np.array(lat) / 1e3
    return n / wall, float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The three figures and their ratio."""
    settings = load_settings(markets_path=SAMPLE_MARKETS)
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "bench.parquet"
        n_frames = write_capture(cap, SimConfig(duration_s=60 if quick else 900, seed=11))
        # built outside the timing: building now validates the whole capture first
        flow = build_flow(settings, [cap], Path(tmp) / "j1", batch_size=1000)
        t0 = time.perf_counter()
        run_main(flow)
        wall = time.perf_counter() - t0
        fps = n_frames / wall
        # The capture holds few opportunities (~14 in the full run): replaying it at batch 1
        # several times pools more timings of the same ticks, steadier percentiles.
        lat = []
        replays = 1 if quick else LATENCY_REPLAYS
        for k in range(replays):
            journal = Path(tmp) / f"j2_{k}"
            run_main(build_flow(settings, [cap], journal, batch_size=1))
            opps = read_table(journal, "opportunities")
            if opps is not None:
                rows = opps.select(["ts_ingest_ns", "ts_detect_wall_ns"]).to_pylist()
                lat += [(r["ts_detect_wall_ns"] - r["ts_ingest_ns"]) / 1e3 for r in rows]
    floor_fps, _, _ = bare_floor(n_frames, 1000)
    floor1_fps, floor1_p50, floor1_p99 = bare_floor(min(n_frames, 20_000), 1)
    note = f"{n_frames} simulated frames (Binance depth + Orca accounts)"
    out.append(
        dict(
            name="graph.replay_frames_per_s",
            value=fps,
            unit="frames/s",
            better="higher",
            target=">= 100k frames/s per worker",
            note=note,
        )
    )
    out.append(
        dict(
            name="floor.bare_items_per_s_batch1000",
            value=floor_fps,
            unit="items/s",
            better="higher",
            target="(floor)",
            note="source->stateful_map->sink",
        )
    )
    out.append(
        dict(
            name="graph.over_floor_ratio",
            value=fps / floor_fps,
            unit="x",
            better="higher",
            target="(ratio)",
            note="replay graph frames/s / bare floor items/s, batch 1000",
        )
    )
    if lat:
        a = np.array(lat)
        out.append(
            dict(
                name="graph.tick_to_opp_p50_us",
                value=float(np.percentile(a, 50)),
                unit="us",
                better="lower",
                target="<= 150 us",
                note=f"{len(a)} opportunity timings ({replays} replays), batch 1",
            )
        )
        out.append(
            dict(
                name="graph.tick_to_opp_p99_us",
                value=float(np.percentile(a, 99)),
                unit="us",
                better="lower",
                target="<= 1000 us",
                note=f"{len(a)} opportunity timings ({replays} replays), batch 1",
            )
        )
    out.append(
        dict(
            name="floor.bare_p50_us_batch1",
            value=floor1_p50,
            unit="us",
            better="lower",
            target="(floor)",
            note=f"{floor1_fps:,.0f} items/s at batch 1",
        )
    )
    out.append(
        dict(
            name="floor.bare_p99_us_batch1",
            value=floor1_p99,
            unit="us",
            better="lower",
            target="(floor)",
            note="",
        )
    )
    return out
