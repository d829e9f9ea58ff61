"""Per-market state, kept inside the graph's `pair_state` step, and the frame router.

A market is a key: `venue:symbol` for CEX books, `venue:address` for DEX pools. The router maps
each raw frame to its market from config; the state object turns that market's frames into
venue views (plus health events and trades). CEX books are the venues' sans-I/O `BookSync`;
CLMM pools are decoded here and kept by `operators.pool_state.ClmmPoolState`; on-chain CLOBs
(Phoenix market, OpenBook v2 market + bids + asks) are decoded here and kept by
`operators.pool_state.ClobMarketState`. A DEX account that fails to decode, breaks an on-chain
invariant or does not belong to its market is reported (`HealthEvent` "bad_account"), counted,
and never applied; the last good state is kept, and when the view is built from that account it
is re-emitted flagged (not in sync) until the account decodes again.
"""

from __future__ import annotations

from typing import Any

from config import Settings
from connectors import venues
from connectors.venues import CexAdapter, DexAdapter
from engine.router import MarketRef, Router
from operators.clob import BookSide, OpenBookMarket, PhoenixMarket
from operators.errors import ConfigError, DecodeError, FeedError
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


class CexMarketState:
    """One CEX book: frames in, `CexBookView`s (top `depth` levels), health and trades out."""

    def __init__(self, ref: MarketRef, depth: int, taker_fee_bps: float) -> None:
        m = ref.market
        self.ref = ref
        self.depth = depth
        self.taker_fee_bps = taker_fee_bps
        self.sync = venues.cex(m.venue).book_sync(m.symbol, m.market)
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
        """Transport health of this venue's connection: while it is down or stale (no market
        data for the venue's budget) the book can be silently behind, so its view is flagged
        out of sync at once. Only `up` (the transport saw data flow with every book in sync)
        lifts the flag, and then the next frame's view, not an old one, is in sync again."""
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
        # tuples reused while no write reached the top `depth` levels (`top_fixed_view`)
        bids, asks = self.sync.book.top_fixed_view(self.depth)
        return CexBookView(
            venue=m.venue,
            market_id=m.market_id,
            pair=self.ref.pair.name,
            market=m.market,
            quote_currency=m.quote_currency,
            bids=bids,
            asks=asks,
            update_id=getattr(self.sync, "last_update_id", 0) or 0,
            in_sync=bool(self.sync.in_sync) and not self.feed_down,
            ts_event_ns=ts_event_ns,
            ts_recv_ns=ts_recv_ns,
            taker_fee_bps=self.taker_fee_bps,
            ts_ingest_ns=ts_ingest_ns,
        )


class _DexState:
    """What the CLMM and CLOB states share: view counting (the states stamp each view with
    its frame's ingest time as they build it: no copy per view)."""

    views: int

    def _count(self, out: list[Any]) -> list[Any]:
        """Count the views of one frame's output."""
        self.views += sum(1 for v in out if isinstance(v, ClmmView | ClobView))
        return out


class ClmmMarketState(_DexState):
    """One CLMM pool: account frames decoded and applied (slot-ordered) to `ClmmPoolState`."""

    def __init__(self, ref: MarketRef, stale_after_ns: int) -> None:
        m = ref.market
        self.ref = ref
        self.adapter: DexAdapter = venues.dex(m.venue)
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
        entry = self.adapter.decoder_for(f.payload)
        try:
            if entry is None:
                raise DecodeError("unknown account discriminator", account=account)
            role = entry.role
            decoded = entry.decode(f.payload)
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
            out: list[Any] = list(self.state.on_account(update, f.ts_ingest_ns))
        except DecodeError as exc:
            self.decode_errors += 1
            # the last good state stays, but a view built from this account is flagged
            flagged = self.state.on_bad_account(account, f.slot or 0, f.ts_recv_ns, f.ts_ingest_ns)
            return [_bad_account(m.market_id, exc, f), *self._count(flagged)]
        return self._count(out)


