"""OKX v5 L2 book synchroniser (sans-I/O) for the `books` (400 levels) and `books-l2-tbt` channels.

Rules (OKX v5 docs, order book channel):
- every `action:"snapshot"` resets the book, even on a book already held (a resubscribe sends
  one again); `action:"update"` applies changed levels, size "0" deleting a level;
- when frames carry `seqId`/`prevSeqId`, an update must have prevSeqId == the last seqId held;
  seqId == prevSeqId is a no-change heartbeat; frames recorded before OKX added these fields
  (2022) have neither, and then only the checksum can reveal a lost frame;
- `checksum` is CRC32 (as a signed int32) of the top 25 levels interleaved
  `bidPx:bidSz:askPx:askSz:...`, using the price and size strings exactly as sent, and is
  verified after every snapshot and update. A checksum of 0 (as newer OKX APIs send once the
  field is retired) or none at all cannot be verified and is counted in `stats.checksum_absent`.

  Since 2026-06-23 OKX sends `checksum` fixed to 0 in production: 0 means "not provided", and
  continuity then rests on `seqId`/`prevSeqId` alone.

A gap, checksum mismatch or crossed book emits `ResyncRequired` and flags the book out of sync;
updates are then ignored until the next snapshot (the transport resubscribes, or feeds the REST
book to `on_snapshot` as a fallback).

Every frame is checked against the wire schemas below before anything is applied. A book frame
that fails (wrong type, missing key, a level that is not `[px, sz, ...]` plain decimal strings,
an unknown `action`), or a frame too broken to tell what it was, leaves the book untouched and
is handled like a gap: `ResyncRequired`, out of sync. A bad tickers or trades frame raises
`FeedError` (it does not touch the book); so does a REST body, which changes nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta

from connectors.cex.common import (
    NO_BODY,
    BookStats,
    Event,
    UpdateId,
    WireFrame,
    dec,
    decode,
    ms_text_to_ns,
    query_param,
    raw_text,
)
from operators.book import L2Book, RawLevel
from operators.errors import ConfigError, FeedError
from operators.events import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Level,
    ResyncRequired,
    Trade,
)

MarketKind = Literal["spot", "perp"]

VENUE = "okx"
WS_PUBLIC = "wss://ws.okx.com:8443/ws/v5/public"
REST_BASE = "https://www.okx.com"
BOOK_CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
CHECKSUM_DEPTH = 25


def _check_market(market: str) -> None:
    if market not in ("spot", "perp"):
        raise ConfigError(f"okx: market must be 'spot' or 'perp', got {market!r}")


# -- wire schemas (field names as OKX sends them) -------------------------------------------------


class BookData(msgspec.Struct, frozen=True):
    """One `books` / `books-l2-tbt` data item (also the REST `/api/v5/market/books` item).

    Sample: {"asks":[["30238.8","0","0","0"]],"bids":[],"ts":"1652459225807",
    "checksum":-1292166418,"seqId":123,"prevSeqId":122}
    """

    asks: msgspec.Raw
    bids: msgspec.Raw
    """`[[px, sz, liquidated orders, orders], ...]` strings, kept as JSON text: the book checks
    and reads a side at once (`L2Book.apply_json`)."""
    ts: str
    checksum: Annotated[int, Meta(ge=-(2**31), lt=2**31)] | None = None
    seqId: UpdateId | None = None
    prevSeqId: Annotated[int, Meta(ge=-1, le=2**63 - 1)] | None = None
    """-1 on a snapshot."""


class Ticker(msgspec.Struct, frozen=True):
    """One `tickers` data item; a side with no quote is sent as "".

    Sample: {"instId":"BTC-USDT","last":"30218.8","askPx":"30220.1","askSz":"3",
    "bidPx":"30210.4","bidSz":"4","ts":"1652459223003",...}
    """

    instId: str
    ts: str
    bidPx: str = ""
    bidSz: str = ""
    askPx: str = ""
    askSz: str = ""


class TradeData(msgspec.Struct, frozen=True):
    """One `trades` data item.

    Sample: {"instId":"BTC-USD-220527","tradeId":"7849","px":"30218.8","sz":"1","side":"buy",
    "ts":"1652459199958"}
    """

    instId: str
    tradeId: str
    px: str
    sz: str
    side: Literal["buy", "sell"]
    ts: str


class RestBooks(msgspec.Struct, frozen=True):
    """REST `/api/v5/market/books` body. Sample: {"code":"0","msg":"","data":[{"asks":
    [["41006.8","0.6","0","1"]],"bids":[..],"ts":"1629966436396"}]}"""

    code: str
    data: list[BookData]
    msg: str = ""


class _Arg(msgspec.Struct, frozen=True):
    channel: str
    instId: str = ""


class _Envelope(msgspec.Struct, frozen=True):
    """Top level of a WS frame: a push (`arg`, `action`, `data`) or an event reply."""

    arg: _Arg | None = None
    action: str | None = None
    data: msgspec.Raw = NO_BODY
    event: str | None = None
    code: msgspec.Raw = NO_BODY
    msg: msgspec.Raw = NO_BODY


class _BookFrame(msgspec.Struct, frozen=True):
    """A book push read in one typed pass (the replay and graph path); anything else, or a
    frame that fails it, takes `decode_frame`, which classifies it and names the bad field."""

    arg: _Arg
    action: Literal["snapshot", "update"]
    data: Annotated[list[BookData], Meta(min_length=1, max_length=1)]
    event: None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_BOOK_FRAME = msgspec.json.Decoder(_BookFrame)
_BOOK_PREFIX = b'{"arg":{"channel":"books'
"""How an OKX book push starts (the channel name comes first in `arg`)."""
_BOOK = msgspec.json.Decoder(Annotated[list[BookData], Meta(min_length=1, max_length=1)])
_TICKERS = msgspec.json.Decoder(list[Ticker])
_TRADES = msgspec.json.Decoder(list[TradeData])
_REST = msgspec.json.Decoder(RestBooks)
_KINDS = {"tickers": "bbo", "trades": "trade"}


def decode_frame(
    payload: bytes, venue: str = VENUE, *, symbol: str = "", market: str = ""
) -> WireFrame:
    """Read a WS frame's envelope once: its kind, `channel:instId` label and undecoded `data`.

    `FeedError` when the frame is neither the text `pong` nor a JSON object.
    """
    if payload == b"pong":
        return WireFrame("pong", "control")
    env = decode(_ENVELOPE, payload, "frame envelope", venue=venue, symbol=symbol, market=market)
    if env.event is not None:
        if env.event == "error":
            detail = f"{raw_text(env.code)}: {raw_text(env.msg)}"
            return WireFrame("error", "control", payload, detail[:200])
        return WireFrame("ack", "control", payload)
    if env.arg is None or not env.data:
        return WireFrame("unknown", "control", payload)
    stream = f"{env.arg.channel}:{env.arg.instId}"
    if env.arg.channel in BOOK_CHANNELS:
        if env.action not in ("snapshot", "update"):
            return WireFrame("unknown", stream, payload, f"book action {env.action!r}")
        # The action travels in `detail`: the body is `data` alone.
        return WireFrame("book", stream, env.data, env.action)
    return WireFrame(_KINDS.get(env.arg.channel, "other"), stream, env.data)  # type: ignore[arg-type]


def checksum(bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> int:
    """OKX book checksum (signed int32) of the best 25 levels per side, venue strings."""
    parts: list[str] = []
    nb = min(len(bids), CHECKSUM_DEPTH)
    na = min(len(asks), CHECKSUM_DEPTH)
    for i in range(max(nb, na)):
        if i < nb:
            parts += bids[i]
        if i < na:
            parts += asks[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def stream_symbol(stream: str) -> str | None:
    """instId of a capture stream (`books:BTC-USDT`, REST `/api/v5/market/books?instId=..`)."""
    s = stream.strip()
    if s.startswith(("GET ", "/")):
        path = s.removeprefix("GET ").strip()
        if path.split("?", 1)[0] not in ("/api/v5/market/books", "/api/v5/market/books-full"):
            return None
        return query_param(path, "instId")
    channel, sep, inst = s.partition(":")
    if not sep or not inst or not channel:
        return None
    return inst


def subscribe_message(
    symbols: Sequence[str], market: MarketKind, *, book_channel: str = "books"
) -> bytes:
    """WS subscribe request for the book channel, tickers and trades of `symbols` (JSON bytes)."""
    _check_market(market)
    if book_channel not in BOOK_CHANNELS:
        raise ConfigError(f"okx book_channel must be one of {sorted(BOOK_CHANNELS)}")
    args = []
    for sym in symbols:
        args += [
            {"channel": book_channel, "instId": sym},
            {"channel": "tickers", "instId": sym},
            {"channel": "trades", "instId": sym},
        ]
    return orjson.dumps({"op": "subscribe", "args": args})


def snapshot_path(symbol: str, market: MarketKind, limit: int = 400) -> str:
    """REST path (no host; see REST_BASE) of the order book for `symbol`, up to 400 levels."""
    _check_market(market)
    if not 1 <= limit <= 400:
        raise ConfigError(f"okx books sz must be 1..400, not {limit}")
    return f"/api/v5/market/books?instId={symbol}&sz={limit}"


class BookSync:
    """One instrument's book: feed it WS frames (and REST books as fallback), read `book`."""

    def __init__(self, symbol: str, market: MarketKind) -> None:
        _check_market(market)
        self.symbol = symbol
        self.market: MarketKind = market
        self.venue = VENUE
        self.book = L2Book()
        self.in_sync = False
        self.needs_snapshot = False
        """True after a fault: the transport should resubscribe (or fetch the REST book)."""
        self.last_update_id = 0
        """seqId of the last applied frame (0 for frames without seqId)."""
        self._last_seq: int | None = None
        self.stats = BookStats()

    # -- inputs ---------------------------------------------------------------------------------

    def on_snapshot(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Reset from a REST body of `/api/v5/market/books` (fallback when WS cannot resync).

        Sample in `RestBooks`. A body that fails its schema, carries a bad level or is an error
        reply raises `FeedError` and changes nothing.
        """
        self.stats.frames += 1
        body: RestBooks = self._decode(_REST, payload, "books REST body")
        if body.code != "0" or not body.data:
            raise FeedError(f"not an OKX books body: {bytes(payload[:120])!r}", **self._where())
        return self._snapshot(body.data[0], ts_recv_ns, rest=True)

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Handle one WS frame; `pong` and subscribe acks are skipped.

        Sample: {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":
        [["30238.8","0","0","0"]],"bids":[],"ts":"1652459225807","checksum":-1292166418}]}
        A frame that is not even a JSON object may have been a book frame: it asks for a resync.
        """
        if payload[:24] == _BOOK_PREFIX:
            try:
                frame = _BOOK_FRAME.decode(payload)
            except msgspec.MsgspecError:
                pass
            else:
                if frame.arg.channel in BOOK_CHANNELS:
                    self.stats.frames += 1
                    self._check_inst(frame.arg.instId)
                    return self._on_book(frame.data[0], frame.action, ts_recv_ns)
        try:
            wire = decode_frame(payload, symbol=self.symbol, market=self.market)
        except FeedError as exc:
            self.stats.frames += 1
            return self._fault(str(exc), 0, ts_recv_ns)
        return self.on_wire(wire, ts_recv_ns)

    def on_wire(self, wire: WireFrame, ts_recv_ns: int) -> list[Event]:
        """Handle a frame whose envelope `decode_frame` already read (the transport's path)."""
        self.stats.frames += 1
        kind = wire.kind
        if kind in ("pong", "ack", "other"):
            self.stats.skipped += 1
            return []
        if kind == "error":
            raise FeedError(f"venue error {wire.detail}", **self._where())
        if kind == "unknown":
            reason = wire.detail or f"unrecognised frame {bytes(wire.body)[:80]!r}"
            return self._fault(reason, 0, ts_recv_ns)
        self._check_inst(wire.stream.partition(":")[2])
        if kind == "book":
            try:
                (data,) = self._decode(_BOOK, wire.body, f"{wire.stream} data")
            except FeedError as exc:  # raised before anything was applied
                return self._fault(str(exc), 0, ts_recv_ns)
            return self._on_book(data, wire.detail, ts_recv_ns)
        if kind == "bbo":
            items = self._decode(_TICKERS, wire.body, "tickers data")
            return [b for d in items if (b := self._bbo(d, ts_recv_ns)) is not None]
        items = self._decode(_TRADES, wire.body, "trades data")
        return [self._trade(d, ts_recv_ns) for d in items]

    # -- rules ----------------------------------------------------------------------------------

    def _check_inst(self, inst: str) -> None:
        if inst != self.symbol:
            raise FeedError(f"frame for instId {inst!r} routed to this book", **self._where())

    def _on_book(self, data: BookData, action: str, ts_recv_ns: int) -> list[Event]:
        """A decoded book item: `action` "snapshot" resets the book, anything else updates it."""
        try:
            if action == "snapshot":
                return self._snapshot(data, ts_recv_ns, rest=False)
            return self._update(data, ts_recv_ns)
        except FeedError as exc:  # raised before anything was applied
            return self._fault(str(exc), 0, ts_recv_ns)

    def _ts_ns(self, value: str) -> int:
        return ms_text_to_ns(value, field="ts", **self._where())

    def _snapshot(self, data: BookData, ts_recv_ns: int, *, rest: bool) -> list[Event]:
        ts_event_ns = self._ts_ns(data.ts)
        fresh = L2Book()
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            fresh.apply_json(data.bids, data.asks, bids, asks, fields=4)
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        seq = data.seqId
        # A snapshot replaces whatever was held, even a live book (resubscribe case).
        self.book = fresh
        self._last_seq = seq
        self.last_update_id = seq if seq is not None else 0
        self.in_sync = True
        self.needs_snapshot = False
        self.stats.applied += 1
        fault = self._verify(data, ts_event_ns, ts_recv_ns, skip_checksum=rest)
        if fault:
            return fault
        return [
            BookSnapshot(
                VENUE,
                self.symbol,
                self.market,
                tuple(bids),
                tuple(asks),
                self.last_update_id,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _update(self, data: BookData, ts_recv_ns: int) -> list[Event]:
        if not self.in_sync:
            self.stats.dropped_out_of_sync += 1
            return []
        ts_event_ns = self._ts_ns(data.ts)
        seq = data.seqId
        prev = data.prevSeqId
        if seq is not None and self._last_seq is not None and prev != self._last_seq:
            return self._fault(
                f"gap: prevSeqId={prev} != last seqId={self._last_seq}", ts_event_ns, ts_recv_ns
            )
        try:
            bid_levels, ask_levels = self.book.apply_json(data.bids, data.asks, fields=4)
        except FeedError as exc:  # nothing was applied: the book is as before this frame
            return self._fault(f"bad update level: {exc}", ts_event_ns, ts_recv_ns)
        if seq is not None:
            self._last_seq = seq
            self.last_update_id = seq
        self.stats.applied += 1
        fault = self._verify(data, ts_event_ns, ts_recv_ns, skip_checksum=False)
        if fault:
            return fault
        return [
            BookDelta(
                VENUE,
                self.symbol,
                self.market,
                bid_levels,  # validated and applied: the event keeps them as sent
                ask_levels,
                self.last_update_id,
                self.last_update_id,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _verify(
        self, data: BookData, ts_event_ns: int, ts_recv_ns: int, *, skip_checksum: bool
    ) -> list[Event]:
        """Crossed-book and checksum checks after a frame is applied; a fault list or []."""
        if self.book.is_crossed():
            return self._fault("crossed book", ts_event_ns, ts_recv_ns)
        if skip_checksum:
            return []
        expected = data.checksum
        if expected is None or expected == 0:  # 0: retired field (OKX, 2026-06-23)
            self.stats.checksum_absent += 1
            return []
        got = checksum(*self.book.top_raw(CHECKSUM_DEPTH))
        if got != expected:
            self.stats.checksum_fail += 1
            return self._fault(
                f"checksum mismatch: venue {expected}, local {got}", ts_event_ns, ts_recv_ns
            )
        self.stats.checksum_ok += 1
        return []

    def _fault(self, reason: str, ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        self.in_sync = False
        self.needs_snapshot = True
        self.stats.resyncs += 1
        return [ResyncRequired(VENUE, self.symbol, self.market, reason, ts_event_ns, ts_recv_ns)]

    # -- non-book frames ------------------------------------------------------------------------

    def _bbo(self, d: Ticker, ts_recv_ns: int) -> BestBidOffer | None:
        """tickers item -> BestBidOffer; None when a side is empty (e.g. an option with no bid)."""
        if not (d.bidPx and d.bidSz and d.askPx and d.askSz):
            self.stats.skipped += 1
            return None
        w = self._where()
        return BestBidOffer(
            VENUE,
            self.symbol,
            self.market,
            dec(d.bidPx, field="bidPx", **w),
            dec(d.bidSz, field="bidSz", **w),
            dec(d.askPx, field="askPx", **w),
            dec(d.askSz, field="askSz", **w),
            0,
            ms_text_to_ns(d.ts, field="ts", **w),
            ts_recv_ns,
        )

    def _trade(self, d: TradeData, ts_recv_ns: int) -> Trade:
        """trades item -> Trade (sample in `TradeData`)."""
        w = self._where()
        return Trade(
            VENUE,
            self.symbol,
            self.market,
            dec(d.px, field="px", **w),
            dec(d.sz, field="sz", **w),
            d.side,
            d.tradeId,
            ms_text_to_ns(d.ts, field="ts", **w),
            ts_recv_ns,
        )

    def _decode(
        self, decoder: msgspec.json.Decoder[Any], body: msgspec.Raw | bytes, what: str
    ) -> Any:
        return decode(decoder, body, what, venue=VENUE, symbol=self.symbol, market=self.market)

    def _where(self) -> dict[str, str]:
        return {"venue": VENUE, "symbol": self.symbol}
