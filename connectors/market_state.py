"""Per-market state run inside the graph's `market_state` step, and the frame router.

A market is a key: `venue:symbol` for CEX books, `venue:address` for DEX pools. The router maps
each raw frame to its market from config; the state object turns that market's frames into
venue views (plus health events and trades). CEX books are the venues' sans-I/O `BookSync`;
CLMM pools are decoded here and kept by `operators.pool_state.ClmmPoolState`; on-chain CLOBs
(Phoenix market, OpenBook v2 market + bids + asks) are decoded here and kept by
`operators.pool_state.ClobMarketState`. A DEX account that fails to decode or does not belong
to its market is reported (`HealthEvent` "bad_account"), counted, and never applied.
"""

from __future__ import annotations

import importlib
import struct
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from config import MarketSettings, PairSettings, Settings
from connectors.solana import openbook, orca, phoenix, raydium_clmm
from operators.clob import BookSide, OpenBookMarket, PhoenixMarket
from operators.errors import DecodeError, FeedError
from operators.events import (
    BookDelta,
    BookSnapshot,
    HealthEvent,
    PoolUpdate,
    RawFrame,
    ResyncRequired,
    Trade,
)
from operators.pool_state import ClmmPoolState, ClobMarketState, array_pool_address
from operators.views import CexBookView, ClmmView, ClobView

CEX_MODULES = {
    "binance": "connectors.cex.binance",
    "binance-usdm": "connectors.cex.binance",
    "okx": "connectors.cex.okx",
    "bybit": "connectors.cex.bybit",
}
CLMM_VENUES = frozenset({"orca", "raydium_clmm"})
CLOB_VENUES = frozenset({"phoenix", "openbook"})


def _cex_module(venue: str) -> ModuleType:
    try:
        return importlib.import_module(CEX_MODULES[venue])
    except KeyError as exc:
        raise FeedError(f"no CEX codec for venue {venue!r}", venue=venue) from exc


@dataclass(frozen=True, slots=True)
class MarketRef:
    """A configured market and the pair it belongs to."""

    market: MarketSettings
    pair: PairSettings


class Router:
    """Map raw frames to market ids (and market ids to pairs) from the configured markets."""

    def __init__(self, settings: Settings) -> None:
        self.by_id: dict[str, MarketRef] = {}
        self._cex: dict[tuple[str, str], str] = {}
        self._dex: dict[tuple[str, str], str] = {}
        for pair in settings.pairs:
            for m in pair.markets:
                self.by_id[m.market_id] = MarketRef(m, pair)
                if m.venue in CEX_MODULES:
                    self._cex[(m.venue, m.symbol.upper())] = m.market_id
                else:
                    self._dex[(m.venue, m.address)] = m.market_id
        self.unrouted = 0
        self._codecs: dict[str, ModuleType] = {}

    def market_of(self, frame: RawFrame) -> str | None:
        """The market id a frame belongs to, or None (counted) when no configured market has it."""
        if frame.kind == "account":
            mid = self._dex.get((frame.source, frame.stream.split(":", 1)[0]))
        elif frame.source in CEX_MODULES:
            codec = self._codecs.get(frame.source)
            if codec is None:
                codec = self._codecs[frame.source] = _cex_module(frame.source)
            sym = codec.stream_symbol(frame.stream)
            mid = self._cex.get((frame.source, sym.upper())) if sym else None
        else:
            mid = None
        if mid is None:
            self.unrouted += 1
        return mid

    def pair_of(self, market_id: str) -> str:
        """Trading pair of a market id."""
        return self.by_id[market_id].pair.name


