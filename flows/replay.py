"""Replay flow: recorded Parquet frames ─► the shared graph ─► journal (paper fills).

`python -m bytewax.run flows.replay` runs it. Environment:
    SOLARB_CAPTURE   capture file(s), comma-separated (required; `solarb sample` writes the
                     bundled sample session and prints its path and markets file)
    SOLARB_CONFIG / SOLARB_MARKETS   config files (default: config/default.toml, markets.toml)
    SOLARB_JOURNAL   journal folder (default: engine.journal_dir); the run writes into
                     `<journal>/<run id>/` and points `<journal>/latest` at it
    SOLARB_REPLAY_PARTITION   `all` (default: one partition), `pair` (one per pair: pairs
                     spread over workers and processes, `-w N` / `-i/-a`) or `stream`
    SOLARB_RUN_ID    run id (default: a fresh one); give the same id to resume a run with
                     Bytewax recovery (the journal skips rows it already holds)

A capture written by `solarb paper/live --record` (capture v2, engine/recording.py) also holds
the health / control events and, from live trading, the venues' reports: the replay feeds them
to the graph the session ran (paper fills, live legs on the recorded reports, or signals only)
from one partition in the recorded order, so opportunities, decisions and intents come out row
for row as the session journaled them (wall-clock columns aside).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.capture import capture_session, validate_capture
from connectors.otel import TraceConfig, capture_scope
from engine.graph import build_graph
from engine.recording import recorded_inputs
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
) -> Dataflow:
    """Replay `captures` through the graph into run `run_id` of the journal at `journal_dir`.

    Every capture is validated first (FeedError naming the file), so a bad capture fails before
    the journal is touched. Setting `stop` ends the replay early with every sink closed.
    Traces go out when `trace` (default: `[telemetry]` + OTEL_* variables) is enabled.
    With `progress`, the source counts frames for a display: `replay.source.progress_of(flow)`.
    `paper_fills` replays a live session capture with paper fills instead of its recorded
    reports (calibration: other settings make other intents, the venues' answers no longer fit).
    """
    for c in captures:
        validate_capture(c)
    session = _session(captures)
    if paper_fills and session.startswith("live"):
        session = "paper"
    if session != "record":
        partition = "all"  # the recorded order across markets and events is what reproduces
    flow = Dataflow("solarb_replay")
    batch = batch_size or settings.engine.replay_batch_size
    source = ReplaySource(
        captures,
        partition_of=replay_partitioning(settings, captures, partition),
        batch_size=batch,
        stop=stop,
        progress=progress,
    )
    raw = op.input("capture", flow, source)
    # Batch 1 replays a live feed's timing (latency figures): DEX curves are prewarmed as live.
    # Larger batches are for throughput: curves are priced only when a candidate needs them.
    prewarm = batch == 1
    if session == "record":
        out = build_graph(flow, raw, settings, prewarm_dex_curves=prewarm)
        journal = out.journal
    else:
        rec = recorded_inputs(raw, session)
        out = build_graph(
            flow,
            rec.raw,
            settings,
            health=rec.guard_health,
            paper=session == "paper",
            prewarm_dex_curves=prewarm,
            live_exec=rec.live_exec,
        )
        journal = op.merge("journal_and_feed_health", out.journal, rec.health)
    op.output("journal", journal, journal_sink(settings, journal_dir, run_id))
    attach_tracing(journal, settings, capture_scope(captures), cfg=trace)
    return flow


def _session(captures: list[Path]) -> str:
    """What wrote the captures; a session capture replays alone (ConfigError otherwise)."""
    sessions = {capture_session(c) for c in captures}
    if sessions == {"record"}:
        return "record"
    if len(captures) != 1:
        raise ConfigError(
            f"a capture of a paper / live session replays alone (got {len(captures)} captures, "
            f"sessions {sorted(sessions)})"
        )
    return sessions.pop()


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
    partition = os.environ.get("SOLARB_REPLAY_PARTITION") or "all"
    return build_flow(
        settings, captures, journal, run_id=os.environ.get("SOLARB_RUN_ID"), partition=partition
    )


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
