"""Venue views: what the pair join sees of each market, with its age, slot and sync state.

A view is a frozen value object: the latest executable state of one market, enough to price a
trade at any size without touching the venue again. `in_sync` is False whenever the source of
the view cannot be trusted (book gap not yet resynced, pool/tick arrays missing, account stale);
a view that is not in sync never produces a signal.
"""

from __future__ import annotations

from dataclasses import dataclass

from operators.clmm.accounts import TickArray, Whirlpool
from operators.clmm.raydium_accounts import (
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    TickArrayBitmapExtension,
)
from operators.events import FixedLevel, MarketKind
from operators.frozen import fast_init

ClmmPool = Whirlpool | PoolState
"""A decoded CLMM pool account: Orca `Whirlpool` or Raydium CLMM `PoolState`. Code that needs
the venue dispatches with `isinstance` on these members, never on names or attributes."""
ClmmQuoteAccount = TickArray | RaydiumTickArray | TickArrayBitmapExtension
"""What rides in `ClmmView.tick_arrays`: the pool's tick arrays (and Raydium's bitmap
extension, which its quote needs for far ticks)."""


@fast_init  # one or more per frame: slot stores (operators/frozen.py)
@dataclass(frozen=True, slots=True)
class CexBookView:
    """Top `book_depth` levels of one CEX book, best first, as (price_e18, size_e18) integers.

    Why integers: pricing works in integers (quote base units), so the levels arrive exact and
    ready (the venue's decimal times 10**18, see `operators.events.FIXED_SCALE`) with no
    Decimal built per level per view.
    """

    venue: str
    market_id: str
    pair: str
    market: MarketKind
    quote_currency: str
    bids: tuple[FixedLevel, ...]
    asks: tuple[FixedLevel, ...]
    update_id: int
    in_sync: bool
    ts_event_ns: int
    ts_recv_ns: int
    taker_fee_bps: float = 0.0
    ts_ingest_ns: int = 0


@fast_init  # one or more per frame: slot stores (operators/frozen.py)
@dataclass(frozen=True, slots=True)
class ClmmView:
    """One CLMM pool: decoded pool state + the tick arrays held around the current tick.

    `base_is_a` says whether the pair's base token is the pool's token A (so selling base is a
    swap a→b). `pool`, `tick_arrays` and `amm_config` are the decoded account objects that
    `operators.clmm.quote_swap` takes; `pool` is None (and the view not in sync) until the pool
    account has arrived, `amm_config` is Raydium's fee account (None for Orca).
    """

    venue: str
    market_id: str
    pair: str
    quote_currency: str
    pool: ClmmPool | None
    tick_arrays: tuple[ClmmQuoteAccount, ...]
    amm_config: AmmConfig | None
    base_is_a: bool
    slot: int
    in_sync: bool
    ts_event_ns: int
    ts_recv_ns: int
    ts_ingest_ns: int = 0


@fast_init  # one or more per frame: slot stores (operators/frozen.py)
@dataclass(frozen=True, slots=True)
class ClobView:
    """One on-chain CLOB (Phoenix / OpenBook v2): ladders in ticks and lots, best first.

    Conversion to token base units: a level of `size_base_lots` at `price_ticks` costs
    `size_base_lots * price_ticks * quote_units_per_tick_lot_num // quote_units_per_tick_lot_den`
    quote base units and delivers `size_base_lots * base_units_per_lot` base units.
    """

    venue: str
    market_id: str
    pair: str
    quote_currency: str
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    base_units_per_lot: int
    quote_units_per_tick_lot_num: int
    quote_units_per_tick_lot_den: int
    taker_fee_bps: float
    slot: int
    in_sync: bool
    ts_event_ns: int
    ts_recv_ns: int
    ts_ingest_ns: int = 0
    fee_rounding_quote_units: int = 1
    """Quote base units the taker fee is rounded up to: Phoenix charges fees in whole quote lots
    (its `quote_lot_size`), OpenBook v2 in quote base units (1)."""


VenueView = CexBookView | ClmmView | ClobView
"""Any venue view. `ts_ingest_ns` on each is the monotonic ns its triggering frame entered the
graph (0 when unknown): latency bookkeeping only, never used for decisions."""
