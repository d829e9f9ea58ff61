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

A gap, checksum mismatch or crossed book emits `ResyncRequired` and flags the book out of sync;
updates are then ignored until the next snapshot (the transport resubscribes, or feeds the REST
book to `on_snapshot` as a fallback).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from connectors.cex.common import BookStats, Event, dec, loads, ms_to_ns, query_param
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

        Sample: {"code":"0","msg":"","data":[{"asks":[["41006.8","0.6","0","1"]],"bids":[..],
        "ts":"1629966436396"}]}
        """
        self.stats.frames += 1
        body = loads(payload, venue=VENUE, symbol=self.symbol)
        if not isinstance(body, dict) or body.get("code") != "0" or not body.get("data"):
            raise FeedError(f"not an OKX books body: {bytes(payload[:120])!r}", **self._where())
        return self._snapshot(body["data"][0], ts_recv_ns, rest=True)

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Handle one WS frame; `pong` and subscribe acks are skipped.

        Sample: {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":
        [["30238.8","0","0","0"]],"bids":[],"ts":"1652459225807","checksum":-1292166418}]}
        """
        self.stats.frames += 1
        if payload in (b"pong", "pong"):
            self.stats.skipped += 1
            return []
        msg = loads(payload, venue=VENUE, symbol=self.symbol)
        if not isinstance(msg, dict):
            raise FeedError(f"frame is not a JSON object: {bytes(payload[:80])!r}", **self._where())
        event = msg.get("event")
        if event is not None:
            if event == "error":
                raise FeedError(f"venue error {msg.get('code')}: {msg.get('msg')}", **self._where())
            self.stats.skipped += 1  # subscribe / unsubscribe / login acks
            return []
        arg = msg.get("arg")
        data = msg.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            raise FeedError(f"frame without arg/data: {bytes(payload[:80])!r}", **self._where())
        if arg.get("instId") != self.symbol:
            raise FeedError(
                f"frame for instId {arg.get('instId')!r} routed to this book", **self._where()
            )
        channel = arg.get("channel")
        if channel in BOOK_CHANNELS:
            if len(data) != 1 or not isinstance(data[0], dict):
                raise FeedError(f"{channel} frame must carry one book object", **self._where())
            if msg.get("action") == "snapshot":
                return self._snapshot(data[0], ts_recv_ns, rest=False)
            return self._update(data[0], ts_recv_ns)
        if channel == "tickers":
            return [b for d in data if (b := self._bbo(d, ts_recv_ns)) is not None]
        if channel == "trades":
            return [self._trade(d, ts_recv_ns) for d in data]
        self.stats.skipped += 1
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _snapshot(self, data: dict[str, Any], ts_recv_ns: int, *, rest: bool) -> list[Event]:
        fresh = L2Book()
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            fresh.apply_levels("bid", data.get("bids", ()), bids)
            fresh.apply_levels("ask", data.get("asks", ()), asks)
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        ts_event_ns = ms_to_ns(data.get("ts"))
        seq = data.get("seqId")
        # A snapshot replaces whatever was held, even a live book (resubscribe case).
        self.book = fresh
        self._last_seq = seq if type(seq) is int else None
        self.last_update_id = seq if type(seq) is int else 0
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

    def _update(self, data: dict[str, Any], ts_recv_ns: int) -> list[Event]:
        if not self.in_sync:
            self.stats.dropped_out_of_sync += 1
            return []
        ts_event_ns = ms_to_ns(data.get("ts"))
        seq = data.get("seqId")
        prev = data.get("prevSeqId")
        if type(seq) is int and self._last_seq is not None and prev != self._last_seq:
            return self._fault(
                f"gap: prevSeqId={prev} != last seqId={self._last_seq}", ts_event_ns, ts_recv_ns
            )
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            self.book.apply_levels("bid", data.get("bids", ()), bids)
            self.book.apply_levels("ask", data.get("asks", ()), asks)
        except FeedError as exc:
            return self._fault(f"bad update level: {exc}", ts_event_ns, ts_recv_ns)
        if type(seq) is int:
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
                tuple(bids),
                tuple(asks),
                self.last_update_id,
                self.last_update_id,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _verify(
        self, data: dict[str, Any], ts_event_ns: int, ts_recv_ns: int, *, skip_checksum: bool
    ) -> list[Event]:
        """Crossed-book and checksum checks after a frame is applied; a fault list or []."""
        if self.book.is_crossed():
            return self._fault("crossed book", ts_event_ns, ts_recv_ns)
        if skip_checksum:
            return []
        expected = data.get("checksum")
        if type(expected) is not int or expected == 0:
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

    def _bbo(self, d: dict[str, Any], ts_recv_ns: int) -> BestBidOffer | None:
        """tickers item -> BestBidOffer; None when a side is empty (e.g. an option with no bid).

        Sample: {"instId":"BTC-USDT","last":"30218.8","askPx":"30220.1","askSz":"3",
        "bidPx":"30210.4","bidSz":"4","ts":"1652459223003",...}
        """
        fields = ("bidPx", "bidSz", "askPx", "askSz")
        if any(not d.get(f) for f in fields):
            self.stats.skipped += 1
            return None
        w = self._where()
        bp, bq, ap, aq = (dec(d[f], field=f, **w) for f in fields)
        return BestBidOffer(
            VENUE, self.symbol, self.market, bp, bq, ap, aq, 0, ms_to_ns(d.get("ts")), ts_recv_ns
        )

    def _trade(self, d: dict[str, Any], ts_recv_ns: int) -> Trade:
        """trades item -> Trade. Sample: {"instId":"BTC-USD-220527","tradeId":"7849",
        "px":"30218.8","sz":"1","side":"buy","ts":"1652459199958"}"""
        w = self._where()
        side = d.get("side")
        if side not in ("buy", "sell"):
            raise FeedError(f"trade side {side!r} is not buy/sell", **w)
        return Trade(
            VENUE,
            self.symbol,
            self.market,
            dec(d.get("px"), field="px", **w),
            dec(d.get("sz"), field="sz", **w),
            side,
            str(d.get("tradeId")),
            ms_to_ns(d.get("ts")),
            ts_recv_ns,
        )

    def _where(self) -> dict[str, str]:
        return {"venue": VENUE, "symbol": self.symbol}
