"""Replay flow: recorded Parquet frames ─► the shared graph ─► journal (paper fills).

`python -m bytewax.run flows.replay` runs it. Environment:
    SOLARB_CAPTURE   capture file(s), comma-separated (default: the bundled sample session,
                     generated on first use by `replay.simulate`)
    SOLARB_CONFIG / SOLARB_MARKETS   config files (default: config/default.toml and, for the
                     sample, replay/sample/markets.toml)
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
from connectors.replay_source import ReplaySource
from flows.graph import build_graph


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
    from replay.simulate import SAMPLE_MARKETS, ensure_sample

    env_capture = os.environ.get("SOLARB_CAPTURE")
    if env_capture:
        captures = [Path(p) for p in env_capture.split(",") if p]
        settings = load_settings()
    else:
        captures = [ensure_sample()]
        settings = load_settings(markets_path=os.environ.get("SOLARB_MARKETS") or SAMPLE_MARKETS)
    journal = Path(os.environ.get("SOLARB_JOURNAL") or settings.engine.journal_dir)
    return build_flow(settings, captures, journal)


def __getattr__(name: str) -> Any:
    # `bytewax.run` looks up `flow`; build it only then so importing this module is cheap.
    if name == "flow":
        return _from_env()
    raise AttributeError(name)
