"""Paper flow: live market data ─► the shared graph ─► paper fills ─► journal.

    CEX feeds + Solana account feed ─► frames ─► build_graph(paper=True) ─► journal
                                    └► health ─► risk guard (inside the graph)

Nothing is sent to any venue: the paper venue fills intents against the live views after the
configured latency. `python -m bytewax.run flows.paper` runs it (environment:
docs/architecture.md, "Running the flows with `python -m bytewax.run`").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.cex.transport import TransportConfig
from connectors.otel import run_scope
from engine.graph import build_graph
from engine.live_inputs import UNBOUNDED, Bounds, LiveHandles, bounds_from_env, live_inputs
from engine.recording import record_path_from_env, record_session
from engine.sinks import journal_sink
from flows.tracing import attach_tracing


@dataclass(frozen=True)
class LiveFlow:
    """A live-input dataflow and the handles to stop its feeds (`handles.close()`)."""

    flow: Dataflow
    handles: LiveHandles


def build_flow(
    settings: Settings,
    journal_dir: Path,
    *,
    bounds: Bounds = UNBOUNDED,
    transport_config: TransportConfig | None = None,
    rpc_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
    control_signal: bool = False,
    record: Path | None = None,
) -> LiveFlow:
    """Live feeds of `settings` through the graph with paper fills into `journal_dir`;
    with `record`, what the graph saw goes to that capture too (engine/recording.py)."""
    flow = Dataflow("solarb_paper")
    inp = live_inputs(
        flow,
        settings,
        bounds=bounds,
        transport_config=transport_config,
        rpc_kwargs=rpc_kwargs,
        control=True,  # `solarb kill` / `arm` (connectors/control.py)
        control_signal=control_signal,
    )
    if record is not None:
        record_session(inp, record, "paper")
    out = build_graph(flow, inp.raw, settings, health=inp.guard_health, paper=True)
    journal = op.merge("journal_and_feed_health", out.journal, inp.health)
    sink = journal_sink(settings, journal_dir, run_id, rotate_daily=True)
    op.output("journal", journal, sink)
    attach_tracing(journal, settings, run_scope(sink.run_id))
    return LiveFlow(flow, inp.handles)


def _from_env() -> Dataflow:
    settings = load_settings()
    journal = Path(os.environ.get("SOLARB_JOURNAL") or settings.engine.journal_dir)
    bounds = bounds_from_env(os.environ, "SOLARB_PAPER")
    return build_flow(
        settings,
        journal,
        bounds=bounds,
        run_id=os.environ.get("SOLARB_RUN_ID"),
        record=record_path_from_env(os.environ, "paper"),
    ).flow


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
