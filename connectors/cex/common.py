"""Pieces every CEX book synchroniser shares: counters, the event union, wire types and helpers.

Sans-I/O: bytes and integers in, values out. Nothing here holds a socket or reads a clock.

Wire schemas (STYLE.md §4): each venue module declares frozen `msgspec.Struct`s whose fields keep
the venue's own names, and decodes a frame once: a top-level envelope whose body stays
`msgspec.Raw` (so the transport can route it without a second parse), then the body with the
schema its kind names. The reusable field types below carry the checks every venue shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from operators.book import first_not_plain
from operators.errors import FeedError
from operators.events import BestBidOffer, BookDelta, BookSnapshot, ResyncRequired, Trade

Event = BookSnapshot | BookDelta | ResyncRequired | BestBidOffer | Trade
"""What a `BookSync` emits."""

NS_PER_MS = 1_000_000

UpdateId = Annotated[int, Meta(ge=0, le=2**63 - 1)]
"""A venue sequence number or update id (u, U, pu, seqId, lastUpdateId, seq, trade ids)."""
MAX_EPOCH_MS = (2**63 - 1) // NS_PER_MS
"""Latest millisecond whose nanoseconds fit an int64 (year 2262): journals store int64 ns."""
EpochMs = Annotated[int, Meta(ge=0, le=MAX_EPOCH_MS)]
"""Milliseconds since the epoch as a JSON integer, at most `MAX_EPOCH_MS`."""
PairLevels = list[tuple[str, str]]
"""Binance and Bybit levels: exactly `[price, size]`, both strings."""
NO_BODY = msgspec.Raw()
"""Default of an envelope's body field when the frame has none (a zero-length `Raw`)."""

FrameKind = Literal["book", "bbo", "trade", "ack", "pong", "error", "other", "unknown"]


@dataclass(frozen=True, slots=True)
class WireFrame:
    """One WS frame after its envelope was read: what it is, its stream label, its body.

    `kind`: `book` (depth/book channel), `bbo`, `trade`, `ack` (subscribe/login replies),
    `pong`, `error` (a venue error reply; `detail` says which), `other` (a data stream this
    engine does not use) and `unknown` (no recognisable shape: it may have been a book frame).
    `stream` is the capture label (`control` for frames that belong to no stream); `body` is the
    still-undecoded object the kind's schema reads.
    """

    kind: FrameKind
    stream: str
    body: msgspec.Raw | bytes = b""
    detail: str = ""

    @property
    def market_data(self) -> bool:
        """Whether the frame belongs to a stream (and so to a symbol's `BookSync`)."""
        return self.stream != "control"


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


def decode(
    decoder: msgspec.json.Decoder[Any],
    body: msgspec.Raw | bytes,
    what: str,
    *,
    venue: str,
    symbol: str = "",
    market: str = "",
) -> Any:
    """Decode `body` with a typed decoder; `FeedError` naming venue, symbol, market and field.

    msgspec names the field (`- at $.data[0].bids[3]`) and the expected type.
    """
    try:
        return decoder.decode(body)
    except msgspec.MsgspecError as exc:
        head = bytes(body)[:80]
        where = f" ({market})" if market else ""
        raise FeedError(
            f"malformed {what}{where}: {exc}; frame starts {head!r}", venue=venue, symbol=symbol
        ) from exc


def dec(value: str, *, field: str, venue: str, symbol: str) -> Decimal:
    """A venue decimal string -> Decimal; `FeedError` naming the field unless plain digits.

    Plain means ASCII digits and at most one dot, the only spelling the venues use: an exponent
    ("1e999999") would be finite and later blow up an exact integer conversion.
    """
    if (
        0 < len(value) <= 40
        and value != "."
        and value.count(".") <= 1
        and first_not_plain((value,)) is None
    ):
        return Decimal(value)
    raise FeedError(
        f"field {field}={value[:40]!r} is not a plain decimal", venue=venue, symbol=symbol
    )


def raw_text(raw: msgspec.Raw) -> str:
    """A raw JSON value as text for a message: a JSON string unquoted, anything else as sent."""
    text = bytes(raw)[:200].decode(errors="replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def ms_to_ns(value: int | None) -> int:
    """Milliseconds (a schema-checked int) -> nanoseconds; 0 when absent."""
    return 0 if value is None else value * NS_PER_MS


def ms_text_to_ns(value: str, *, field: str, venue: str, symbol: str) -> int:
    """Milliseconds sent as a digit string (OKX `ts`) -> ns; "" is absent (0).

    Why not `int()`: it accepts "1_000", " 12" and 4,000-digit strings; a venue timestamp is
    at most 13 ASCII digits (MAX_EPOCH_MS).
    """
    if not value:
        return 0
    if (
        len(value) > 13
        or not (value.isascii() and value.isdigit())
        or (ms := int(value)) > MAX_EPOCH_MS
    ):
        raise FeedError(
            f"field {field}={value[:40]!r} is not epoch milliseconds", venue=venue, symbol=symbol
        )
    return ms * NS_PER_MS


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
