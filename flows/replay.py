"""Replay flow: recorded Parquet frames ─► the shared graph ─► journal (paper fills).

`python -m bytewax.run flows.replay` runs it. Environment:
    SOLARB_CAPTURE   capture file(s), comma-separated (required; `solarb sample` writes the
                     bundled sample session and prints its path and markets file)
    SOLARB_CONFIG / SOLARB_MARKETS   config files (default: config/default.toml, markets.toml)
    SOLARB_JOURNAL   journal folder (default: engine.journal_dir)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from config import Settings, load_settings
from connectors.journal import JournalSink
from engine.graph import build_graph
from operators.errors import ConfigError
from replay.source import ReplaySource


def build_flow(
    settings: Settings,
    captures: list[Path],
    journal_dir: Path,
    *,
    batch_size: int | None = None,
    partition: str = "all",
) -> Dataflow:
    """Replay `captures` through the graph into a journal at `journal_dir`."""
    flow = Dataflow("solarb_replay")
    source = ReplaySource(
        captures,
        partition_of=(lambda _s: "all") if partition == "all" else None,
        batch_size=batch_size or settings.engine.replay_batch_size,
    )
    raw = op.input("capture", flow, source)
    out = build_graph(flow, raw, settings)
    op.output("journal", out.journal, JournalSink(journal_dir))
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
    return build_flow(settings, captures, journal)


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