class CexMarketState:
    """One CEX book: frames in, `CexBookView`s (top `depth` levels), health and trades out."""

    def __init__(self, ref: MarketRef, depth: int, taker_fee_bps: float) -> None:
        m = ref.market
        self.ref = ref
        self.depth = depth
        self.taker_fee_bps = taker_fee_bps
        self.sync = _cex_module(m.venue).BookSync(m.symbol, m.market)
        self.frames = 0
        self.resyncs = 0
        self.bad_frames = 0
        self.views = 0
        self.feed_down = False

    def on_frame(self, f: RawFrame) -> list[Any]:
        """Apply one frame; emit a fresh view whenever the book (or its sync state) changed."""
        self.frames += 1
        m = self.ref.market
        try:
            events = (
                self.sync.on_snapshot(f.payload, f.ts_recv_ns)
                if f.kind == "rest"
                else self.sync.on_frame(f.payload, f.ts_recv_ns)
            )
        except FeedError as exc:
            # Only frames that cannot change the book raise (a bad ticker or trade, a frame
            # routed to the wrong symbol, a venue error reply, a bad REST body): the book is
            # as it was and still valid. A bad book frame comes back as ResyncRequired below.
            self.bad_frames += 1
            return [HealthEvent(m.market_id, "bad_frame", str(exc), f.ts_recv_ns, f.ts_recv_ns)]
        out: list[Any] = []
        changed = False
        ts_event = 0
        for e in events:
            if isinstance(e, BookDelta | BookSnapshot):
                changed = True
                ts_event = e.ts_event_ns
            elif isinstance(e, ResyncRequired):
                changed = True
                self.resyncs += 1
                out.append(
                    HealthEvent(m.market_id, "resync", e.reason, e.ts_event_ns, e.ts_recv_ns)
                )
            elif isinstance(e, Trade):
                out.append(e)
        if changed:
            out.append(self._view(ts_event, f.ts_recv_ns, f.ts_ingest_ns))
        return out

    def on_health(self, event: HealthEvent) -> list[Any]:
        """Transport health of this venue's connection: while it is down or stalled the book
        can be silently behind, so its view is flagged out of sync at once; the transport's
        resync (gap or fresh snapshot) is what makes it tradeable again."""
        if event.source != self.ref.market.venue:
            return []
        if event.status in ("down", "stale") and not self.feed_down:
            self.feed_down = True
            return [self._view(event.ts_event_ns, event.ts_recv_ns, 0)]
        if event.status == "up" and self.feed_down:
            self.feed_down = False
        return []

    def _view(self, ts_event_ns: int, ts_recv_ns: int, ts_ingest_ns: int) -> CexBookView:
        m = self.ref.market
        self.views += 1
        bids, asks = self.sync.book.top_fixed(self.depth)
        return CexBookView(
            venue=m.venue,
            market_id=m.market_id,
            pair=self.ref.pair.name,
            market=m.market,
            quote_currency=m.quote_currency,
            bids=tuple(bids),
            asks=tuple(asks),
            update_id=getattr(self.sync, "last_update_id", 0) or 0,
            in_sync=bool(self.sync.in_sync) and not self.feed_down,
            ts_event_ns=ts_event_ns,
            ts_recv_ns=ts_recv_ns,
            taker_fee_bps=self.taker_fee_bps,
            ts_ingest_ns=ts_ingest_ns,
        )


class _DexState:
    """What the CLMM and CLOB states share: view counting and the ingest stamp."""

    views: int

    def _stamp(self, out: list[Any], f: RawFrame) -> list[Any]:
        """Count the views of one frame and stamp them with its ingest time."""
        n = 0
        stamped = []
        for v in out:
            if isinstance(v, ClmmView | ClobView):
                n += 1
                if f.ts_ingest_ns:
                    v = replace(v, ts_ingest_ns=f.ts_ingest_ns)
            stamped.append(v)
        self.views += n
        return stamped


