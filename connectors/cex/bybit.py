"""Bybit v5 L2 book synchroniser (sans-I/O) for `orderbook.{depth}.{symbol}` (spot and linear).

Rules (bybit-exchange/docs, v5/websocket/public/orderbook):
- a `snapshot` resets the book (sent on subscribe, again after a reconnect, and whenever Bybit
  restarts its book service, which also resets `u` to 1);
- a `delta` applies changed levels (size "0" deletes) and must have u == previous u + 1; a delta
  with u == 1 means the service restarted without a usable snapshot here, so the book needs one;
- `seq` (the matching-engine sequence) is kept as `last_seq` for cross-stream ordering.
`orderbook.1` frames give the venue's top of book: they become `BestBidOffer`s and never touch
the deep book. A gap, restart delta or crossed book emits `ResyncRequired`, flags the book out of
sync and ignores deltas until the next snapshot (the transport resubscribes).

Every frame is checked against the wire schemas below before anything is applied. A book frame
that fails (wrong type, missing key, a level that is not `[price, size]` plain decimal strings,
an unknown `type`), or a frame too broken to tell what it was, leaves the book untouched and is
handled like a gap: `ResyncRequired`, out of sync. A bad orderbook.1 or trade frame raises
`FeedError` (it does not touch the book); so does a REST body, which changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec
import orjson

from connectors.cex.common import (
    NO_BODY,
    NS_PER_MS,
    BookStats,
    EpochMs,
    Event,
    UpdateId,
    WireFrame,
    dec,
    decode,
    ms_to_ns,
    query_param,
)
from operators.book import L2Book
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

VENUE = "bybit"
CATEGORY: dict[str, str] = {"spot": "spot", "perp": "linear"}
WS_PUBLIC: dict[str, str] = {
    "spot": "wss://stream.bybit.com/v5/public/spot",
    "perp": "wss://stream.bybit.com/v5/public/linear",
}
REST_BASE = "https://api.bybit.com"
DEPTHS: dict[str, frozenset[int]] = {
    "spot": frozenset({1, 50, 200, 1000}),
    "perp": frozenset({1, 50, 200, 500, 1000}),
}


def _check_market(market: str) -> None:
    if market not in CATEGORY:
        raise ConfigError(f"bybit: market must be 'spot' or 'perp', got {market!r}")


# -- wire schemas (field names as Bybit sends them) -----------------------------------------------


class BookData(msgspec.Struct, frozen=True):
    """`data` of an `orderbook.{depth}.{symbol}` frame (and the REST orderbook `result`).

    Sample: {"s":"BTCUSDT","b":[["109147.80","1.687"]],"a":[["109148.00","0"]],"u":21111423,
    "seq":457538796406}
    """

    s: str
    b: msgspec.Raw
    a: msgspec.Raw
    """`b`, `a`: `[[price, size], ...]` strings, kept as JSON text: the book checks and reads
    a side at once (`L2Book.apply_json`)."""
    u: UpdateId
    seq: UpdateId | None = None
    ts: EpochMs | None = None
    """REST only (a WS frame carries `ts` on its envelope)."""


class TradeData(msgspec.Struct, frozen=True):
    """One `publicTrade` item.

    Sample: {"T":1758841135823,"s":"BTCUSDT","S":"Buy","v":"0.020","p":"109378.90",
    "i":"2a74ac78-691c-5b54-9dbe-5aafe8364627","BT":false}
    """

    T: EpochMs
    s: str
    S: Literal["Buy", "Sell"]
    v: str
    p: str
    i: str


class RestOrderbook(msgspec.Struct, frozen=True):
    """REST `/v5/market/orderbook` body. Sample: {"retCode":0,"retMsg":"OK","result":{"s":
    "BTCUSDT","a":[["65557.7","16.606"]],"b":[["65485.47","47.081"]],"ts":1716863719031,
    "u":230704,"seq":1432604333,"cts":1716863718905}}"""

    retCode: int
    result: msgspec.Raw = NO_BODY
    retMsg: str = ""


class _Envelope(msgspec.Struct, frozen=True):
    """Top level of a WS frame: a push (`topic`, `type`, `ts`, `data`) or an op reply."""

    topic: str | None = None
    type: str | None = None
    ts: EpochMs | None = None
    data: msgspec.Raw = NO_BODY
    success: bool | None = None
    ret_msg: str | None = None
    op: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_BOOK = msgspec.json.Decoder(BookData)
_TRADES = msgspec.json.Decoder(list[TradeData])
_REST = msgspec.json.Decoder(RestOrderbook)


def decode_frame(
    payload: bytes, venue: str = VENUE, *, symbol: str = "", market: str = ""
) -> WireFrame:
    """Read a WS frame's envelope once: its kind, topic and undecoded `data`.

    A book frame's `type` and `ts` travel in `detail` as "type:ts" (the body is `data` alone).
    `FeedError` when the frame is not a JSON object.
    """
    env = decode(_ENVELOPE, payload, "frame envelope", venue=venue, symbol=symbol, market=market)
    topic = env.topic
    if topic is None:
        if env.success is False:
            return WireFrame("error", "control", payload, str(env.ret_msg)[:200])
        if env.op in ("ping", "pong") or env.ret_msg == "pong":
            return WireFrame("pong", "control")
        if env.op is not None or env.success is not None:
            return WireFrame("ack", "control", payload)
        return WireFrame("unknown", "control", payload)
    if not env.data:
        return WireFrame("unknown", topic, payload, f"{topic} frame without data")
    if topic.startswith("orderbook."):
        if env.type not in ("snapshot", "delta"):
            return WireFrame(
                "unknown", topic, payload, f"{topic} frame of unknown type {env.type!r}"
            )
        return WireFrame("book", topic, env.data, f"{env.type}:{env.ts or 0}")
    if topic.startswith("publicTrade."):
        return WireFrame("trade", topic, env.data)
    return WireFrame("other", topic, env.data)


def stream_symbol(stream: str) -> str | None:
    """Symbol of a topic (`orderbook.50.BTCUSDT`, `publicTrade.BTCUSDT`) or REST orderbook path."""
    s = stream.strip()
    if s.startswith(("GET ", "/")):
        path = s.removeprefix("GET ").strip()
        if path.split("?", 1)[0] != "/v5/market/orderbook":
            return None
        return query_param(path, "symbol")
    parts = s.split(".")
    if parts[0] in ("orderbook", "publicTrade", "tickers") and len(parts) >= 2 and parts[-1]:
        return parts[-1]
    return None


def subscribe_message(symbols: Sequence[str], market: MarketKind, *, depth: int = 50) -> bytes:
    """WS subscribe request for the book (`depth`), orderbook.1 and trades of `symbols`."""
    _check_market(market)
    if depth not in DEPTHS[market]:
        raise ConfigError(f"bybit {market} orderbook depth must be one of {sorted(DEPTHS[market])}")
    args = []
    for sym in symbols:
        args += [f"orderbook.{depth}.{sym}", f"orderbook.1.{sym}", f"publicTrade.{sym}"]
    return orjson.dumps({"op": "subscribe", "args": args})


def snapshot_path(symbol: str, market: MarketKind, limit: int = 200) -> str:
    """REST path (no host; see REST_BASE) of the order book for `symbol` (fallback only)."""
    _check_market(market)
    top = 200 if market == "spot" else 500
    if not 1 <= limit <= top:
        raise ConfigError(f"bybit {market} orderbook limit must be 1..{top}, not {limit}")
    return f"/v5/market/orderbook?category={CATEGORY[market]}&symbol={symbol}&limit={limit}"


class BookSync:
    """One symbol's book from `orderbook.{depth}`: feed it WS frames, read `book` when `in_sync`."""

    def __init__(self, symbol: str, market: MarketKind, *, depth: int = 50) -> None:
        _check_market(market)
        if depth == 1 or depth not in DEPTHS[market]:
            raise ConfigError(f"bybit book depth must be one of {sorted(DEPTHS[market] - {1})}")
        self.symbol = symbol
        self.market: MarketKind = market
        self.venue = VENUE
        self.depth = depth
        self.book = L2Book()
        self.in_sync = False
        self.needs_snapshot = False
        """True after a fault: the transport should resubscribe (or fetch the REST book)."""
        self.last_update_id = 0
        """`u` of the last applied frame."""
        self.last_seq = 0
        """`seq` (matching-engine sequence) of the last applied frame."""
        self._book_topic = f"orderbook.{depth}.{symbol}"
        self._l1_topic = f"orderbook.1.{symbol}"
        self._l1 = L2Book()
        self.stats = BookStats()

    # -- inputs ---------------------------------------------------------------------------------

    def on_snapshot(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Reset from a REST body of `/v5/market/orderbook` (fallback when WS cannot resync).

        Sample in `RestOrderbook`. A body that fails its schema, carries a bad level or is an
        error reply raises `FeedError` and changes nothing.
        """
        self.stats.frames += 1
        body: RestOrderbook = self._decode(_REST, payload, "orderbook REST body")
        if body.retCode != 0 or not body.result:
            raise FeedError(
                f"not a Bybit orderbook body: {bytes(payload[:120])!r}", **self._where()
            )
        result: BookData = self._decode(_BOOK, body.result, "orderbook REST result")
        self._check_symbol(result.s)
        return self._snapshot(result, ms_to_ns(result.ts), ts_recv_ns)

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Handle one WS frame; subscribe acks and pongs are skipped.

        Sample: {"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1758845431663,"data":{"s":
        "BTCUSDT","b":[["109147.80","1.687"]],"a":[["109148.00","0"]],"u":21111423,
        "seq":457538796406},"cts":1758845431662}
        A frame that is not even a JSON object may have been a book frame: it asks for a resync.
        """
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
        topic = wire.stream
        if kind in ("pong", "ack"):
            self.stats.skipped += 1  # subscribe ack, pong
            return []
        if kind == "error":
            raise FeedError(f"venue error: {wire.detail}", **self._where())
        if kind == "unknown":
            reason = wire.detail or f"unrecognised frame {bytes(wire.body)[:80]!r}"
            if topic not in ("control", self._book_topic):
                raise FeedError(reason, **self._where())  # not this book's stream
            return self._fault(reason, 0, ts_recv_ns)
        if kind == "book":
            book_type, _, ts_ms = wire.detail.partition(":")
            ts_event_ns = int(ts_ms) * NS_PER_MS
            if topic == self._book_topic:
                try:
                    data: BookData = self._decode(_BOOK, wire.body, f"{topic} data")
                except FeedError as exc:  # nothing was applied
                    return self._fault(str(exc), ts_event_ns, ts_recv_ns)
                self._check_symbol(data.s)
                if book_type == "snapshot":
                    try:
                        return self._snapshot(data, ts_event_ns, ts_recv_ns)
                    except FeedError as exc:  # raised before anything was applied
                        return self._fault(str(exc), ts_event_ns, ts_recv_ns)
                return self._delta(data, ts_event_ns, ts_recv_ns)
            if topic == self._l1_topic:
                l1: BookData = self._decode(_BOOK, wire.body, f"{topic} data")
                return self._top_of_book(l1, book_type, ts_event_ns, ts_recv_ns)
            raise FeedError(
                f"topic {topic!r} is not this book ({self._book_topic})", **self._where()
            )
        if kind == "trade" and topic == f"publicTrade.{self.symbol}":
            trades: list[TradeData] = self._decode(_TRADES, wire.body, f"{topic} data")
            return [self._trade(d, ts_recv_ns) for d in trades]
        self.stats.skipped += 1
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _snapshot(self, data: BookData, ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        fresh = L2Book()
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            fresh.apply_json(data.b, data.a, bids, asks)
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        u = data.u
        self.book = fresh
        self.last_update_id = u
        self.last_seq = data.seq or 0
        self.in_sync = True
        self.needs_snapshot = False
        self.stats.applied += 1
        if fresh.is_crossed():
            return self._fault("crossed snapshot", ts_event_ns, ts_recv_ns)
        return [
            BookSnapshot(
                VENUE,
                self.symbol,
                self.market,
                tuple(bids),
                tuple(asks),
                u,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _delta(self, data: BookData, ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        if not self.in_sync:
            self.stats.dropped_out_of_sync += 1
            return []
        u = data.u
        held = self.last_update_id
        if u == 1:
            return self._fault(
                "delta with u=1: book service restarted, snapshot needed", ts_event_ns, ts_recv_ns
            )
        if u <= held:
            self.stats.dropped_stale += 1
            return []
        if u != held + 1:
            return self._fault(f"gap: u={u} != previous u+1={held + 1}", ts_event_ns, ts_recv_ns)
        try:
            bids, asks = self.book.apply_json(data.b, data.a)
        except FeedError as exc:  # nothing was applied: the book is as before this frame
            return self._fault(f"bad delta level: {exc}", ts_event_ns, ts_recv_ns)
        self.last_update_id = u
        self.last_seq = data.seq or self.last_seq
        self.stats.applied += 1
        if self.book.is_crossed():
            return self._fault(f"crossed book after delta u={u}", ts_event_ns, ts_recv_ns)
        return [
            BookDelta(
                VENUE,
                self.symbol,
                self.market,
                bids,  # validated and applied: the event keeps them as sent
                asks,
                u,
                u,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _fault(self, reason: str, ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        self.in_sync = False
        self.needs_snapshot = True
        self.stats.resyncs += 1
        return [ResyncRequired(VENUE, self.symbol, self.market, reason, ts_event_ns, ts_recv_ns)]

    # -- non-book frames ------------------------------------------------------------------------

    def _top_of_book(
        self, data: BookData, kind: str, ts_event_ns: int, ts_recv_ns: int
    ) -> list[Event]:
        """orderbook.1 -> BestBidOffer (kept in a one-level book of its own; [] if a side is empty).

        Sample: {"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1758841134603,"data":{"s":
        "BTCUSDT","b":[["109378.80","1.273"]],"a":[["109378.90","6.278"]],"u":14869255,
        "seq":457514742271},"cts":1758841134598}
        """
        self._check_symbol(data.s)
        if kind == "snapshot":
            fresh = L2Book()
            fresh.apply_json(data.b, data.a)
            self._l1 = fresh
        else:
            self._l1.apply_json(data.b, data.a)
        bid = self._l1.best_bid()
        ask = self._l1.best_ask()
        if bid is None or ask is None:
            self.stats.skipped += 1
            return []
        return [
            BestBidOffer(
                VENUE,
                self.symbol,
                self.market,
                bid[0],
                bid[1],
                ask[0],
                ask[1],
                data.u,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _trade(self, d: TradeData, ts_recv_ns: int) -> Trade:
        """publicTrade item -> Trade (sample in `TradeData`)."""
        self._check_symbol(d.s)
        w = self._where()
        return Trade(
            VENUE,
            self.symbol,
            self.market,
            dec(d.p, field="p", **w),
            dec(d.v, field="v", **w),
            "buy" if d.S == "Buy" else "sell",
            d.i,
            ms_to_ns(d.T),
            ts_recv_ns,
        )

    def _decode(
        self, decoder: msgspec.json.Decoder[Any], body: msgspec.Raw | bytes, what: str
    ) -> Any:
        return decode(decoder, body, what, venue=VENUE, symbol=self.symbol, market=self.market)

    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise FeedError(f"frame for symbol {symbol!r} routed to this book", **self._where())

    def _where(self) -> dict[str, str]:
        return {"venue": VENUE, "symbol": self.symbol}
