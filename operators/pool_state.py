"""Per-market CLMM pool state: decoded pool + tick arrays around the current tick, with staleness.

Venue-generic by dispatching on the decoded account types (`isinstance` on the members of
`operators.views.ClmmPool` and friends): Orca `Whirlpool` (88 ticks per array) and Raydium
`PoolState` (60 ticks per array); a Raydium `AmmConfig` carries the fee rate. Operators never
import connectors, so the decoded types live in `operators.clmm`.

Freshness rule: the view is in sync only when the feed is up, not silent for longer than
`stale_after_ns`, and both the pool and the tick array holding the current tick were received
in the current feed epoch. The epoch moves on every feed transition (down, lag, stale, and back
up), so after an outage the view stays flagged until re-fetched accounts arrive.

Bad accounts: an account of this market that fails to decode (or breaks an invariant) is never
applied; the last good state is kept but the view is flagged (not in sync) until that account
decodes again or the feed resyncs, so the engine never trades on a state it knows is behind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from operators.clmm.accounts import TICK_ARRAY_SIZE as ORCA_TICKS_PER_ARRAY
from operators.clmm.accounts import TickArray, Whirlpool
from operators.clmm.invariants import check_tick_array_start
from operators.clmm.raydium_accounts import TICK_ARRAY_SIZE as RAYDIUM_TICKS_PER_ARRAY
from operators.clmm.raydium_accounts import (
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    TickArrayBitmapExtension,
)
from operators.clob import BookSide, OpenBookMarket, PhoenixMarket, openbook_view, phoenix_view
from operators.errors import DecodeError
from operators.events import HealthEvent, PoolUpdate
from operators.views import ClmmPool, ClmmQuoteAccount, ClmmView, ClobView

MIN_TICK = -443636
MAX_TICK = 443636
_FEED_DOWN = frozenset({"down", "lag", "stale", "switch", "kill"})
_FEED_UP = frozenset({"up", "resync"})

StateOutput = ClmmView | ClobView | HealthEvent


def _pool(decoded: object) -> ClmmPool:
    if isinstance(decoded, Whirlpool | PoolState):
        return decoded
    raise DecodeError(f"{type(decoded).__name__} is not a CLMM pool (Whirlpool or PoolState)")


def pool_current_tick(pool: object) -> int:
    """Current tick index of a decoded CLMM pool (Orca or Raydium), ticks."""
    p = _pool(pool)
    return p.tick_current_index if isinstance(p, Whirlpool) else p.tick_current


def pool_tick_spacing(pool: object) -> int:
    """Tick spacing of a decoded CLMM pool, ticks."""
    spacing = _pool(pool).tick_spacing
    if spacing <= 0:
        raise DecodeError(f"{type(pool).__name__} has no positive tick_spacing")
    return spacing


def ticks_per_array(pool: object) -> int:
    """Ticks per tick array for this pool's program (88 Orca, 60 Raydium)."""
    return ORCA_TICKS_PER_ARRAY if isinstance(_pool(pool), Whirlpool) else RAYDIUM_TICKS_PER_ARRAY


def array_start_index(tick_array: object) -> int:
    """First tick index covered by a decoded tick array, ticks."""
    if isinstance(tick_array, TickArray | RaydiumTickArray):
        return tick_array.start_tick_index
    raise DecodeError(f"{type(tick_array).__name__} is not a tick array")


def array_pool_address(decoded: object) -> str | None:
    """The pool a decoded tick array or bitmap extension belongs to (None for other accounts)."""
    if isinstance(decoded, TickArray):
        return decoded.whirlpool
    if isinstance(decoded, RaydiumTickArray | TickArrayBitmapExtension):
        return decoded.pool_id
    return None