class ClmmMarketState(_DexState):
    """One CLMM pool: account frames decoded and applied (slot-ordered) to `ClmmPoolState`."""

    _DECODERS: dict[str, dict[bytes, tuple[str, str]]] = {
        "orca": {
            orca.DISC_WHIRLPOOL: ("pool", "decode_whirlpool"),
            orca.DISC_TICK_ARRAY: ("tick_array", "decode_tick_array"),
            orca.DISC_DYNAMIC_TICK_ARRAY: ("tick_array", "decode_tick_array"),
        },
        "raydium_clmm": {
            raydium_clmm.DISC_POOL_STATE: ("pool", "decode_pool_state"),
            raydium_clmm.DISC_AMM_CONFIG: ("amm_config", "decode_amm_config"),
            raydium_clmm.DISC_TICK_ARRAY: ("tick_array", "decode_tick_array"),
            raydium_clmm.DISC_BITMAP_EXTENSION: (
                "bitmap_extension",
                "decode_tick_array_bitmap_extension",
            ),
        },
    }
    _MODULES = {"orca": orca, "raydium_clmm": raydium_clmm}

    def __init__(self, ref: MarketRef, stale_after_ns: int) -> None:
        m = ref.market
        self.ref = ref
        self.codec: ModuleType = self._MODULES[m.venue]
        self.state = ClmmPoolState(
            m.venue,
            m.market_id,
            ref.pair.name,
            m.quote_currency,
            m.base_is_a,
            stale_after_ns=stale_after_ns,
        )
        self.frames = 0
        self.decode_errors = 0
        self.views = 0

    def on_health(self, event: HealthEvent) -> list[Any]:
        """Solana feed health (down/lag/resync/up heartbeat) and the clock it carries."""
        return [*self.state.on_health(event), *self.state.on_clock(event.ts_recv_ns)]

    def on_frame(self, f: RawFrame) -> list[Any]:
        """Decode one account frame and apply it; a bad account is reported, never applied."""
        self.frames += 1
        m = self.ref.market
        account = f.stream.split(":", 1)[-1]
        entry = self._DECODERS[m.venue].get(bytes(f.payload[:8]))
        try:
            if entry is None:
                raise DecodeError("unknown account discriminator", account=account)
            role, fn = entry
            decoded = getattr(self.codec, fn)(f.payload)
            owner = array_pool_address(decoded) if role != "pool" else None
            if owner is not None and owner != m.address:
                # checked before applying: the pool state must never hold another pool's arrays
                raise DecodeError(
                    f"{role} belongs to pool {owner}, not {m.address}", account=account
                )
            update = PoolUpdate(
                m.venue, m.market_id, account, role, decoded, f.slot or 0, f.ts_recv_ns,
                f.ts_recv_ns,
            )  # fmt: skip
            out: list[Any] = list(self.state.on_account(update))
        except DecodeError as exc:
            self.decode_errors += 1
            return [_bad_account(m.market_id, exc, f)]
        return self._stamp(out, f)


def _bad_account(market_id: str, exc: DecodeError, f: RawFrame) -> HealthEvent:
    account = f.stream.split(":", 1)[-1]
    detail = str(exc)
    if account not in detail:  # codecs name the account kind; the report names the pubkey
        detail = f"{account}: {detail}"
    return HealthEvent(market_id, "bad_account", detail, f.ts_recv_ns, f.ts_recv_ns)


_PHOENIX_DISCRIMINANT = struct.pack("<Q", phoenix.MARKET_DISCRIMINANT)


