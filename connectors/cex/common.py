"""Pieces every CEX book synchroniser shares: counters, the event union, JSON and time helpers.

Sans-I/O: bytes and integers in, values out. Nothing here holds a socket or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from operators.errors import FeedError
from operators.events import BestBidOffer, BookDelta, BookSnapshot, ResyncRequired, Trade

Event = BookSnapshot | BookDelta | ResyncRequired | BestBidOffer | Trade
"""What a `BookSync` emits."""

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class BookStats:
    """Counters of one `BookSync` (monotonic; plain ints so they snapshot and compare easily)."""

    frames: int = 0
    """Frames and snapshot bodies handed to the sync."""
    applied: int = 0
    """Book frames applied to the book (snapshots and diffs)."""
    dropped_stale: int = 0
    """Diffs older than the book (already contained in the snapshot or a duplicate)."""
    dropped_out_of_sync: int = 0
    """Diffs ignored while waiting for a snapshot (OKX/Bybit; Binance buffers instead)."""
    buffered: int = 0
    """Diffs held right now for the next snapshot (Binance)."""
    resyncs: int = 0
    """ResyncRequired events emitted."""
    checksum_ok: int = 0
    checksum_fail: int = 0
    checksum_absent: int = 0
    """OKX book frames with no usable checksum (field missing, or 0 as sent by newer APIs)."""
    skipped: int = 0
    """Subscribe acks, pongs and other frames that carry no market data."""


def loads(payload: bytes | str, *, venue: str, symbol: str) -> Any:
    """Decode one JSON frame; `FeedError` naming venue and symbol when it is not JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        head = bytes(payload[:80]) if isinstance(payload, bytes | bytearray) else payload[:80]
        raise FeedError(f"undecodable frame {head!r}: {exc}", venue=venue, symbol=symbol) from exc


def dec(value: Any, *, field: str, venue: str, symbol: str) -> Decimal:
    """A venue decimal string -> Decimal; `FeedError` naming the field when it is not a number."""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise FeedError(
            f"field {field}={value!r} is not a decimal", venue=venue, symbol=symbol
        ) from exc
    if not d.is_finite():
        raise FeedError(f"field {field}={value!r} is not finite", venue=venue, symbol=symbol)
    return d


def ms_to_ns(value: Any) -> int:
    """Milliseconds (int or numeric string, as venues send them) -> nanoseconds; 0 when absent."""
    if value is None or value == "":
        return 0
    return int(value) * NS_PER_MS


def query_param(path: str, name: str) -> str | None:
    """Value of `name` in the query string of a REST path like `GET /x?symbol=BTCUSDT&limit=5`."""
    _, sep, query = path.partition("?")
    if not sep:
        return None
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if eq and key == name:
            return value
    return None
