"""Record flow: live feeds ─► every RawFrame ─► a Parquet capture (replayable by flows.replay).

    CEX feeds + Solana account feed ─► frames ─► CaptureSink (connectors/capture_sink.py)
                                    └► health (dropped: a capture holds raw inputs only)

The Solana feed's tick-array watcher runs here too, so the capture holds the tick arrays a
replay's pool state will need. A capture is readable only once closed, so a recording is always
bounded. `python -m bytewax.run flows.record` runs it. Environment:
    SOLARB_CONFIG / SOLARB_MARKETS     config files
    SOLARB_RECORD_OUT                  capture path (default: out/capture.parquet)
    SOLARB_RECORD_SECONDS / SOLARB_RECORD_MAX_FRAMES   the bound (at least one is required)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.capture_sink import CaptureSink
from connectors.cex.transport import TransportConfig
from engine.live_inputs import Bounds, bounds_from_env, live_inputs
from flows.paper import LiveFlow
from operators.errors import ConfigError

DEFAULT_OUT = Path("out/capture.parquet")


def build_flow(
    settings: Settings,
    out: Path,
    *,
    bounds: Bounds,
    transport_config: TransportConfig | None = None,
    rpc_kwargs: dict[str, Any] | None = None,
) -> LiveFlow:
    """Record the live feeds of `settings` into the capture `out` until `bounds`."""
    if not bounds.bounded:
        raise ConfigError(
            "a recording needs a bound (max frames or seconds): "
            "a Parquet capture is readable only once the run ends"
        )
    flow = Dataflow("solarb_record")
    inp = live_inputs(
        flow, settings, bounds=bounds, transport_config=transport_config, rpc_kwargs=rpc_kwargs
    )
    op.output("capture", inp.raw, CaptureSink(out))
    return LiveFlow(flow, inp.handles)


def _from_env() -> Dataflow:
    out = Path(os.environ.get("SOLARB_RECORD_OUT") or DEFAULT_OUT)
    bounds = bounds_from_env(os.environ, "SOLARB_RECORD")
    return build_flow(load_settings(), out, bounds=bounds).flow


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
