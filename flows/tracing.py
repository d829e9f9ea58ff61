"""Optional trace export beside the journal: the journal's records ─► TracingSink ─► OTLP.

A second sink on the stream the journal already receives, so the hot path is untouched and the
journal is the same with tracing on or off. Off unless `[telemetry] enabled` or the OTEL_*
variables turn it on (connectors/otel.py, docs/observability.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream

from config import Settings
from connectors.otel import TraceConfig, TracingSink, trace_config


def attach_tracing(
    records: Stream[Any],
    settings: Settings,
    scope: str,
    env: Mapping[str, str] | None = None,
    cfg: TraceConfig | None = None,
) -> TraceConfig:
    """Add the `traces` output on `records` when tracing is enabled; return the config used."""
    cfg = cfg or trace_config(settings.telemetry, os.environ if env is None else env)
    if cfg.enabled:
        op.output("traces", records, TracingSink(cfg, scope))
    return cfg
