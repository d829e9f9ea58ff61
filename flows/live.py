"""Live flow: live market data ─► the shared graph ─► live execution ─► journal.

    live inputs ─► build_graph(live_exec=execution source) ─► LiveExecStep ─► orders
    orders ─► ExecutionSink ─► ExecutionGateway (CEX order transports, DEX sender)
    gateway ─► ExecutionSource (reports, orders/transactions rows, clock) ─► LiveExecStep
    every stage ─► journal

Signals only (`--signals-only`, SOLARB_LIVE_SIGNALS_ONLY=1) journals what it would do and sends
nothing. `python -m bytewax.run flows.live` runs it (environment: docs/architecture.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.cex.transport import TransportConfig
from connectors.execution import ExecutionGateway, ExecutionSink
from connectors.otel import run_scope
from engine.exec_step import execution_input
from engine.graph import build_graph
from engine.live_inputs import UNBOUNDED, Bounds, bounds_from_env, live_inputs
from engine.recording import record_path_from_env, record_session
from engine.sinks import journal_sink
from flows.paper import LiveFlow
from flows.tracing import attach_tracing


def build_flow(
    settings: Settings,
    journal_dir: Path,
    *,
    signals_only: bool,
    bounds: Bounds = UNBOUNDED,
    transport_config: TransportConfig | None = None,
    rpc_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
    control_signal: bool = False,
    gateway: ExecutionGateway | None = None,
    record: Path | None = None,
) -> LiveFlow:
    """Live feeds through the graph into a journal, trading through `gateway` (started from
    the config's keys when None) unless `signals_only`; with `record`, what the graph saw
    (and the venues' reports) goes to that capture too (engine/recording.py)."""
    flow = Dataflow("solarb_live_signals" if signals_only else "solarb_live")
    inp = live_inputs(
        flow,
        settings,
        bounds=bounds,
        transport_config=transport_config,
        rpc_kwargs=rpc_kwargs,
        control=True,  # `solarb kill` / `arm` (connectors/control.py)
        control_signal=control_signal,
    )
    live_exec, gw = None, None
    sink = journal_sink(settings, journal_dir, run_id, rotate_daily=True)
    if not signals_only:
        live_exec, gw = execution_input(flow, settings, inp, sink.run_path, gateway)
    if record is not None:
        record_session(inp, record, "live-signals" if signals_only else "live", live_exec)
    out = build_graph(
        flow, inp.raw, settings, health=inp.guard_health, paper=False, live_exec=live_exec
    )
    if out.orders is not None and gw is not None:
        op.output("execution_orders", out.orders, ExecutionSink(gw))
    journal = op.merge("journal_and_feed_health", out.journal, inp.health)
    op.output("journal", journal, sink)
    attach_tracing(journal, settings, run_scope(sink.run_id))
    return LiveFlow(flow, inp.handles)


def signals_only_from_env(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether SOLARB_LIVE_SIGNALS_ONLY explicitly asks for signals only (1/true/yes)."""
    return env.get("SOLARB_LIVE_SIGNALS_ONLY", "").strip().lower() in ("1", "true", "yes")


def _from_env() -> Dataflow:
    env, settings = os.environ, load_settings()
    return build_flow(
        settings,
        Path(env.get("SOLARB_JOURNAL") or settings.engine.journal_dir),
        signals_only=signals_only_from_env(env),
        bounds=bounds_from_env(env, "SOLARB_LIVE"),
        run_id=env.get("SOLARB_RUN_ID"),
        record=record_path_from_env(env, "live"),
    ).flow


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
