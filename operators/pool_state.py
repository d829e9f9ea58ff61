"""Per-market CLMM pool state: decoded pool + tick arrays around the current tick, with staleness.

Venue-generic through small accessors keyed on the decoded types' field names (duck typing):
Orca `Whirlpool` (`tick_current_index`, 88 ticks per array) and Raydium `PoolState`
(`tick_current`, 60 ticks per array); tick arrays carry `start_tick_index`; a Raydium
`AmmConfig` carries `trade_fee_rate`. Operators never import connectors, so no decoder is named.

Freshness rule: the view is in sync only when the feed is up, not silent for longer than
`stale_after_ns`, and both the pool and the tick array holding the current tick were received
in the current feed epoch. The epoch moves on every feed transition (down, lag, stale, and back
up), so after an outage the view stays flagged until re-fetched accounts arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from operators.clob import BookSide, OpenBookMarket, PhoenixMarket, openbook_view, phoenix_view
from operators.errors import DecodeError
from operators.events import HealthEvent, PoolUpdate
from operators.views import ClmmView, ClobView

MIN_TICK = -443636
MAX_TICK = 443636
TICKS_PER_ARRAY_BY_POOL_TYPE = {"Whirlpool": 88, "PoolState": 60}
"""Ticks in one tick array per pool type name (Orca Whirlpool: 88, Raydium CLMM: 60)."""
_FEED_DOWN = frozenset({"down", "lag", "stale", "switch", "kill"})
_FEED_UP = frozenset({"up", "resync"})

StateOutput = ClmmView | ClobView | HealthEvent


def pool_current_tick(pool: object) -> int:
    """Current tick index of a decoded CLMM pool (Orca or Raydium), ticks."""
    for name in ("tick_current_index", "tick_current"):
        value = getattr(pool, name, None)
        if value is not None:
            return int(value)
    raise DecodeError(f"{type(pool).__name__} has no current tick field")


def pool_tick_spacing(pool: object) -> int:
    """Tick spacing of a decoded CLMM pool, ticks."""
    value = getattr(pool, "tick_spacing", None)
    if value is None or int(value) <= 0:
        raise DecodeError(f"{type(pool).__name__} has no positive tick_spacing")
    return int(value)


def ticks_per_array(pool: object) -> int:
    """Ticks per tick array for this pool's program (88 Orca, 60 Raydium)."""
    name = type(pool).__name__
    if name in TICKS_PER_ARRAY_BY_POOL_TYPE:
        return TICKS_PER_ARRAY_BY_POOL_TYPE[name]
    # unknown type names: infer the program from its field spelling
    return 88 if hasattr(pool, "tick_current_index") else 60


def array_start_index(tick_array: object) -> int:
    """First tick index covered by a decoded tick array, ticks."""
    value = getattr(tick_array, "start_tick_index", None)
    if value is None:
        raise DecodeError(f"{type(tick_array).__name__} has no start_tick_index")
    return int(value)


def array_pool_address(tick_array: object) -> str | None:
    """The pool a decoded tick array belongs to (Orca `whirlpool`, Raydium `pool_id`)."""
    for name in ("whirlpool", "pool_id"):
        value = getattr(tick_array, name, None)
        if value is not None:
            return str(value)
    return None


