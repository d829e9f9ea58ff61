"""Live flow: live market data ─► the shared graph ─► live execution ─► journal.

    live inputs ─► build_graph(live_exec=execution source) ─► LiveExecStep ─► orders
    orders ─► ExecutionSink ─► ExecutionGateway (CEX order transports, DEX sender)
    gateway ─► ExecutionSource (reports, orders/transactions rows, clock) ─► LiveExecStep
    every stage ─► journal

It trades: the risk guard's intents go to the venues through `connectors/execution.py`. With
`SOLARB_LIVE_SIGNALS_ONLY=1` (or `solarb live --signals-only`) it only journals the
opportunities, risk decisions and order intents it would act on and sends nothing. `solarb
live` runs the `solarb check --online` preflight first; `python -m bytewax.run flows.live`
does not (the gateway still refuses to start without keys, keypair or venue answers).
Environment:
    SOLARB_CONFIG / SOLARB_MARKETS     config files
    SOLARB_JOURNAL                     journal folder (default: engine.journal_dir); the run
                                       writes `<journal>/<run id>/`, `<journal>/latest` names it
    SOLARB_RUN_ID                      run id (default: a fresh one)
    SOLARB_LIVE_SIGNALS_ONLY           1/true/yes: journal signals and intents, send nothing
    SOLARB_LIVE_SECONDS / SOLARB_LIVE_MAX_FRAMES   optional bounds
    SOLARB_LIVE_RECORD                 record what the graph saw (frames, health, control and
                                       the venues' reports) to this capture (`--record`)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.cex.transport import TransportConfig
from connectors.execution import DEX_LEDGER, ExecutionGateway, ExecutionSink, ExecutionSource
from connectors.otel import run_scope
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
    live_exec = None
    gw: ExecutionGateway | None = None
    sink = journal_sink(settings, journal_dir, run_id, rotate_daily=True)
    if not signals_only:
        gw = gateway or ExecutionGateway(settings).start()
        gw.use_ledger(sink.run_path / DEX_LEDGER)  # a resumed run reads its predecessor's
        inp.handles.closers.append(gw.close)
        live_exec = op.input("execution", flow, ExecutionSource(gw, inp.handles.feeds_over))
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
    signals_only = signals_only_from_env(os.environ)
    settings = load_settings()
    journal = Path(os.environ.get("SOLARB_JOURNAL") or settings.engine.journal_dir)
    bounds = bounds_from_env(os.environ, "SOLARB_LIVE")
    run_id = os.environ.get("SOLARB_RUN_ID")
    return build_flow(
        settings,
        journal,
        signals_only=signals_only,
        bounds=bounds,
        run_id=run_id,
        record=record_path_from_env(os.environ, "live"),
    ).flow


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