def _bad_account(market_id: str, exc: DecodeError, f: RawFrame) -> HealthEvent:
    account = f.stream.split(":", 1)[-1]
    detail = str(exc)
    if account not in detail:  # codecs name the account kind; the report names the pubkey
        detail = f"{account}: {detail}"
    return HealthEvent(market_id, "bad_account", detail, f.ts_recv_ns, f.ts_recv_ns)


class ClobMarketStateAdapter(_DexState):
    """One on-chain CLOB market: account frames decoded and applied to `ClobMarketState`.

    Phoenix keeps the whole book in its market account. OpenBook v2 splits it into the market
    and two BookSide accounts whose role (bids / asks) is the market's `bids` / `asks` pubkey:
    a side is only applied once the market says which account it is, so a side that arrives
    first is held back (latest per account) and applied right after the market.
    """

    def __init__(self, ref: MarketRef, stale_after_ns: int) -> None:
        m = ref.market
        self.adapter: DexAdapter = venues.dex(m.venue)
        if self.adapter.kind != "clob":
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
            # the last good state stays, but a view built from this account is flagged
            flagged = self.state.on_bad_account(account, f.slot or 0, f.ts_recv_ns, f.ts_ingest_ns)
            return [_bad_account(m.market_id, exc, f), *self._count(flagged)]
        return self._count(out)

    def _apply(self, account: str, f: RawFrame) -> list[Any]:
        m = self.ref.market
        entry = self.adapter.decoder_for(f.payload)
        if entry is None:
            head = bytes(f.payload[:8]).hex()
            raise DecodeError(f"unknown {m.venue} account discriminator {head}", account=account)
        if entry.role == "market":
            self._check_market_account(account)
            market = entry.decode(f.payload)
            try:
                self.adapter.check_market(market)
            except DecodeError as exc:
                raise DecodeError(str(exc), account=account) from exc
            out = self._update(account, "market", market, f)
            if isinstance(market, OpenBookMarket):
                out += self._release_pending(market, f.ts_ingest_ns)
            return out
        side = entry.decode(f.payload)
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

    def _release_pending(self, market: OpenBookMarket, ts_ingest_ns: int) -> list[Any]:
        """Apply held-back sides now that the market names its bids/asks (others: bad); their
        views are stamped with the market frame's ingest time, the frame that released them."""
        out: list[Any] = []
        pending, self.pending_sides = self.pending_sides, {}
        for account, (side, f) in sorted(pending.items(), key=lambda kv: kv[1][1].ts_recv_ns):
            try:
                role = self._side_role(market, account, side)
                out += self._update(account, role, side, f, ts_ingest_ns)
            except DecodeError as exc:
                self.decode_errors += 1
                out.append(_bad_account(self.ref.market.market_id, exc, f))
        return out

    def _update(
        self, account: str, role: str, decoded: PhoenixMarket | OpenBookMarket | BookSide,
        f: RawFrame, ts_ingest_ns: int | None = None,
    ) -> list[Any]:  # fmt: skip
        """Apply one decoded account; its view is stamped `ts_ingest_ns` (default: `f`'s)."""
        m = self.ref.market
        update = PoolUpdate(
            m.venue, m.market_id, account, role, decoded, f.slot or 0, f.ts_recv_ns, f.ts_recv_ns
        )
        ingest = f.ts_ingest_ns if ts_ingest_ns is None else ts_ingest_ns
        return list(self.state.on_account(update, ingest))


MarketState = CexMarketState | ClmmMarketState | ClobMarketStateAdapter
"""Any per-market state object the graph keeps."""


def build_market_state(settings: Settings, router: Router, market_id: str) -> MarketState:
    """The state object for one configured market, by its venue adapter's kind."""
    ref = router.by_id[market_id]
    a = venues.adapter(ref.market.venue)
    if isinstance(a, CexAdapter):
        return CexMarketState(
            ref, settings.engine.book_depth, settings.venues[a.id].taker_fee_bps
        )
    stale_after_ns = settings.engine.stale_after_ms * 1_000_000
    if a.kind == "clmm":
        return ClmmMarketState(ref, stale_after_ns)
    if a.kind == "clob":
        return ClobMarketStateAdapter(ref, stale_after_ns)
    raise ConfigError(f"market {market_id}: venue kind {a.kind!r} is not wired into the graph")
