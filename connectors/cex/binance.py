"""Binance spot and USD-M perpetual L2 book synchroniser (sans-I/O): REST snapshot + WS diffs.

The rules (binance-spot-api-docs "How to manage a local order book correctly", and the USD-M
equivalent), which differ between the two markets:

- spot `<sym>@depth@100ms`: buffer diffs until the REST snapshot (lastUpdateId L) arrives; drop
  diffs with u <= L; the first applied diff must have U <= L+1 <= u; then each U == prev.u + 1.
- USD-M `<sym>@depth@0ms|@100ms` (carries `pu`): drop u < L; the first applied diff must have
  U <= L <= u; then each pu == prev.u. (The spot rule fails on real USD-M data: the first
  bridging diff can have u == L.)

Any break emits `ResyncRequired` for this symbol only, flags the book out of sync and asks for a
new snapshot (`needs_snapshot`); diffs keep being buffered (bounded) so the next snapshot can
bridge without waiting. The parser never does I/O: the transport reacts to `needs_snapshot`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from connectors.cex.common import BookStats, Event, dec, loads, ms_to_ns, query_param
from operators.book import L2Book, to_levels
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

VENUE_BY_MARKET: dict[str, str] = {"spot": "binance", "perp": "binance-usdm"}
WS_BASE: dict[str, str] = {
    "spot": "wss://stream.binance.com:9443/stream",
    "perp": "wss://fstream.binance.com/stream",
}
REST_BASE: dict[str, str] = {"spot": "https://api.binance.com", "perp": "https://fapi.binance.com"}
_FAPI_LIMITS = frozenset({5, 10, 20, 50, 100, 500, 1000})
DEFAULT_MAX_BUFFERED = 10_000
"""Diffs held while out of sync (~16 min of depth@100ms); older ones fall off the front."""


def _check_market(market: str) -> None:
    if market not in VENUE_BY_MARKET:
        raise ConfigError(f"binance: market must be 'spot' or 'perp', got {market!r}")


def stream_symbol(stream: str) -> str | None:
    """Venue symbol (upper case) of a WS stream name or REST depth endpoint; None otherwise."""
    s = stream.strip()
    if s.startswith(("GET ", "/")):
        path = s.removeprefix("GET ").strip()
        if path.split("?", 1)[0] not in ("/api/v3/depth", "/fapi/v1/depth"):
            return None
        sym = query_param(path, "symbol")
        return sym.upper() if sym else None
    name, at, _ = s.partition("@")
    if not at or not name or name.startswith("!"):
        return None
    return name.upper()


def subscribe_message(
    symbols: Sequence[str], market: MarketKind, *, depth_speed_ms: int = 100, request_id: int = 1
) -> bytes:
    """WS SUBSCRIBE request for depth diffs, bookTicker and trades of `symbols` (JSON bytes)."""
    _check_market(market)
    if depth_speed_ms not in (0, 100, 250, 500, 1000):
        raise ConfigError(
            f"binance: depth_speed_ms must be 0/100/250/500/1000, not {depth_speed_ms}"
        )
    depth = "depth" if depth_speed_ms == 1000 else f"depth@{depth_speed_ms}ms"
    params = []
    for sym in symbols:
        low = sym.lower()
        params += [f"{low}@{depth}", f"{low}@bookTicker", f"{low}@trade"]
    return orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": request_id})


def snapshot_path(symbol: str, market: MarketKind, limit: int = 1000) -> str:
    """REST path (no host; see REST_BASE) of the depth snapshot for `symbol`, `limit` levels."""
    _check_market(market)
    if market == "spot":
        if not 1 <= limit <= 5000:
            raise ConfigError(f"binance spot depth limit must be 1..5000, not {limit}")
        return f"/api/v3/depth?symbol={symbol.upper()}&limit={limit}"
    if limit not in _FAPI_LIMITS:
        raise ConfigError(f"binance-usdm depth limit must be one of {sorted(_FAPI_LIMITS)}")
    return f"/fapi/v1/depth?symbol={symbol.upper()}&limit={limit}"


class BookSync:
    """One symbol's book: feed it REST snapshots and WS frames, read `book` when `in_sync`."""

    def __init__(
        self, symbol: str, market: MarketKind, *, max_buffered: int = DEFAULT_MAX_BUFFERED
    ) -> None:
        _check_market(market)
        self.symbol = symbol.upper()
        self.market: MarketKind = market
        self.venue = VENUE_BY_MARKET[market]
        self._futures = market == "perp"
        self.book = L2Book()
        self.in_sync = False
        self.needs_snapshot = True
        self.last_update_id = 0
        """lastUpdateId of the snapshot, then u of the last applied diff."""
        self._first_pending = False
        self._max_buffered = max_buffered
        self._buffer: deque[tuple[dict[str, Any], int]] = deque(maxlen=max_buffered)
        self.stats = BookStats()

    # -- inputs ---------------------------------------------------------------------------------

    def on_snapshot(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Apply a REST depth body (/api/v3/depth, /fapi/v1/depth), then bridge buffered diffs.

        Sample: {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"]],"asks":[...]}
        """
        self.stats.frames += 1
        body = loads(payload, venue=self.venue, symbol=self.symbol)
        if not isinstance(body, dict) or type(body.get("lastUpdateId")) is not int:
            raise FeedError(f"not a depth snapshot: {bytes(payload[:120])!r}", **self._where())
        last_id: int = body["lastUpdateId"]
        if self.in_sync and last_id <= self.last_update_id:
            # Our live book is already newer than this snapshot: keep it.
            self.stats.dropped_stale += 1
            return []
        fresh = L2Book()
        try:
            fresh.replace(body.get("bids", ()), body.get("asks", ()))
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        ts_event_ns = ms_to_ns(body.get("E"))
        if fresh.is_crossed():
            return self._fault("REST snapshot is crossed", ts_event_ns, ts_recv_ns, None)
        self.book = fresh
        self.last_update_id = last_id
        self._first_pending = True
        self.in_sync = True
        self.needs_snapshot = False
        self.stats.applied += 1
        events: list[Event] = [
            BookSnapshot(
                self.venue,
                self.symbol,
                self.market,
                to_levels(body.get("bids", ())),
                to_levels(body.get("asks", ())),
                last_id,
                ts_event_ns,
                ts_recv_ns,
            )
        ]
        pending, self._buffer = self._buffer, deque(maxlen=self._max_buffered)
        for data, ts in pending:
            if self.in_sync:
                events += self._apply_diff(data, ts)
            else:
                self._buffer.append((data, ts))
        self.stats.buffered = len(self._buffer)
        return events

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Handle one WS frame (combined-stream envelope or bare payload); events out.

        Sample depth: {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,
        "s":"BTCUSDT","U":50093239189,"u":50093239202,"b":[["61737.63000000","0.00000000"]],"a":[]}}
        """
        self.stats.frames += 1
        msg = loads(payload, venue=self.venue, symbol=self.symbol)
        if not isinstance(msg, dict):
            raise FeedError(f"frame is not a JSON object: {bytes(payload[:80])!r}", **self._where())
        data = msg["data"] if "stream" in msg and "data" in msg else msg
        if not isinstance(data, dict):
            raise FeedError(
                f"frame data is not an object: {bytes(payload[:80])!r}", **self._where()
            )
        kind = data.get("e")
        if kind == "depthUpdate":
            self._check_symbol(data)
            if not self.in_sync:
                self._buffer.append((data, ts_recv_ns))
                self.stats.buffered = len(self._buffer)
                return []
            return self._apply_diff(data, ts_recv_ns)
        if kind == "bookTicker" or (kind is None and "u" in data and "B" in data):
            return [self._bbo(data, ts_recv_ns)]
        if kind in ("trade", "aggTrade"):
            return [self._trade(data, ts_recv_ns)]
        if "result" in data and "id" in data:
            self.stats.skipped += 1  # subscribe / unsubscribe ack
            return []
        if "code" in data and "msg" in data:
            raise FeedError(f"venue error {data['code']}: {data['msg']}", **self._where())
        self.stats.skipped += 1
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _apply_diff(self, data: dict[str, Any], ts_recv_ns: int) -> list[Event]:
        first_id = data.get("U")
        last_id = data.get("u")
        if type(first_id) is not int or type(last_id) is not int:
            raise FeedError(
                f"depth diff without integer U/u: U={first_id!r} u={last_id!r}", **self._where()
            )
        held = self.last_update_id
        ts_event_ns = data.get("E", 0) * 1_000_000
        if self._first_pending:
            # First diff after a snapshot: stale ones are skipped, the next must bridge L.
            if last_id < held or (last_id == held and not self._futures):
                self.stats.dropped_stale += 1
                return []
            bridge = held if self._futures else held + 1
            if first_id > bridge:
                return self._fault(
                    f"first diff U={first_id} > {bridge} after snapshot lastUpdateId={held}",
                    ts_event_ns,
                    ts_recv_ns,
                    (data, ts_recv_ns),
                )
        else:
            if last_id <= held:
                self.stats.dropped_stale += 1
                return []
            if self._futures:
                prev = data.get("pu")
                if prev != held:
                    return self._fault(
                        f"gap: pu={prev} != previous u={held}",
                        ts_event_ns,
                        ts_recv_ns,
                        (data, ts_recv_ns),
                    )
            elif first_id != held + 1:
                return self._fault(
                    f"gap: U={first_id} != previous u+1={held + 1}",
                    ts_event_ns,
                    ts_recv_ns,
                    (data, ts_recv_ns),
                )
        bids: list[Level] = []
        asks: list[Level] = []
        try:
            self.book.apply_levels("bid", data.get("b", ()), bids)
            self.book.apply_levels("ask", data.get("a", ()), asks)
        except FeedError as exc:
            return self._fault(f"bad diff level: {exc}", ts_event_ns, ts_recv_ns, None)
        self.last_update_id = last_id
        self._first_pending = False
        self.stats.applied += 1
        if self.book.is_crossed():
            return self._fault(
                f"crossed book after diff u={last_id}", ts_event_ns, ts_recv_ns, None
            )
        return [
            BookDelta(
                self.venue,
                self.symbol,
                self.market,
                tuple(bids),
                tuple(asks),
                first_id,
                last_id,
                ts_event_ns,
                ts_recv_ns,
            )
        ]

    def _fault(
        self,
        reason: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        keep: tuple[dict[str, Any], int] | None,
    ) -> list[Event]:
        """Flag out of sync, ask for a snapshot, keep `keep` (the newer diff) buffered."""
        self.in_sync = False
        self.needs_snapshot = True
        self._first_pending = False
        # While in sync nothing is buffered, so appending keeps exactly the diffs newer than
        # the fault (or, while bridging a snapshot, the rest of the buffer follows this one).
        if keep is not None:
            self._buffer.append(keep)
        self.stats.buffered = len(self._buffer)
        self.stats.resyncs += 1
        return [
            ResyncRequired(self.venue, self.symbol, self.market, reason, ts_event_ns, ts_recv_ns)
        ]

    # -- non-book frames ------------------------------------------------------------------------

    def _bbo(self, data: dict[str, Any], ts_recv_ns: int) -> BestBidOffer:
        """bookTicker -> BestBidOffer. Sample: {"u":50093239212,"s":"BTCUSDT","b":"61837.63000000",
        "B":"3.78826000","a":"61837.64000000","A":"1.54698000"}"""
        self._check_symbol(data)
        w = self._where()
        return BestBidOffer(
            self.venue,
            self.symbol,
            self.market,
            dec(data.get("b"), field="b", **w),
            dec(data.get("B"), field="B", **w),
            dec(data.get("a"), field="a", **w),
            dec(data.get("A"), field="A", **w),
            int(data.get("u", 0)),
            ms_to_ns(data.get("E") or data.get("T")),
            ts_recv_ns,
        )

    def _trade(self, data: dict[str, Any], ts_recv_ns: int) -> Trade:
        """trade -> Trade (taker side). Sample: {"e":"trade","E":1723161255343,"s":"BTCUSDT",
        "t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true}"""
        self._check_symbol(data)
        w = self._where()
        trade_id = data.get("t", data.get("a"))
        # m == buyer is the maker, so the taker sold.
        return Trade(
            self.venue,
            self.symbol,
            self.market,
            dec(data.get("p"), field="p", **w),
            dec(data.get("q"), field="q", **w),
            "sell" if data.get("m") else "buy",
            str(trade_id),
            ms_to_ns(data.get("T") or data.get("E")),
            ts_recv_ns,
        )

    def _check_symbol(self, data: dict[str, Any]) -> None:
        if data.get("s") != self.symbol:
            raise FeedError(
                f"frame for symbol {data.get('s')!r} routed to this book", **self._where()
            )

    def _where(self) -> dict[str, str]:
        return {"venue": self.venue, "symbol": self.symbol}