def start_index_for(tick: int, tick_spacing: int, per_array: int) -> int:
    """Start index of the array holding `tick` (floor to a multiple of spacing*per_array)."""
    span = tick_spacing * per_array
    return (tick // span) * span


_ROLES = ("pool", "tick_array", "amm_config", "bitmap_extension")


def classify(decoded: object, role: str = "") -> str:
    """`pool`, `tick_array`, `amm_config`, `bitmap_extension` or `other` (role, else type)."""
    if role in _ROLES:
        return role
    if isinstance(decoded, Whirlpool | PoolState):
        return "pool"
    if isinstance(decoded, TickArray | RaydiumTickArray):
        return "tick_array"
    if isinstance(decoded, AmmConfig):
        return "amm_config"
    if isinstance(decoded, TickArrayBitmapExtension):
        return "bitmap_extension"
    return "other"


_T = TypeVar("_T")
ClmmTickArray = TickArray | RaydiumTickArray


@dataclass(slots=True)
class _Held(Generic[_T]):
    decoded: _T
    account: str
    slot: int
    epoch: int


class _Freshness:
    """Slot ordering per account and feed-epoch bookkeeping shared by the market states."""

    market_id: str

    def _init_freshness(self, stale_after_ns: int) -> None:
        self.stale_after_ns = stale_after_ns
        self.account_slots: dict[str, int] = {}
        self.epoch = 0
        self.feed_up = True
        self.silent = False
        self.last_heard_ns = 0
        self.ts_event_ns = 0
        self.ts_recv_ns = 0
        self.stale_dropped = 0
        self._was_in_sync = False
        self.bad_accounts: dict[str, tuple[int, int]] = {}
        """Account -> (epoch, slot) of its last bad update; the view is flagged meanwhile."""

    def in_sync(self) -> bool:
        """Whether the view can be priced (defined per market kind)."""
        raise NotImplementedError

    def view(self, ts_ingest_ns: int = 0) -> ClmmView | ClobView:
        """The current view (defined per market kind), stamped `ts_ingest_ns` (latency only)."""
        raise NotImplementedError

    def held_accounts(self) -> set[str]:
        """Accounts whose state the current view is built from (defined per market kind)."""
        raise NotImplementedError

    def on_bad_account(
        self, account: str, slot: int, ts_recv_ns: int, ts_ingest_ns: int = 0
    ) -> list[StateOutput]:
        """An update of `account` (at `slot`) was refused as undecodable or impossible.

        The last good state is kept, but when the view is built from that account it is
        flagged (not in sync) until the account decodes again at `slot` or later, or the feed
        resyncs (a new epoch re-fetches every account). `ts_ingest_ns` stamps the view.
        """
        if account not in self.held_accounts():
            return []  # not part of the view (a stranger or an array not held): nothing is stale
        self.bad_accounts[account] = (self.epoch, slot)
        return self._emit([], ts_recv_ns, ts_ingest_ns)

    def _tainted(self) -> bool:
        if not self.bad_accounts:
            return False
        # only accounts still behind the view count: a flagged far tick array that was since
        # pruned must not hold the view out of sync until the next resync
        epoch, held = self.epoch, self.held_accounts()
        return any(e == epoch and a in held for a, (e, _) in self.bad_accounts.items())

    def _admit(self, update: PoolUpdate) -> bool:
        held = self.account_slots.get(update.account)
        if held is not None and update.slot < held:
            self.stale_dropped += 1
            return False
        self.account_slots[update.account] = update.slot
        bad = self.bad_accounts.get(update.account)
        if bad is not None and update.slot >= bad[1]:
            del self.bad_accounts[update.account]  # the account decodes again: trusted again
        self.last_heard_ns = max(self.last_heard_ns, update.ts_recv_ns)
        self.ts_event_ns = max(self.ts_event_ns, update.ts_event_ns)
        self.ts_recv_ns = max(self.ts_recv_ns, update.ts_recv_ns)
        if self.silent:
            # data flows again after a silence: start a fresh epoch, as after a reconnect
            self.silent = False
            self.epoch += 1
        return True

    def on_health(self, event: HealthEvent) -> list[StateOutput]:
        """Feed-level health for this market: `down`/`lag`/`stale`/`switch` or `up`/`resync`."""
        out: list[StateOutput] = []
        changed = False
        if event.status in _FEED_DOWN and self.feed_up:
            self.feed_up = False
            self.epoch += 1
            changed = True
            detail = f"feed {event.status}: {event.detail}"
            out.append(self._health("stale", detail, event.ts_recv_ns))
        elif event.status in _FEED_UP:
            self.last_heard_ns = max(self.last_heard_ns, event.ts_recv_ns)
            if not self.feed_up or self.silent:
                self.feed_up = True
                self.silent = False
                self.epoch += 1
                changed = True
        # a heartbeat that changes nothing emits nothing (no view storm downstream)
        return self._emit(out, event.ts_recv_ns) if changed else []

    def on_clock(self, now_ns: int) -> list[StateOutput]:
        """Flag the view stale once nothing was heard for `stale_after_ns` (now_ns: ns)."""
        quiet_ns = now_ns - self.last_heard_ns
        if self.silent or not self.last_heard_ns or quiet_ns <= self.stale_after_ns:
            return []
        self.silent = True
        self.epoch += 1
        detail = f"no update for {quiet_ns // 1_000_000} ms"
        return self._emit([self._health("stale", detail, now_ns)], now_ns)

    def _emit(self, out: list[StateOutput], ts_ns: int, ts_ingest_ns: int = 0) -> list[StateOutput]:
        view = self.view(ts_ingest_ns)
        if view.in_sync and not self._was_in_sync:
            out.append(self._health("up", f"in sync at slot {view.slot}", ts_ns))
        self._was_in_sync = view.in_sync
        out.append(view)
        return out

    def _health(self, status: str, detail: str, ts_ns: int) -> HealthEvent:
        return HealthEvent(self.market_id, status, detail, ts_ns, ts_ns)


class ClmmPoolState(_Freshness):
    """Stateful operator for one CLMM market; plain data, snapshot-able by pickling."""

    def __init__(
        self,
        venue: str,
        market_id: str,
        pair: str,
        quote_currency: str,
        base_is_a: bool,
        *,
        stale_after_ns: int,
        arrays_each_side: int = 3,
    ) -> None:
        self.venue = venue
        self.market_id = market_id
        self.pair = pair
        self.quote_currency = quote_currency
        self.base_is_a = base_is_a
        self.arrays_each_side = arrays_each_side
        self.pool: _Held[ClmmPool] | None = None
        self.amm_config: _Held[AmmConfig] | None = None
        self.bitmap_extension: _Held[TickArrayBitmapExtension] | None = None
        """Raydium: the pool's tick-array bitmap for far ticks; the quote walk needs it there."""
        self.arrays: dict[int, _Held[ClmmTickArray]] = {}
        self.absent_arrays: dict[int, int] = {}
        """Array start -> epoch in which the RPC said the account does not exist."""
        self._init_freshness(stale_after_ns)

    # ------------------------------------------------------------------ inputs
    def on_account(self, update: PoolUpdate, ts_ingest_ns: int = 0) -> list[StateOutput]:
        """Apply one decoded account update; an older slot never overwrites a newer one.

        Raises DecodeError (nothing applied, no slot recorded) for an account of the wrong type
        for its role, or a tick array that is another pool's or misaligned for the held pool.
        The view it emits is stamped `ts_ingest_ns` (its frame's ingest time: latency only).
        """
        kind = classify(update.decoded, update.role)
        if kind == "other":
            return []
        d, account, slot = update.decoded, update.account, update.slot
        if kind == "pool" and isinstance(d, Whirlpool | PoolState):
            if not self._admit(update):
                return []
            self.pool = _Held(d, account, slot, self.epoch)
            self._prune()
        elif kind == "tick_array" and isinstance(d, TickArray | RaydiumTickArray):
            self._check_array(account, d)
            if not self._admit(update):
                return []
            start = d.start_tick_index
            if self.pool is None or start in self.wanted_tick_array_starts():
                self.arrays[start] = _Held(d, account, slot, self.epoch)
                self.absent_arrays.pop(start, None)
        elif kind == "amm_config" and isinstance(d, AmmConfig):
            if not self._admit(update):
                return []
            self.amm_config = _Held(d, account, slot, self.epoch)
        elif kind == "bitmap_extension" and isinstance(d, TickArrayBitmapExtension):
            if not self._admit(update):
                return []
            self.bitmap_extension = _Held(d, account, slot, self.epoch)
        else:
            raise DecodeError(
                f"{self.market_id}: a {type(d).__name__} cannot be the {kind}", account=account
            )
        return self._emit([], update.ts_recv_ns, ts_ingest_ns)

    def on_absent_tick_array(self, start_index: int, ts_recv_ns: int) -> list[StateOutput]:
        """Record that the array at `start_index` does not exist on-chain (no liquidity there)."""
        self.arrays.pop(start_index, None)
        self.absent_arrays[start_index] = self.epoch
        return self._emit([], ts_recv_ns)

    # ------------------------------------------------------------------ queries
    def current_start(self) -> int | None:
        """Start index of the tick array holding the current tick (None before the pool)."""
        if self.pool is None:
            return None
        pool = self.pool.decoded
        return start_index_for(
            pool_current_tick(pool), pool_tick_spacing(pool), ticks_per_array(pool)
        )

    def wanted_tick_array_starts(self) -> list[int]:
        """Array starts needed around the current tick, `arrays_each_side` each way, ascending."""
        if self.pool is None:
            return []
        pool = self.pool.decoded
        spacing, per = pool_tick_spacing(pool), ticks_per_array(pool)
        span = spacing * per
        cur = start_index_for(pool_current_tick(pool), spacing, per)
        starts = (cur + i * span for i in range(-self.arrays_each_side, self.arrays_each_side + 1))
        return [s for s in starts if s + span > MIN_TICK and s <= MAX_TICK]

    def in_sync(self) -> bool:
        """Whether the view can be priced: feed up, not silent, pool + current array fresh."""
        if not self.feed_up or self.silent or self.pool is None or self._tainted():
            return False
        if self.pool.epoch != self.epoch:
            return False
        if isinstance(self.pool.decoded, PoolState) and self.amm_config is None:
            return False  # Raydium's fee rate lives in the AmmConfig account
        cur = self.current_start()
        held = self.arrays.get(cur) if cur is not None else None
        if held is not None:
            return held.epoch == self.epoch
        return cur is not None and self.absent_arrays.get(cur) == self.epoch

    def view(self, ts_ingest_ns: int = 0) -> ClmmView:
        """The current ClmmView (in_sync False until the pool and current array are held)."""
        wanted = set(self.wanted_tick_array_starts())
        arrays: tuple[ClmmQuoteAccount, ...] = tuple(
            self.arrays[s].decoded for s in sorted(self.arrays) if s in wanted
        )
        if self.bitmap_extension is not None:
            # Raydium's quote picks the extension out of `tick_arrays` by type.
            arrays += (self.bitmap_extension.decoded,)
        slot = max(self.account_slots.values(), default=0)
        return ClmmView(
            venue=self.venue,
            market_id=self.market_id,
            pair=self.pair,
            quote_currency=self.quote_currency,
            pool=self.pool.decoded if self.pool is not None else None,
            tick_arrays=arrays,
            amm_config=self.amm_config.decoded if self.amm_config is not None else None,
            base_is_a=self.base_is_a,
            slot=slot,
            in_sync=self.in_sync(),
            ts_event_ns=self.ts_event_ns,
            ts_recv_ns=self.ts_recv_ns,
            ts_ingest_ns=ts_ingest_ns,
        )

    # ------------------------------------------------------------------ internals
    def _prune(self) -> None:
        # arrays far from the price are not needed to quote; keep memory bounded per market
        wanted = set(self.wanted_tick_array_starts())
        for start in [s for s in self.arrays if s not in wanted]:
            del self.arrays[start]

    def held_accounts(self) -> set[str]:
        """The pool, config, bitmap extension and tick-array accounts the view is built from."""
        held = {h.account for h in (self.pool, self.amm_config, self.bitmap_extension) if h}
        return held | {h.account for h in self.arrays.values()}

    def _check_array(self, account: str, decoded: ClmmTickArray) -> None:
        """A tick array must be the held pool's, of its program, at one of its array starts."""
        if self.pool is None:
            return
        pool = self.pool.decoded
        owner = array_pool_address(decoded)
        if owner != self.pool.account:
            raise DecodeError(
                f"{self.market_id}: tick array belongs to pool {owner}, not {self.pool.account}",
                account=account,
            )
        orca = isinstance(pool, Whirlpool)
        if orca != isinstance(decoded, TickArray):
            raise DecodeError(
                f"{self.market_id}: a {type(decoded).__name__} is not a tick array of a "
                f"{type(pool).__name__}",
                account=account,
            )
        spacing, per = pool_tick_spacing(pool), ticks_per_array(pool)
        start = array_start_index(decoded)
        check_tick_array_start(self.venue, account, start, spacing, per)
        if isinstance(decoded, RaydiumTickArray):
            # Raydium stores each initialized tick's index: it must be its slot's tick
            for i in decoded.initialized_offsets:
                tick = decoded.ticks[i].tick
                if tick != start + i * spacing:
                    raise DecodeError(
                        f"{self.venue} ticks[{i}].tick {tick} != start_tick_index {start} + "
                        f"{i} x tick_spacing {spacing}",
                        account=account,
                    )


class ClobMarketState(_Freshness):
    """Stateful operator for one on-chain CLOB (Phoenix market, or OpenBook market + sides).

    Book-side orders expire by unix time: the latest local receive time (`ts_recv_ns`) stands
    in for the slot's time, which account notifications do not carry. OpenBook oracle-pegged
    orders are left out (no oracle price is fed here), as the program does without an oracle.
    """

    def __init__(
        self, venue: str, market_id: str, pair: str, quote_currency: str, *, stale_after_ns: int
    ) -> None:
        self.venue = venue
        self.market_id = market_id
        self.pair = pair
        self.quote_currency = quote_currency
        self.market: _Held[PhoenixMarket | OpenBookMarket] | None = None
        self.bids: _Held[BookSide] | None = None
        self.asks: _Held[BookSide] | None = None
        self._init_freshness(stale_after_ns)

    def on_account(self, update: PoolUpdate, ts_ingest_ns: int = 0) -> list[StateOutput]:
        """Apply a decoded market or book-side update; older slots never overwrite newer (the
        view emitted is stamped `ts_ingest_ns`)."""
        decoded = update.decoded
        if not isinstance(decoded, PhoenixMarket | OpenBookMarket | BookSide):
            return []
        if isinstance(decoded, BookSide):
            self._check_side(update, decoded)
            self._check_not_crossed(update, decoded)
        if not self._admit(update):
            return []
        if isinstance(decoded, BookSide):
            side = _Held(decoded, update.account, update.slot, self.epoch)
            if decoded.side == "bids":
                self.bids = side
            else:
                self.asks = side
        else:
            self.market = _Held(decoded, update.account, update.slot, self.epoch)
        return self._emit([], update.ts_recv_ns, ts_ingest_ns)

    def held_accounts(self) -> set[str]:
        """The market and book-side accounts the view is built from."""
        return {h.account for h in (self.market, self.bids, self.asks) if h is not None}

    def in_sync(self) -> bool:
        """Feed up, not silent, market (and both OpenBook sides) received this epoch."""
        if not self.feed_up or self.silent or self.market is None or self._tainted():
            return False
        epochs = [self.market.epoch]
        if isinstance(self.market.decoded, OpenBookMarket):
            if self.bids is None or self.asks is None:
                return False
            epochs += [self.bids.epoch, self.asks.epoch]
        return all(e == self.epoch for e in epochs)

    def view(self, ts_ingest_ns: int = 0) -> ClobView:
        """The current ClobView; empty ladders and in_sync False before the market arrives."""
        slot = max(self.account_slots.values(), default=0)
        v, m, pair, qc = self.venue, self.market_id, self.pair, self.quote_currency
        ev, rv = self.ts_event_ns, self.ts_recv_ns
        now_ts = rv // 1_000_000_000
        market = self.market.decoded if self.market is not None else None
        sync = self.in_sync()
        if isinstance(market, PhoenixMarket):
            return phoenix_view(
                market, venue=v, market_id=m, pair=pair, quote_currency=qc, slot=slot,
                ts_event_ns=ev, ts_recv_ns=rv, in_sync=sync, unix_ts=now_ts,
                ts_ingest_ns=ts_ingest_ns,
            )  # fmt: skip
        bids = self.bids.decoded if self.bids is not None else None
        asks = self.asks.decoded if self.asks is not None else None
        if (
            isinstance(market, OpenBookMarket)
            and isinstance(bids, BookSide)
            and isinstance(asks, BookSide)
        ):
            view = openbook_view(
                market, bids, asks, now_ts, venue=v, market_id=m, pair=pair,
                quote_currency=qc, slot=slot, ts_event_ns=ev, ts_recv_ns=rv, in_sync=sync,
                ts_ingest_ns=ts_ingest_ns,
            )  # fmt: skip
            if view.in_sync and view.bids and view.asks and view.bids[0][0] >= view.asks[0][0]:
                # sides from different slots can cross for a moment: wait for the other side
                return replace(view, in_sync=False)
            return view
        return ClobView(
            venue=v, market_id=m, pair=pair, quote_currency=qc, bids=(), asks=(),
            base_units_per_lot=0, quote_units_per_tick_lot_num=0, quote_units_per_tick_lot_den=1,
            taker_fee_bps=0.0, slot=slot, in_sync=False, ts_event_ns=ev, ts_recv_ns=rv,
            ts_ingest_ns=ts_ingest_ns,
        )  # fmt: skip

    def _check_not_crossed(self, update: PoolUpdate, side: BookSide) -> None:
        """Refuse a side that crosses the other side held at the same slot (impossible).

        Only unexpired fixed-price orders count, as in the view: the program can leave expired
        orders resting beyond the ones a taker drops, and pegged orders move with the oracle.
        """
        other = self.asks if side.side == "bids" else self.bids
        if other is None or other.slot != update.slot or not isinstance(other.decoded, BookSide):
            return
        now_ts = max(self.ts_recv_ns, update.ts_recv_ns) // 1_000_000_000
        mine, theirs = side.levels(now_ts), other.decoded.levels(now_ts)
        if not mine or not theirs:
            return
        bid, ask = (mine[0][0], theirs[0][0]) if side.side == "bids" else (theirs[0][0], mine[0][0])
        if bid >= ask:
            raise DecodeError(
                f"{self.venue} crossed book at slot {update.slot}: best bid {bid} >= best ask "
                f"{ask} (price lots)",
                account=update.account,
            )

    def _check_side(self, update: PoolUpdate, side: BookSide) -> None:
        market = self.market.decoded if self.market is not None else None
        if not isinstance(market, OpenBookMarket):
            return
        expected = market.bids if side.side == "bids" else market.asks
        if update.account != expected:
            raise DecodeError(
                f"{self.market_id}: {side.side} side should be {expected}, got {update.account}",
                account=update.account,
            )
