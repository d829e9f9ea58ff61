"""Live flow: live market data ─► the shared graph ─► journal, and NO order execution.

Live order execution (signed CEX orders, Solana swap transactions, hedges) is not built in this
codebase. This flow therefore refuses to start unless it is told to run *signals only*:
`SOLARB_LIVE_SIGNALS_ONLY=1` (or `solarb live --signals-only`). In that mode it journals the
opportunities, risk decisions and order intents it would act on, and sends nothing anywhere;
for simulated fills use the paper flow. `python -m bytewax.run flows.live` runs it. Environment:
    SOLARB_CONFIG / SOLARB_MARKETS     config files
    SOLARB_JOURNAL                     journal folder (default: engine.journal_dir); the run
                                       writes `<journal>/<run id>/`, `<journal>/latest` names it
    SOLARB_RUN_ID                      run id (default: a fresh one)
    SOLARB_LIVE_SIGNALS_ONLY           must be 1/true/yes; anything else refuses to start
    SOLARB_LIVE_SECONDS / SOLARB_LIVE_MAX_FRAMES   optional bounds
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.cex.transport import TransportConfig
from connectors.otel import run_scope
from engine.graph import build_graph
from engine.live_inputs import UNBOUNDED, Bounds, bounds_from_env, live_inputs
from engine.sinks import journal_sink
from flows.paper import LiveFlow
from flows.tracing import attach_tracing
from operators.errors import ExecutionError

REFUSAL = (
    "live order execution is not built in this version of solarb: no CEX order or Solana "
    "transaction can be sent. Run `solarb paper` for simulated fills, or `solarb live "
    "--signals-only` (SOLARB_LIVE_SIGNALS_ONLY=1) to journal live signals and intents "
    "without sending anything."
)


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
) -> LiveFlow:
    """Live feeds through the graph into a journal; raise ExecutionError unless signals_only."""
    if not signals_only:
        raise ExecutionError(REFUSAL, retryable=False)
    flow = Dataflow("solarb_live_signals")
    inp = live_inputs(
        flow,
        settings,
        bounds=bounds,
        transport_config=transport_config,
        rpc_kwargs=rpc_kwargs,
        control=True,  # `solarb kill` / `arm` (connectors/control.py)
        control_signal=control_signal,
    )
    out = build_graph(flow, inp.raw, settings, health=inp.guard_health, paper=False)
    journal = op.merge("journal_and_feed_health", out.journal, inp.health)
    sink = journal_sink(settings, journal_dir, run_id, rotate_daily=True)
    op.output("journal", journal, sink)
    attach_tracing(journal, settings, run_scope(sink.run_id))
    return LiveFlow(flow, inp.handles)


def signals_only_from_env(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether SOLARB_LIVE_SIGNALS_ONLY explicitly asks for signals only (1/true/yes)."""
    return env.get("SOLARB_LIVE_SIGNALS_ONLY", "").strip().lower() in ("1", "true", "yes")


def _from_env() -> Dataflow:
    signals_only = signals_only_from_env(os.environ)
    if not signals_only:
        raise ExecutionError(REFUSAL, retryable=False)  # before touching config or sockets
    settings = load_settings()
    journal = Path(os.environ.get("SOLARB_JOURNAL") or settings.engine.journal_dir)
    bounds = bounds_from_env(os.environ, "SOLARB_LIVE")
    run_id = os.environ.get("SOLARB_RUN_ID")
    return build_flow(settings, journal, signals_only=True, bounds=bounds, run_id=run_id).flow


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