class ClobMarketStateAdapter(_DexState):
    """One on-chain CLOB market: account frames decoded and applied to `ClobMarketState`.

    Phoenix keeps the whole book in its market account. OpenBook v2 splits it into the market
    and two BookSide accounts whose role (bids / asks) is the market's `bids` / `asks` pubkey:
    a side is only applied once the market says which account it is, so a side that arrives
    first is held back (latest per account) and applied right after the market.
    """

    def __init__(self, ref: MarketRef, stale_after_ns: int) -> None:
        m = ref.market
        if m.venue not in CLOB_VENUES:
            raise FeedError(f"market {m.market_id}: {m.venue!r} is not a CLOB venue", venue=m.venue)
        self.ref = ref
        self.state = ClobMarketState(
            m.venue, m.market_id, ref.pair.name, m.quote_currency, stale_after_ns=stale_after_ns
        )
        self.frames = 0
        self.decode_errors = 0
        self.views = 0
        self.pending_sides: dict[str, tuple[BookSide, RawFrame]] = {}
        """OpenBook book sides received before any market account, by account pubkey."""

    def on_health(self, event: HealthEvent) -> list[Any]:
        """Solana feed health (down/lag/resync/up heartbeat) and the clock it carries."""
        return [*self.state.on_health(event), *self.state.on_clock(event.ts_recv_ns)]

    def on_frame(self, f: RawFrame) -> list[Any]:
        """Decode one account frame and apply it; a bad account is reported, never applied."""
        self.frames += 1
        m = self.ref.market
        account = f.stream.split(":", 1)[-1]
        try:
            out = self._apply(account, f)
        except DecodeError as exc:
            self.decode_errors += 1
            return [_bad_account(m.market_id, exc, f)]
        return self._stamp(out, f)

    def _apply(self, account: str, f: RawFrame) -> list[Any]:
        m = self.ref.market
        head = bytes(f.payload[:8])
        if m.venue == "phoenix":
            if head != _PHOENIX_DISCRIMINANT:
                raise DecodeError("not a Phoenix MarketHeader (discriminant)", account=account)
            self._check_market_account(account)
            market = phoenix.decode_market(f.payload)
            if market.base_lot_size <= 0 or market.base_lots_per_base_unit <= 0:
                raise DecodeError(
                    f"lot sizes not initialised (base_lot_size {market.base_lot_size}, "
                    f"base_lots_per_base_unit {market.base_lots_per_base_unit})",
                    account=account,
                )
            return self._update(account, "market", market, f)
        if head == openbook.MARKET_DISCRIMINATOR:
            self._check_market_account(account)
            ob_market = openbook.decode_market(f.payload)
            if ob_market.base_lot_size <= 0 or ob_market.quote_lot_size <= 0:
                raise DecodeError(
                    f"lot sizes must be positive (base {ob_market.base_lot_size}, "
                    f"quote {ob_market.quote_lot_size})",
                    account=account,
                )
            out = self._update(account, "market", ob_market, f)
            return out + self._release_pending(ob_market)
        if head == openbook.BOOK_SIDE_DISCRIMINATOR:
            side = openbook.decode_book_side(f.payload)
            held = self.state.market.decoded if self.state.market is not None else None
            if not isinstance(held, OpenBookMarket):
                if account not in self.pending_sides and len(self.pending_sides) >= 2:
                    # a market has two sides: a third account cannot be one (bounded memory)
                    raise DecodeError(
                        f"a third book side before any market account ({sorted(self.pending_sides)}"
                        " held)",
                        account=account,
                    )
                self.pending_sides[account] = (side, f)
                return []
            return self._update(account, self._side_role(held, account, side), side, f)
        raise DecodeError(f"unknown {m.venue} account discriminator {head.hex()}", account=account)

    def _check_market_account(self, account: str) -> None:
        address = self.ref.market.address
        if account != address:
            raise DecodeError(f"a market account at {account}, not at {address}", account=account)

    @staticmethod
    def _side_role(market: OpenBookMarket, account: str, side: BookSide) -> str:
        role = "bids" if account == market.bids else "asks" if account == market.asks else None
        if role is None:
            raise DecodeError(
                f"book side is neither the market's bids {market.bids} nor asks {market.asks}",
                account=account,
            )
        if side.side != role:
            raise DecodeError(
                f"account is the market's {role} but its order_tree_type says {side.side}",
                account=account,
            )
        return role

    def _release_pending(self, market: OpenBookMarket) -> list[Any]:
        """Apply held-back sides now that the market names its bids/asks (others: bad)."""
        out: list[Any] = []
        pending, self.pending_sides = self.pending_sides, {}
        for account, (side, f) in sorted(pending.items(), key=lambda kv: kv[1][1].ts_recv_ns):
            try:
                out += self._update(account, self._side_role(market, account, side), side, f)
            except DecodeError as exc:
                self.decode_errors += 1
                out.append(_bad_account(self.ref.market.market_id, exc, f))
        return out

    def _update(
        self, account: str, role: str, decoded: PhoenixMarket | OpenBookMarket | BookSide,
        f: RawFrame,
    ) -> list[Any]:  # fmt: skip
        m = self.ref.market
        update = PoolUpdate(
            m.venue, m.market_id, account, role, decoded, f.slot or 0, f.ts_recv_ns, f.ts_recv_ns
        )
        return list(self.state.on_account(update))


MarketState = CexMarketState | ClmmMarketState | ClobMarketStateAdapter
"""Any per-market state object the graph keeps."""


def build_market_state(settings: Settings, router: Router, market_id: str) -> MarketState:
    """The state object for one configured market."""
    ref = router.by_id[market_id]
    venue = ref.market.venue
    if venue in CEX_MODULES:
        return CexMarketState(ref, settings.engine.book_depth, settings.venues[venue].taker_fee_bps)
    if venue in CLMM_VENUES:
        return ClmmMarketState(ref, settings.engine.stale_after_ms * 1_000_000)
    if venue in CLOB_VENUES:
        return ClobMarketStateAdapter(ref, settings.engine.stale_after_ms * 1_000_000)
    raise FeedError(f"market {market_id}: venue kind not wired into the graph yet", venue=venue)
