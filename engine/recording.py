"""`--record`: what a paper / live session's graph saw, into a capture; and back out in replay.

    live inputs (frames + health/control, one merged stream) ─┐
    execution source (reports, clock; live trading only) ─────┴► capture rows ─► CaptureSink

    capture ─► ReplaySource ─► frames ─────────────────► build_graph(raw)
                           ├─► health rows ─► events ──► build_graph(health=...)  (and journal)
                           └─► exec rows ─► (pair, report | clock) ─► build_graph(live_exec=...)

The live inputs are tapped after their merge, so the rows are in the order the graph received
them; health / exec rows are capture v2 kinds (connectors/capture_events.py). A replay of a
`paper` capture is the paper graph on the same inputs; of a `live` capture, the live graph with
the recorded reports in place of the venues (its orders go nowhere; the gateway's recorded
orders / transactions / health rows go to the journal as live); of `live-signals`, the
signals-only graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream

from config import Settings
from connectors.capture import FRAME_KINDS, capture_session
from connectors.capture_events import (
    decode_exec,
    decode_health,
    exec_row,
    health_row,
    recordable,
)
from connectors.capture_sink import CaptureSink
from connectors.control import is_tick
from engine.graph import build_graph
from engine.live_inputs import LiveInputs
from operators.errors import ConfigError
from operators.events import HealthEvent, RawFrame

SESSION_ENV = {"paper": "SOLARB_PAPER_RECORD", "live": "SOLARB_LIVE_RECORD"}
"""The environment variable naming the capture of `bytewax.run flows.paper` / `flows.live`."""


def _row(item: RawFrame | HealthEvent) -> RawFrame:
    return item if isinstance(item, RawFrame) else health_row(item)


def _exec_row(kv: tuple[str, Any]) -> RawFrame | None:
    # a journal row type without an encoding is left out of the capture, never a crash of the
    # trading run: the replay then lacks that journal row (see connectors/capture_events.py)
    return exec_row(kv) if recordable(kv[1]) else None


def record_session(
    inp: LiveInputs,
    out: Path,
    session: str,
    live_exec: Stream[tuple[str, Any]] | None = None,
    flush_rows: int = 10_000,
) -> CaptureSink:
    """Write the graph's inputs (and `live_exec`'s reports and clock) to the capture `out`."""
    if inp.every is None:
        raise ConfigError("record_session needs the live inputs' merged stream")
    rows = op.map("record_inputs", inp.every, _row)
    if live_exec is not None:
        reports = op.filter_map("record_exec", live_exec, _exec_row)
        rows = op.merge("record_in", rows, reports)
    sink = CaptureSink(out, flush_rows=flush_rows, session=session)
    op.output("record", rows, sink)
    return sink


@dataclass(frozen=True)
class RecordedInputs:
    """A session capture split back into the graph's inputs, as `live_inputs` gives them."""

    raw: Stream[RawFrame]
    health: Stream[HealthEvent]
    """Feed health and control events for the journal (no clock ticks)."""
    guard_health: Stream[HealthEvent]
    """Every recorded health event, ticks included: for the graph."""
    live_exec: Stream[tuple[str, Any]] | None
    """The recorded execution reports and clock (a `live` capture only)."""


def recorded_inputs(rows: Stream[RawFrame], session: str) -> RecordedInputs:
    """Split the rows of a `paper` / `live` / `live-signals` capture into the graph's inputs."""
    split = op.branch("frames_or_recorded", rows, lambda f: f.kind in FRAME_KINDS)
    events = op.branch("health_or_exec", split.falses, lambda f: f.kind == "health")
    guard = op.map("recorded_health", events.trues, decode_health)
    health = op.filter("recorded_health_without_ticks", guard, lambda ev: not is_tick(ev))
    live_exec = op.map("recorded_exec", events.falses, decode_exec) if session == "live" else None
    return RecordedInputs(split.trues, health, guard, live_exec)


def record_path_from_env(env: dict[str, str] | Any, session: str) -> Path | None:
    """The capture path of `bytewax.run flows.<session>` from SOLARB_<SESSION>_RECORD."""
    raw = env.get(SESSION_ENV[session], "")
    return Path(raw) if raw else None


def session_of(captures: list[Path], *, paper_fills: bool = False) -> str:
    """What wrote the captures (`record`, `paper`, `live`, `live-signals`); a session capture
    replays alone (ConfigError otherwise). `paper_fills` replays a live session with paper fills
    instead of its recorded reports (calibration: other settings make other intents, which the
    venues' recorded answers no longer fit)."""
    sessions = {capture_session(c) for c in captures}
    if sessions == {"record"}:
        return "record"
    if len(captures) != 1:
        raise ConfigError(
            f"a capture of a paper / live session replays alone (got {len(captures)} captures, "
            f"sessions {sorted(sessions)})"
        )
    session = sessions.pop()
    return "paper" if paper_fills and session.startswith("live") else session


def live_ids_of(captures: list[Path]) -> bool:
    """Whether the captures are one live trading session (`engine.graph.build_graph`'s
    `epoch_ids`: its opportunity ids carry the process's epoch)."""
    return [capture_session(c) for c in captures] == ["live"]


def replay_graph(
    flow: Any,
    rows: Stream[RawFrame],
    settings: Settings,
    session: str,
    *,
    prewarm: bool,
    live_ids: bool = False,
    snapshots: bool = True,
    pair_keys: Mapping[str, str] | None = None,
) -> Stream[Any]:
    """The graph a capture of `session` replays through; returns the journal stream.

    A feed recording (`record`) is frames only, with paper fills. A session capture feeds its
    health / control events and (live) recorded reports where the session's graph took them.
    `live_ids`: the capture is a live trading session's (`live_ids_of`), whose opportunity ids
    carry its epoch, also when it is replayed with paper fills. `snapshots=False`: a run without
    recovery, `pair_keys`: the pairs' step keys on several workers (`build_graph`)."""
    if session == "record":
        return build_graph(
            flow, rows, settings, prewarm_dex_curves=prewarm, snapshots=snapshots,
            pair_keys=pair_keys,
        ).journal
    rec = recorded_inputs(rows, session)
    out = build_graph(
        flow,
        rec.raw,
        settings,
        health=rec.guard_health,
        paper=session == "paper",
        prewarm_dex_curves=prewarm,
        live_exec=rec.live_exec,
        epoch_ids=live_ids,
        snapshots=snapshots,
        pair_keys=pair_keys,
    )
    return op.merge("journal_and_feed_health", out.journal, rec.health)
