"""Capture rows for what a paper / live session's graph saw besides raw frames (capture v2).

A replay that only had the frames would not see the feed health and control events that reach
the pair steps and the risk guard (a feed going stale, `solarb kill`, the guard's clock ticks),
nor, in live trading, the venues' execution reports: it would decide differently. These rows
carry them, one closed set of types, as JSON in the `payload` column:

    kind     stream          source   payload
    health   `health`        event's  {"type": "HealthEvent", ...every field}
    exec     `exec:<pair>`   pair     {"type": "ExecutionReport" | "ExecClock" | "HealthEvent"
                                       | "OrderRecord" | "TxRecord", ...every field}

Exec rows are everything the execution source emitted: reports and clock ticks for the legs,
the gateway's journal rows (orders, transactions, its health) so a replay's journal has them.
`ts_recv_ns` is the item's own time (receive time; a transaction's `done_ns`, an order's
ack / send time): the file order is the recorded order, a replay keeps it.
Amounts stay integers (JSON integers are exact); `value` / `slippage_bps` are report floats.
Anything else is a `FeedError` naming the type: the format never holds an arbitrary object.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from connectors.execution import ExecClock
from connectors.order_journal import OrderRecord
from connectors.solana.tx_outcome import TxRecord
from operators.errors import FeedError
from operators.events import ExecutionReport, HealthEvent, RawFrame

HEALTH_STREAM = "health"
EXEC_PREFIX = "exec:"
_EXEC_TYPES = (ExecutionReport, ExecClock, HealthEvent, OrderRecord, TxRecord)
_TYPES: dict[str, type] = {t.__name__: t for t in _EXEC_TYPES}
_TS_FIELDS = ("ts_recv_ns", "done_ns", "ts_ack_ns", "ts_sent_ns", "ts_intent_ns")


def recordable(item: object) -> bool:
    """Whether an execution-source item has a capture encoding (the closed set above)."""
    return isinstance(item, _EXEC_TYPES)


def _ts(item: object) -> int:
    for name in _TS_FIELDS:
        ts = getattr(item, name, 0)
        if ts:
            return int(ts)
    return 0


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
        if cls is ExecutionReport and "fx" in body:
            body["fx"] = tuple(body["fx"])  # JSON has no tuples (a capture before it: at par)
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
    """An execution-source item (pair, report | clock | journal row) as a capture row."""
    pair, item = keyed
    return RawFrame(_ts(item), pair, EXEC_PREFIX + pair, "exec", _encode(item))


def decode_health(frame: RawFrame) -> HealthEvent:
    """The HealthEvent of a `health` row (FeedError if the row holds anything else)."""
    ev = _decode(frame)
    if not isinstance(ev, HealthEvent):
        raise FeedError(f"capture: health row holds a {type(ev).__name__}")
    return ev


def decode_exec(frame: RawFrame) -> tuple[str, Any]:
    """The (pair, item) of an `exec` row, as the execution source emitted it."""
    return frame.source, _decode(frame)
