"""Capture rows for what a paper / live session's graph saw besides raw frames (capture v2).

A replay that only had the frames would not see the feed health and control events that reach
the pair steps and the risk guard (a feed going stale, `solarb kill`, the guard's clock ticks),
nor, in live trading, the venues' execution reports: it would decide differently. These rows
carry them, one closed set of types, as JSON in the `payload` column:

    kind     stream          source   payload
    health   `health`        event's  {"type": "HealthEvent", ...every field}
    exec     `exec:<pair>`   pair     {"type": "ExecutionReport" | "ExecClock", ...every field}

`ts_recv_ns` is the event's own receive time (its clock, a replay feeds it back unchanged).
Amounts stay integers (JSON integers are exact); `value` / `slippage_bps` are report floats.
Anything else is a `FeedError` naming the type: the format never holds an arbitrary object.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from connectors.execution import ExecClock
from operators.errors import FeedError
from operators.events import ExecutionReport, HealthEvent, RawFrame

HEALTH_STREAM = "health"
EXEC_PREFIX = "exec:"
_TYPES: dict[str, type] = {t.__name__: t for t in (HealthEvent, ExecutionReport, ExecClock)}


def _encode(item: object) -> bytes:
    name = type(item).__name__
    if _TYPES.get(name) is not type(item):
        raise FeedError(f"capture: cannot record a {name} (health / exec rows hold "
                        f"{sorted(_TYPES)} only)")  # fmt: skip
    body: dict[str, Any] = {"type": name}
    body.update({f.name: getattr(item, f.name) for f in fields(item)})  # type: ignore[arg-type]
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _decode(frame: RawFrame) -> Any:
    try:
        body = json.loads(frame.payload)
        cls = _TYPES[body.pop("type")]
        return cls(**body)
    except (ValueError, KeyError, TypeError) as exc:
        raise FeedError(
            f"capture: bad {frame.kind} row (stream {frame.stream!r}, ts {frame.ts_recv_ns}): "
            f"{type(exc).__name__}: {exc}"
        ) from None


def health_row(ev: HealthEvent) -> RawFrame:
    """A health / control event as a capture row, at its receive time."""
    return RawFrame(ev.ts_recv_ns, ev.source, HEALTH_STREAM, "health", _encode(ev))


def exec_row(keyed: tuple[str, Any]) -> RawFrame:
    """An execution-source item (pair, report | clock) as a capture row, at its receive time."""
    pair, item = keyed
    return RawFrame(item.ts_recv_ns, pair, EXEC_PREFIX + pair, "exec", _encode(item))


def decode_health(frame: RawFrame) -> HealthEvent:
    """The HealthEvent of a `health` row (FeedError if the row holds anything else)."""
    ev = _decode(frame)
    if not isinstance(ev, HealthEvent):
        raise FeedError(f"capture: health row holds a {type(ev).__name__}")
    return ev


def decode_exec(frame: RawFrame) -> tuple[str, ExecutionReport | ExecClock]:
    """The (pair, report | clock) of an `exec` row, as the execution source emitted it."""
    item = _decode(frame)
    if not isinstance(item, (ExecutionReport, ExecClock)):
        raise FeedError(f"capture: exec row holds a {type(item).__name__}")
    return frame.source, item
