"""Replay flow: recorded Parquet frames ─► the shared graph ─► journal (paper fills).

`python -m bytewax.run flows.replay` runs it (environment: docs/architecture.md, "Running the
flows with `python -m bytewax.run`").

A capture of a `solarb paper/live --record` session replays through the graph that session
ran, in its recorded order (engine/recording.py, docs/capture-format.md).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.capture import validate_capture
from connectors.otel import TraceConfig, capture_scope
from engine.placement import bytewax_run_workers
from engine.recording import live_ids_of, replay_graph, session_of
from engine.router import replay_partitioning
from engine.sinks import journal_sink
from flows.tracing import attach_tracing
from operators.errors import ConfigError
from replay.source import ReplaySource


def build_flow(
    settings: Settings,
    captures: list[Path],
    journal_dir: Path,
    *,
    batch_size: int | None = None,
    partition: str = "all",
    run_id: str | None = None,
    stop: threading.Event | None = None,
    trace: TraceConfig | None = None,
    progress: bool = False,
    paper_fills: bool = False,
    snapshots: bool = True,
    workers: int = 1,
    speed: float | None = None,
) -> Dataflow:
    """Replay `captures` through the graph into run `run_id` of the journal at `journal_dir`.

    Every capture is validated first (FeedError naming the file), so a bad capture fails before
    the journal is touched. Setting `stop` ends the replay early with every sink closed.
    Traces go out when `trace` (default: `[telemetry]` + OTEL_* variables) is enabled.
    With `progress`, the source counts frames for a display: `replay.source.progress_of(flow)`.
    `paper_fills` replays a live session capture with paper fills instead of its recorded
    reports (calibration: other settings make other intents, the venues' answers no longer fit).
    `snapshots=False` when the flow will run without recovery (`solarb replay` without
    `--recovery-dir`, calibration, benchmarks): the steps then pickle nothing at epoch ends.
    `workers` (every process's workers together) places each pair's partition on the worker
    that runs the pair, with `partition="pair"` (engine/router.replay_partitioning).
    `speed` paces the frames at their recorded spacing / speed (replay/source.py).
    """
    for c in captures:
        validate_capture(c)
    session = session_of(captures, paper_fills=paper_fills)
    if session != "record":
        partition = "all"  # the recorded order across markets and events is what reproduces
    flow = Dataflow("solarb_replay")
    batch = batch_size or settings.engine.replay_batch_size
    parts = replay_partitioning(settings, captures, partition, workers)
    source = ReplaySource(
        captures,
        partition_of=parts.part_of,
        batch_size=batch,
        stop=stop,
        progress=progress,
        idle_parts=parts.idle,
        speed=speed,
    )
    # Batch 1 replays a live feed's timing (latency figures): DEX curves are prewarmed as live.
    # Larger batches are for throughput: curves are priced only when a candidate needs them.
    rows = op.input("capture", flow, source)
    live_ids = live_ids_of(captures)
    journal = replay_graph(
        flow, rows, settings, session, prewarm=batch == 1, live_ids=live_ids, snapshots=snapshots,
        pair_keys=parts.pair_keys,
    )
    op.output("journal", journal, journal_sink(settings, journal_dir, run_id))
    attach_tracing(journal, settings, capture_scope(captures), cfg=trace)
    return flow


def _from_env() -> Dataflow:
    env_capture = os.environ.get("SOLARB_CAPTURE", "")
    captures = [Path(p) for p in env_capture.split(",") if p]
    if not captures:
        raise ConfigError(
            "SOLARB_CAPTURE is not set: name the capture(s) to replay (`solarb sample` writes "
            "the bundled sample and prints its path; set SOLARB_MARKETS to its markets file)"
        )
    settings = load_settings()
    journal = Path(os.environ.get("SOLARB_JOURNAL") or settings.engine.journal_dir)
    # bytewax.run reads its arguments after building the flow: the flow reads the cluster's
    # size itself, to place each pair's partition on the worker that runs the pair
    workers = bytewax_run_workers(sys.argv[1:], os.environ) if _started_by_bytewax_run() else 1
    partition = os.environ.get("SOLARB_REPLAY_PARTITION") or ("pair" if workers > 1 else "all")
    return build_flow(
        settings,
        captures,
        journal,
        run_id=os.environ.get("SOLARB_RUN_ID"),
        partition=partition,
        workers=workers,
    )


def _started_by_bytewax_run() -> bool:
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(main_spec, "name", None) == "bytewax.run"


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