def start_index_for(tick: int, tick_spacing: int, per_array: int) -> int:
    """Start index of the array holding `tick` (floor to a multiple of spacing*per_array)."""
    span = tick_spacing * per_array
    return (tick // span) * span


def classify(decoded: object, role: str = "") -> str:
    """`pool`, `tick_array`, `amm_config`, `bitmap_extension` or `other` (role or fields)."""
    if role in ("pool", "tick_array", "amm_config", "bitmap_extension"):
        return role
    if type(decoded).__name__ == "TickArrayBitmapExtension":
        return "bitmap_extension"
    if hasattr(decoded, "tick_current_index") or hasattr(decoded, "tick_current"):
        return "pool"
    if hasattr(decoded, "start_tick_index") and hasattr(decoded, "ticks"):
        return "tick_array"
    if hasattr(decoded, "trade_fee_rate"):
        return "amm_config"
    return "other"


@dataclass(slots=True)
class _Held:
    decoded: object
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

    def in_sync(self) -> bool:
        """Whether the view can be priced (defined per market kind)."""
        raise NotImplementedError

    def view(self) -> ClmmView | ClobView:
        """The current view (defined per market kind)."""
        raise NotImplementedError

    def _admit(self, update: PoolUpdate) -> bool:
        held = self.account_slots.get(update.account)
        if held is not None and update.slot < held:
            self.stale_dropped += 1
            return False
        self.account_slots[update.account] = update.slot
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

    def _emit(self, out: list[StateOutput], ts_ns: int) -> list[StateOutput]:
        view = self.view()
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
        self.pool: _Held | None = None
        self.amm_config: _Held | None = None
        self.bitmap_extension: _Held | None = None
        """Raydium: the pool's tick-array bitmap for far ticks; the quote walk needs it there."""
        self.arrays: dict[int, _Held] = {}
        self.absent_arrays: dict[int, int] = {}
        """Array start -> epoch in which the RPC said the account does not exist."""
        self._init_freshness(stale_after_ns)

    # ------------------------------------------------------------------ inputs
    def on_account(self, update: PoolUpdate) -> list[StateOutput]:
        """Apply one decoded account update; an older slot never overwrites a newer one."""
        kind = classify(update.decoded, update.role)
        if kind == "other" or not self._admit(update):
            return []
        item = _Held(update.decoded, update.account, update.slot, self.epoch)
        if kind == "pool":
            self.pool = item
            self._prune()
        elif kind == "amm_config":
            self.amm_config = item
        elif kind == "bitmap_extension":
            self.bitmap_extension = item
        else:
            self._check_owner(update)
            start = array_start_index(update.decoded)
            if self.pool is None or start in self.wanted_tick_array_starts():
                self.arrays[start] = item
                self.absent_arrays.pop(start, None)
        return self._emit([], update.ts_recv_ns)

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
        if not self.feed_up or self.silent or self.pool is None:
            return False
        if self.pool.epoch != self.epoch:
            return False
        if type(self.pool.decoded).__name__ == "PoolState" and self.amm_config is None:
            return False  # Raydium's fee rate lives in the AmmConfig account
        cur = self.current_start()
        held = self.arrays.get(cur) if cur is not None else None
        if held is not None:
            return held.epoch == self.epoch
        return cur is not None and self.absent_arrays.get(cur) == self.epoch

    def view(self) -> ClmmView:
        """The current ClmmView (in_sync False until the pool and current array are held)."""
        wanted = set(self.wanted_tick_array_starts())
        arrays = tuple(self.arrays[s].decoded for s in sorted(self.arrays) if s in wanted)
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
        )

    # ------------------------------------------------------------------ internals
    def _prune(self) -> None:
        # arrays far from the price are not needed to quote; keep memory bounded per market
        wanted = set(self.wanted_tick_array_starts())
        for start in [s for s in self.arrays if s not in wanted]:
            del self.arrays[start]

    def _check_owner(self, update: PoolUpdate) -> None:
        owner = array_pool_address(update.decoded)
        if self.pool is not None and owner is not None and owner != self.pool.account:
            raise DecodeError(
                f"{self.market_id}: tick array belongs to pool {owner}, not {self.pool.account}",
                account=update.account,
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
        self.market: _Held | None = None
        self.bids: _Held | None = None
        self.asks: _Held | None = None
        self._init_freshness(stale_after_ns)

    def on_account(self, update: PoolUpdate) -> list[StateOutput]:
        """Apply a decoded market or book-side update; older slots never overwrite newer."""
        decoded = update.decoded
        if not isinstance(decoded, PhoenixMarket | OpenBookMarket | BookSide):
            return []
        if isinstance(decoded, BookSide):
            self._check_side(update, decoded)
        if not self._admit(update):
            return []
        item = _Held(decoded, update.account, update.slot, self.epoch)
        if isinstance(decoded, BookSide):
            if decoded.side == "bids":
                self.bids = item
            else:
                self.asks = item
        else:
            self.market = item
        return self._emit([], update.ts_recv_ns)

    def in_sync(self) -> bool:
        """Feed up, not silent, market (and both OpenBook sides) received this epoch."""
        if not self.feed_up or self.silent or self.market is None:
            return False
        needed = [self.market]
        if isinstance(self.market.decoded, OpenBookMarket):
            if self.bids is None or self.asks is None:
                return False
            needed += [self.bids, self.asks]
        return all(h.epoch == self.epoch for h in needed)

    def view(self) -> ClobView:
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
            )  # fmt: skip
        bids = self.bids.decoded if self.bids is not None else None
        asks = self.asks.decoded if self.asks is not None else None
        if (
            isinstance(market, OpenBookMarket)
            and isinstance(bids, BookSide)
            and isinstance(asks, BookSide)
        ):
            return openbook_view(
                market, bids, asks, now_ts, venue=v, market_id=m, pair=pair,
                quote_currency=qc, slot=slot, ts_event_ns=ev, ts_recv_ns=rv, in_sync=sync,
            )  # fmt: skip
        return ClobView(
            venue=v, market_id=m, pair=pair, quote_currency=qc, bids=(), asks=(),
            base_units_per_lot=0, quote_units_per_tick_lot_num=0, quote_units_per_tick_lot_den=1,
            taker_fee_bps=0.0, slot=slot, in_sync=False, ts_event_ns=ev, ts_recv_ns=rv,
        )  # fmt: skip

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
