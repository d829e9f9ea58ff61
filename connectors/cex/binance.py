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

Every frame is checked against the wire schemas below before anything is applied. A depth frame
that fails (wrong type, missing key, a level that is not `[price, size]` plain decimal strings),
or a frame too broken to tell what it was, leaves the book untouched and is handled like a gap:
`ResyncRequired`, out of sync. A bad bookTicker or trade frame raises `FeedError` (it does not
touch the book). A REST snapshot that fails raises `FeedError` and changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
import orjson

from connectors.cex.common import (
    NO_BODY,
    BookStats,
    EpochMs,
    Event,
    PairLevels,
    UpdateId,
    WireFrame,
    dec,
    decode,
    ms_to_ns,
    query_param,
    raw_text,
)
from operators.book import L2Book, to_levels
from operators.errors import ConfigError, FeedError
from operators.events import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
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


# -- wire schemas (field names as Binance sends them) ---------------------------------------------


class DepthUpdate(msgspec.Struct, frozen=True):
    """`<sym>@depth@100ms` diff (USD-M adds `pu`, `T`).

    Sample: {"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT","U":50093239189,"u":50093239202,
    "b":[["61737.63000000","0.00000000"]],"a":[]}

    `b` and `a` stay JSON text (`[[price, size], ...]` strings): `L2Book.apply_json` checks and
    reads a side in C at once, which a decoded list of string pairs would cost per level.
    """

    e: Literal["depthUpdate"]
    E: EpochMs
    s: str
    U: UpdateId
    u: UpdateId
    b: msgspec.Raw
    a: msgspec.Raw
    pu: UpdateId | None = None
    T: EpochMs | None = None


class DepthSnapshot(msgspec.Struct, frozen=True):
    """REST `/api/v3/depth` or `/fapi/v1/depth` body (USD-M adds `E`, `T`).

    Sample: {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"]],"asks":[...]}
    """

    lastUpdateId: UpdateId
    bids: PairLevels
    asks: PairLevels
    E: EpochMs | None = None
    T: EpochMs | None = None


class BookTicker(msgspec.Struct, frozen=True):
    """`<sym>@bookTicker` (USD-M adds `e`, `E`, `T`).

    Sample: {"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000",
    "a":"61837.64000000","A":"1.54698000"}
    """

    u: UpdateId
    s: str
    b: str
    B: str
    a: str
    A: str
    e: Literal["bookTicker"] | None = None
    E: EpochMs | None = None
    T: EpochMs | None = None


class TradeMsg(msgspec.Struct, frozen=True):
    """`<sym>@trade` (id `t`) or `<sym>@aggTrade` (id `a`).

    Sample: {"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",
    "q":"0.02000000","T":1723161255342,"m":true}
    """

    e: Literal["trade", "aggTrade"]
    s: str
    p: str
    q: str
    T: EpochMs
    m: bool
    E: EpochMs | None = None
    t: UpdateId | None = None
    a: UpdateId | None = None


class _Envelope(msgspec.Struct, frozen=True):
    """Top level of any frame: combined-stream `{"stream","data"}`, a bare payload or a reply.

    Only what tells the frame's kind is read; a combined frame's `data` stays raw bytes.
    """

    stream: str | None = None
    data: msgspec.Raw = NO_BODY
    e: str | None = None
    B: msgspec.Raw = NO_BODY
    result: msgspec.Raw = NO_BODY
    id: msgspec.Raw = NO_BODY
    code: msgspec.Raw = NO_BODY
    msg: msgspec.Raw = NO_BODY
    error: msgspec.Raw = NO_BODY


