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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson

from connectors.cex.common import BookStats, Event, dec, loads, ms_to_ns, query_param
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

        Sample: {"retCode":0,"retMsg":"OK","result":{"s":"BTCUSDT","a":[["65557.7","16.606"]],
        "b":[["65485.47","47.081"]],"ts":1716863719031,"u":230704,"seq":1432604333,"cts":..}}
        """
        self.stats.frames += 1
        body = loads(payload, venue=VENUE, symbol=self.symbol)
        if (
            not isinstance(body, dict)
            or body.get("retCode") != 0
            or not isinstance(body.get("result"), dict)
        ):
            raise FeedError(
                f"not a Bybit orderbook body: {bytes(payload[:120])!r}", **self._where()
            )
        result = body["result"]
        self._check_symbol(result)
        return self._snapshot(result, ms_to_ns(result.get("ts")), ts_recv_ns)

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Handle one WS frame; subscribe acks and pongs are skipped.

        Sample: {"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1758845431663,"data":{"s":
        "BTCUSDT","b":[["109147.80","1.687"]],"a":[["109148.00","0"]],"u":21111423,
        "seq":457538796406},"cts":1758845431662}
        """
        self.stats.frames += 1
        msg = loads(payload, venue=VENUE, symbol=self.symbol)
        if not isinstance(msg, dict):
            raise FeedError(f"frame is not a JSON object: {bytes(payload[:80])!r}", **self._where())
        topic = msg.get("topic")
        if topic is None:
            if msg.get("success") is False:
                raise FeedError(f"venue error: {msg.get('ret_msg')}", **self._where())
            self.stats.skipped += 1  # subscribe ack, pong
            return []
        data = msg.get("data")
        ts_event_ns = ms_to_ns(msg.get("ts"))
        kind = msg.get("type")
        if topic == self._book_topic:
            if not isinstance(data, dict):
                raise FeedError(f"{topic} frame without a data object", **self._where())
            self._check_symbol(data)
            if kind == "snapshot":
                return self._snapshot(data, ts_event_ns, ts_recv_ns)
            if kind == "delta":
                return self._delta(data, ts_event_ns, ts_recv_ns)
            raise FeedError(f"{topic} frame of unknown type {kind!r}", **self._where())
        if topic == self._l1_topic:
            if not isinstance(data, dict):
                raise FeedError(f"{topic} frame without a data object", **self._where())
            return self._top_of_book(data, kind, ts_event_ns, ts_recv_ns)
        if topic == f"publicTrade.{self.symbol}":
            if not isinstance(data, list):
                raise FeedError(f"{topic} frame without a data list", **self._where())
            return [self._trade(d, ts_recv_ns) for d in data]
        if topic.startswith("orderbook."):
            raise FeedError(
                f"topic {topic!r} is not this book ({self._book_topic})", **self._where()
            )
        self.stats.skipped += 1
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _snapshot(self, data: dict[str, Any], ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        fresh = L2Book()
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            fresh.apply_levels("bid", data.get("b", ()), bids)
            fresh.apply_levels("ask", data.get("a", ()), asks)
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        u = self._int(data, "u")
        self.book = fresh
        self.last_update_id = u
        self.last_seq = int(data.get("seq") or 0)
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

    def _delta(self, data: dict[str, Any], ts_event_ns: int, ts_recv_ns: int) -> list[Event]:
        if not self.in_sync:
            self.stats.dropped_out_of_sync += 1
            return []
        u = self._int(data, "u")
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
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            self.book.apply_levels("bid", data.get("b", ()), bids)
            self.book.apply_levels("ask", data.get("a", ()), asks)
        except FeedError as exc:
            return self._fault(f"bad delta level: {exc}", ts_event_ns, ts_recv_ns)
        self.last_update_id = u
        self.last_seq = int(data.get("seq") or self.last_seq)
        self.stats.applied += 1
        if self.book.is_crossed():
            return self._fault(f"crossed book after delta u={u}", ts_event_ns, ts_recv_ns)
        return [
            BookDelta(
                VENUE,
                self.symbol,
                self.market,
                tuple(bids),
                tuple(asks),
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
        self, data: dict[str, Any], kind: Any, ts_event_ns: int, ts_recv_ns: int
    ) -> list[Event]:
        """orderbook.1 -> BestBidOffer (kept in a one-level book of its own; [] if a side is empty).

        Sample: {"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1758841134603,"data":{"s":
        "BTCUSDT","b":[["109378.80","1.273"]],"a":[["109378.90","6.278"]],"u":14869255,
        "seq":457514742271},"cts":1758841134598}
        """
        self._check_symbol(data)
        if kind == "snapshot":
            self._l1.clear()
        self._l1.apply_levels("bid", data.get("b", ()))
        self._l1.apply_levels("ask", data.get("a", ()))
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
                self._int(data, "u"),
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _trade(self, d: dict[str, Any], ts_recv_ns: int) -> Trade:
        """publicTrade item -> Trade. Sample: {"T":1758841135823,"s":"BTCUSDT","S":"Buy",
        "v":"0.020","p":"109378.90","i":"2a74ac78-691c-5b54-9dbe-5aafe8364627","seq":..}"""
        self._check_symbol(d)
        w = self._where()
        side = d.get("S")
        if side not in ("Buy", "Sell"):
            raise FeedError(f"trade side {side!r} is not Buy/Sell", **w)
        return Trade(
            VENUE,
            self.symbol,
            self.market,
            dec(d.get("p"), field="p", **w),
            dec(d.get("v"), field="v", **w),
            "buy" if side == "Buy" else "sell",
            str(d.get("i")),
            ms_to_ns(d.get("T")),
            ts_recv_ns,
        )

    def _int(self, data: dict[str, Any], field: str) -> int:
        value = data.get(field)
        if type(value) is not int:
            raise FeedError(f"field {field}={value!r} is not an integer", **self._where())
        return value

    def _check_symbol(self, data: dict[str, Any]) -> None:
        if data.get("s") != self.symbol:
            raise FeedError(
                f"frame for symbol {data.get('s')!r} routed to this book", **self._where()
            )

    def _where(self) -> dict[str, str]:
        return {"venue": VENUE, "symbol": self.symbol}