class _DepthFrame(msgspec.Struct, frozen=True):
    """A combined-stream depth frame read in one pass (the replay and graph path)."""

    stream: str
    data: DepthUpdate


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DEPTH_FRAME = msgspec.json.Decoder(_DepthFrame)
_COMBINED_PREFIX = b'{"stream":"'
"""How Binance starts every combined-stream frame (the stream name comes right after)."""
_DEPTH = msgspec.json.Decoder(DepthUpdate)
_SNAPSHOT = msgspec.json.Decoder(DepthSnapshot)
_TICKER = msgspec.json.Decoder(BookTicker)
_TRADE = msgspec.json.Decoder(TradeMsg)
_STREAM_KINDS = (("@depth", "book"), ("@bookTicker", "bbo"), ("@trade", "trade"),
                 ("@aggTrade", "trade"))  # fmt: skip
_EVENT_KINDS = {"depthUpdate": "book", "bookTicker": "bbo", "trade": "trade", "aggTrade": "trade"}


def decode_frame(
    payload: bytes, venue: str = "binance", *, symbol: str = "", market: str = ""
) -> WireFrame:
    """Read a WS frame's envelope once: its kind, stream label and undecoded body.

    Combined-stream frames are routed by their stream name; bare payloads (single-stream
    connections, tests) by `e`. `FeedError` when the frame is not a JSON object.
    """
    env = decode(_ENVELOPE, payload, "frame envelope", venue=venue, symbol=symbol, market=market)
    if env.stream is not None and env.data:
        for marker, kind in _STREAM_KINDS:
            if marker in env.stream:
                return WireFrame(kind, env.stream, env.data)  # type: ignore[arg-type]
        return WireFrame("other", env.stream, env.data)
    if env.e is not None:
        return WireFrame(_EVENT_KINDS.get(env.e, "other"), "control", payload)  # type: ignore[arg-type]
    if env.B:
        return WireFrame("bbo", "control", payload)  # a spot bookTicker has no `e`
    if env.error or (env.code and env.msg):
        detail = raw_text(env.error) if env.error else f"{raw_text(env.code)}: {raw_text(env.msg)}"
        return WireFrame("error", "control", payload, detail[:200])
    if env.id:
        return WireFrame("ack", "control", payload)
    return WireFrame("unknown", "control", payload)


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
        self._buffer: deque[tuple[DepthUpdate, int]] = deque(maxlen=max_buffered)
        self.stats = BookStats()

    # -- inputs ---------------------------------------------------------------------------------

    def on_snapshot(self, payload: bytes, ts_recv_ns: int) -> list[Event]:
        """Apply a REST depth body (/api/v3/depth, /fapi/v1/depth), then bridge buffered diffs.

        Sample: {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"]],"asks":[...]}
        A body that fails its schema or carries a bad level raises `FeedError`; nothing changes.
        """
        self.stats.frames += 1
        body: DepthSnapshot = self._decode(_SNAPSHOT, payload, "depth snapshot")
        last_id = body.lastUpdateId
        if self.in_sync and last_id <= self.last_update_id:
            # Our live book is already newer than this snapshot: keep it.
            self.stats.dropped_stale += 1
            return []
        fresh = L2Book()
        try:
            fresh.replace(body.bids, body.asks)
        except FeedError as exc:
            raise FeedError(f"bad snapshot level: {exc}", **self._where()) from exc
        ts_event_ns = ms_to_ns(body.E)
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
                to_levels(body.bids),
                to_levels(body.asks),
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
        A frame that is not even a JSON object may have been a diff: it asks for a resync.
        """
        # Depth frames are most of the book work: when the prefix names a depth stream, decode
        # the whole frame in one typed pass. Anything else, or a frame that fails it, takes the
        # general path, which classifies it exactly and names the bad field.
        if payload[:11] == _COMBINED_PREFIX and b"@depth" in payload[11:64]:
            try:
                frame = _DEPTH_FRAME.decode(payload)
            except msgspec.MsgspecError:
                pass
            else:
                if "@depth" in frame.stream:
                    self.stats.frames += 1
                    return self._on_depth(frame.data, ts_recv_ns)
        try:
            wire = decode_frame(payload, self.venue, symbol=self.symbol, market=self.market)
        except FeedError as exc:
            self.stats.frames += 1
            return self._fault(f"{exc}", 0, ts_recv_ns, None)
        return self.on_wire(wire, ts_recv_ns)

    def on_wire(self, wire: WireFrame, ts_recv_ns: int) -> list[Event]:
        """Handle a frame whose envelope `decode_frame` already read (the transport's path)."""
        self.stats.frames += 1
        kind = wire.kind
        if kind == "book":
            try:
                data: DepthUpdate = self._decode(_DEPTH, wire.body, "depthUpdate")
            except FeedError as exc:
                return self._fault(str(exc), 0, ts_recv_ns, None)
            return self._on_depth(data, ts_recv_ns)
        if kind == "bbo":
            return [self._bbo(self._decode(_TICKER, wire.body, "bookTicker"), ts_recv_ns)]
        if kind == "trade":
            return [self._trade(self._decode(_TRADE, wire.body, "trade"), ts_recv_ns)]
        if kind == "error":
            raise FeedError(f"venue error {wire.detail}", **self._where())
        if kind == "unknown":
            return self._fault(f"unrecognised frame {bytes(wire.body)[:80]!r}", 0, ts_recv_ns, None)
        self.stats.skipped += 1  # subscribe acks, streams this book does not use
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _on_depth(self, data: DepthUpdate, ts_recv_ns: int) -> list[Event]:
        self._check_symbol(data.s)
        if not self.in_sync:
            self._buffer.append((data, ts_recv_ns))
            self.stats.buffered = len(self._buffer)
            return []
        return self._apply_diff(data, ts_recv_ns)

    def _apply_diff(self, data: DepthUpdate, ts_recv_ns: int) -> list[Event]:
        first_id = data.U
        last_id = data.u
        held = self.last_update_id
        ts_event_ns = ms_to_ns(data.E)
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
                prev = data.pu
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
        try:
            bids, asks = self.book.apply_json(data.b, data.a)
        except FeedError as exc:  # nothing was applied: the book is as before this frame
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
                bids,  # validated and applied: the event keeps them as sent
                asks,
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
        keep: tuple[DepthUpdate, int] | None,
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

    def _bbo(self, data: BookTicker, ts_recv_ns: int) -> BestBidOffer:
        """bookTicker -> BestBidOffer (sample in `BookTicker`)."""
        self._check_symbol(data.s)
        w = self._where()
        return BestBidOffer(
            self.venue,
            self.symbol,
            self.market,
            dec(data.b, field="b", **w),
            dec(data.B, field="B", **w),
            dec(data.a, field="a", **w),
            dec(data.A, field="A", **w),
            data.u,
            ms_to_ns(data.E or data.T),
            ts_recv_ns,
        )

    def _trade(self, data: TradeMsg, ts_recv_ns: int) -> Trade:
        """trade / aggTrade -> Trade with the taker's side (sample in `TradeMsg`)."""
        self._check_symbol(data.s)
        w = self._where()
        trade_id = data.t if data.t is not None else data.a
        if trade_id is None:
            raise FeedError(f"{data.e} frame without a trade id (t or a)", **w)
        # m == buyer is the maker, so the taker sold.
        return Trade(
            self.venue,
            self.symbol,
            self.market,
            dec(data.p, field="p", **w),
            dec(data.q, field="q", **w),
            "sell" if data.m else "buy",
            str(trade_id),
            ms_to_ns(data.T or data.E),
            ts_recv_ns,
        )

    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise FeedError(f"frame for symbol {symbol!r} routed to this book", **self._where())

    def _decode(
        self, decoder: msgspec.json.Decoder[Any], body: msgspec.Raw | bytes, what: str
    ) -> Any:
        return decode(decoder, body, what, venue=self.venue, symbol=self.symbol, market=self.market)

    def _where(self) -> dict[str, str]:
        return {"venue": self.venue, "symbol": self.symbol}
