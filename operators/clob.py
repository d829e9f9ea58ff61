"""On-chain CLOBs (Phoenix, OpenBook v2): decoded account types, ladders and the walk at size.

Pure code: the connectors (`connectors.solana.phoenix`, `connectors.solana.openbook`) turn raw
account bytes into the types below; this module never sees bytes, sockets or clocks.

Units. A ladder is a list of `(price_ticks, size_base_lots)`, best first, one entry per price.
Phoenix prices are ticks (`tick_size_in_quote_lots_per_base_unit` quote lots per base unit each);
OpenBook v2 prices are lots (quote lots per base lot). `ClobView` carries the exact integer
conversion to token base units (see `operators.views.ClobView`).

Size policy of the walk (decided here, tested in tests/unit/test_clob_walk.py): a size in base
units that is not a whole number of lots is rounded DOWN to whole lots, for buys and sells alike,
because the programs only ever fill whole lots (an IOC order carries `num_base_lots`). The fill's
`size_base` says what would really be filled; a size under one lot is a `QuoteError`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from operators.errors import InsufficientLiquidity, QuoteError
from operators.views import ClobView

__all__ = [
    "PHOENIX_STATUS_ACTIVE",
    "BookSide",
    "ClobFill",
    "ClobLadderCurve",
    "InsufficientLiquidity",
    "OpenBookLeaf",
    "OpenBookMarket",
    "PhoenixMarket",
    "PhoenixOrder",
    "QuoteError",
    "aggregate_levels",
    "clob_buy_cost",
    "clob_sell_proceeds",
    "clob_walk_curve",
    "openbook_view",
    "phoenix_view",
]

Ladder = list[tuple[int, int]]
BookSideKind = Literal["bids", "asks"]

PHOENIX_STATUS_ACTIVE = 1
"""Phoenix `MarketStatus::Active`: the only status in which takers can cross the book."""

FEES_PPM_SCALE = 1_000_000
I64_MAX = (1 << 63) - 1
_PEG_OFFSET_BIAS = 1 << 63  # OpenBook maps an i64 peg offset onto u64 price data with this bias


def aggregate_levels(orders: Iterable[tuple[int, int]], *, descending: bool) -> Ladder:
    """Sum `(price, size_lots)` orders per price; best first (bids descending, asks ascending)."""
    by_price: dict[int, int] = {}
    for price, size in orders:
        by_price[price] = by_price.get(price, 0) + size
    return sorted(by_price.items(), reverse=descending)


# ----------------------------------------------------------------------------------- Phoenix


class PhoenixOrder(NamedTuple):
    """One resting Phoenix FIFO order (key + value of a red-black tree node).

    `order_sequence_number` is stored as on chain (bit-inverted for bids). A `last_valid_*` of 0
    means no expiry. A NamedTuple (immutable) because decoders build thousands per account.
    """

    price_in_ticks: int
    order_sequence_number: int
    trader_index: int
    num_base_lots: int
    last_valid_slot: int = 0
    last_valid_unix_timestamp_in_seconds: int = 0

    def is_expired(self, slot: int | None, unix_ts: int | None) -> bool:
        """True when the program would skip this order at `slot` / `unix_ts` (seconds)."""
        return (slot is not None and self.last_valid_slot != 0 and self.last_valid_slot < slot) or (
            unix_ts is not None
            and self.last_valid_unix_timestamp_in_seconds != 0
            and self.last_valid_unix_timestamp_in_seconds < unix_ts
        )


@dataclass(frozen=True, slots=True)
class PhoenixMarket:
    """A decoded Phoenix market account: MarketHeader + FIFOMarket (mints are base58 strings).

    `bids` / `asks` are the ladders of every resting order with a non-zero size, whatever its
    expiry (decoding has no clock); `levels(side, slot=, unix_ts=)` drops the expired ones.
    """

    discriminant: int
    status: int
    bids_size: int
    asks_size: int
    num_seats: int
    base_decimals: int
    base_vault_bump: int
    base_mint: str
    base_vault: str
    base_lot_size: int
    quote_decimals: int
    quote_vault_bump: int
    quote_mint: str
    quote_vault: str
    quote_lot_size: int
    tick_size_in_quote_atoms_per_base_unit: int
    authority: str
    fee_recipient: str
    market_sequence_number: int
    successor: str
    raw_base_units_per_base_unit: int
    base_lots_per_base_unit: int
    tick_size_in_quote_lots_per_base_unit: int
    order_sequence_number: int
    taker_fee_bps: int
    collected_quote_lot_fees: int
    unclaimed_quote_lot_fees: int
    bid_orders: tuple[PhoenixOrder, ...]
    ask_orders: tuple[PhoenixOrder, ...]
    bids: Ladder
    asks: Ladder

    def levels(
        self, side: BookSideKind, *, slot: int | None = None, unix_ts: int | None = None
    ) -> Ladder:
        """Ladder `(price_in_ticks, size_in_base_lots)` of `side`, best first, unexpired only."""
        orders = self.bid_orders if side == "bids" else self.ask_orders
        return aggregate_levels(
            (
                (o.price_in_ticks, o.num_base_lots)
                for o in orders
                if o.num_base_lots > 0 and not o.is_expired(slot, unix_ts)
            ),
            descending=side == "bids",
        )


# ----------------------------------------------------------------------------------- OpenBook


@dataclass(frozen=True, slots=True)
class OpenBookMarket:
    """A decoded OpenBook v2 `Market` account (pubkeys base58; optional admins/oracles None).

    Fees are in millionths (`FEES_SCALE_FACTOR` 10^6): `taker_fee` 400 is 4 bps.
    """

    bump: int
    base_decimals: int
    quote_decimals: int
    market_authority: str
    time_expiry: int
    collect_fee_admin: str
    open_orders_admin: str | None
    consume_events_admin: str | None
    close_market_admin: str | None
    name: str
    bids: str
    asks: str
    event_heap: str
    oracle_a: str | None
    oracle_b: str | None
    oracle_conf_filter: float
    oracle_max_staleness_slots: int
    quote_lot_size: int
    base_lot_size: int
    seq_num: int
    registration_time: int
    maker_fee: int
    taker_fee: int
    fees_accrued: int
    fees_to_referrers: int
    referrer_rebates_accrued: int
    fees_available: int
    maker_volume: int
    taker_volume_wo_oo: int
    base_mint: str
    quote_mint: str
    market_base_vault: str
    base_deposit_total: int
    market_quote_vault: str
    quote_deposit_total: int

    def is_expired(self, now_ts: int) -> bool:
        """True when no trading is allowed any more at `now_ts` (unix seconds)."""
        return self.time_expiry != 0 and self.time_expiry < now_ts


class OpenBookLeaf(NamedTuple):
    """One resting OpenBook v2 order (a critbit `LeafNode`); `key` is the u128 tree key.

    The top 64 bits of `key` are the price data: the price in lots for the fixed tree, the
    biased peg offset for the oracle-pegged tree. `time_in_force` 0 means no expiry.
    A NamedTuple (immutable) because decoders build hundreds per account.
    """

    key: int
    quantity: int
    timestamp: int
    time_in_force: int = 0
    peg_limit: int = -1
    owner_slot: int = 0
    owner: bytes = bytes(32)
    client_order_id: int = 0

    @property
    def price_data(self) -> int:
        """The upper 64 bits of the key (price in lots, or biased peg offset)."""
        return self.key >> 64

    def is_expired(self, now_ts: int) -> bool:
        """True when the program treats the order as expired at `now_ts` (unix seconds)."""
        return self.time_in_force > 0 and now_ts >= self.timestamp + self.time_in_force


def _pegged_price_lots(
    oracle_price_lots: int, leaf: OpenBookLeaf, side: BookSideKind
) -> int | None:
    """Price in lots of a pegged order at `oracle_price_lots`, None if the program skips it."""
    offset = leaf.price_data - _PEG_OFFSET_BIAS
    price = max(-I64_MAX - 1, min(I64_MAX, oracle_price_lots + offset))  # i64 saturating add
    if not 1 <= price < I64_MAX:
        return None  # unrepresentable at this oracle price: skipped
    if leaf.peg_limit != -1 and (
        price > leaf.peg_limit if side == "bids" else price < leaf.peg_limit
    ):
        return None  # beyond its peg limit: invalid, never matched
    return price


@dataclass(frozen=True, slots=True)
class BookSide:
    """A decoded OpenBook v2 `BookSide`: its fixed and oracle-pegged order trees, best first.

    `fixed_ladder` (every fixed order aggregated) and `fixed_live_until_ts` (the first unix second
    at which a fixed order has expired; None: none ever does) are derived once, so `levels` at a
    time before any expiry, with no oracle price, is that ladder as is (the market state asks for
    each side's ladder at every view, and both sides' at every crossed-book check).
    """

    side: BookSideKind
    fixed: tuple[OpenBookLeaf, ...]
    oracle_pegged: tuple[OpenBookLeaf, ...]
    fixed_ladder: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    fixed_live_until_ts: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ladder = aggregate_levels(
            ((leaf.price_data, leaf.quantity) for leaf in self.fixed),
            descending=self.side == "bids",
        )
        ends = [o.timestamp + o.time_in_force for o in self.fixed if o.time_in_force > 0]
        object.__setattr__(self, "fixed_ladder", tuple(ladder))
        object.__setattr__(self, "fixed_live_until_ts", min(ends) if ends else None)

    def levels(self, now_ts: int | None = None, oracle_price_lots: int | None = None) -> Ladder:
        """Ladder `(price_lots, size_base_lots)`, best first, one entry per price.

        Orders expired at `now_ts` (unix s; None: keep all) are left out. Oracle-pegged orders
        are priced at `oracle_price_lots + offset` and are left out when no oracle price is given,
        exactly as the program does when its oracle is missing, stale or not confident.
        """
        until = self.fixed_live_until_ts
        if oracle_price_lots is None and (now_ts is None or until is None or now_ts < until):
            return list(self.fixed_ladder)  # no fixed order expired yet: every one counts
        orders: list[tuple[int, int]] = [
            (leaf.price_data, leaf.quantity)
            for leaf in self.fixed
            if now_ts is None or not leaf.is_expired(now_ts)
        ]
        if oracle_price_lots is not None:
            for leaf in self.oracle_pegged:
                if now_ts is not None and leaf.is_expired(now_ts):
                    continue
                price = _pegged_price_lots(oracle_price_lots, leaf, self.side)
                if price is not None:
                    orders.append((price, leaf.quantity))
        return aggregate_levels(orders, descending=self.side == "bids")


# ----------------------------------------------------------------------------------- walk


@dataclass(frozen=True, slots=True)
class ClobFill:
    """Result of walking a CLOB ladder at size.

    `size_base` is the base token base units filled (whole lots); `quote_amount` the quote base
    units paid (buy) or received (sell) BEFORE the taker fee, rounded against us; `fee_quote` the
    taker fee in quote base units, rounded up as the program does; `worst_price_ticks` the price
    of the last level touched (ticks for Phoenix, lots for OpenBook).
    """

    size_base: int
    quote_amount: int
    fee_quote: int
    levels_used: int
    worst_price_ticks: int


def _where(view: ClobView) -> str:
    return f"{view.venue}/{view.market_id}"


def _taker_fee_ppm(view: ClobView) -> int:
    """The view's taker fee as an exact integer in millionths (both venues charge whole ppm)."""
    ppm = round(view.taker_fee_bps * 100)
    if ppm < 0 or abs(view.taker_fee_bps * 100 - ppm) > 1e-6:
        raise QuoteError(
            f"{_where(view)}: taker_fee_bps {view.taker_fee_bps!r} is not a whole number of ppm"
        )
    return ppm


def _fee_quote(view: ClobView, quote_amount: int) -> int:
    """Taker fee in quote base units, rounded up to the venue's fee unit."""
    unit = view.fee_rounding_quote_units
    ppm = _taker_fee_ppm(view)
    # Phoenix charges ceil(quote_lots * bps / 10^4) whole quote lots; OpenBook ceil(native * ppm
    # / 10^6) native units: one formula with unit = quote lot size (Phoenix) or 1 (OpenBook).
    return -(-quote_amount * ppm // (FEES_PPM_SCALE * unit)) * unit


def _walk(
    view: ClobView, ladder: tuple[tuple[int, int], ...], size_base: int, buy: bool
) -> ClobFill:
    if view.base_units_per_lot <= 0 or view.quote_units_per_tick_lot_den <= 0:
        raise QuoteError(f"{_where(view)}: lot/tick conversion must be positive")
    if size_base <= 0:
        raise QuoteError(f"{_where(view)}: size {size_base} base units must be positive")
    want_lots = size_base // view.base_units_per_lot
    if want_lots == 0:
        raise QuoteError(
            f"{_where(view)}: size {size_base} base units is below one lot "
            f"({view.base_units_per_lot} base units)"
        )
    remaining = want_lots
    tick_lots = 0
    used = 0
    worst = 0
    for price_ticks, size_lots in ladder:
        if price_ticks <= 0 or size_lots <= 0:
            raise QuoteError(
                f"{_where(view)}: bad ladder level ({price_ticks}, {size_lots}): "
                "price and size must be positive"
            )
        take = size_lots if size_lots < remaining else remaining
        tick_lots += take * price_ticks
        remaining -= take
        used += 1
        worst = price_ticks
        if remaining == 0:
            break
    if remaining:
        side = "asks" if buy else "bids"
        raise InsufficientLiquidity(
            f"{_where(view)}: {side} hold {want_lots - remaining} of the {want_lots} lots wanted"
        )
    num = tick_lots * view.quote_units_per_tick_lot_num
    den = view.quote_units_per_tick_lot_den
    quote = -(-num // den) if buy else num // den  # rounded against us
    return ClobFill(
        size_base=want_lots * view.base_units_per_lot,
        quote_amount=quote,
        fee_quote=_fee_quote(view, quote),
        levels_used=used,
        worst_price_ticks=worst,
    )


def clob_buy_cost(view: ClobView, size_base: int) -> ClobFill:
    """Walk the asks to buy `size_base` base units (rounded down to lots); quote units spent."""
    return _walk(view, view.asks, size_base, buy=True)


def clob_sell_proceeds(view: ClobView, size_base: int) -> ClobFill:
    """Walk the bids to sell `size_base` base units (rounded down to lots); quote units got."""
    return _walk(view, view.bids, size_base, buy=False)


def clob_walk_curve(
    view: ClobView, sizes: Sequence[int], *, buy: bool
) -> list[ClobFill | QuoteError]:
    """`clob_buy_cost` (buy) or `clob_sell_proceeds` of every size (base units, ascending) in
    one walk of the ladder: the same fills, or the same error in place of each."""
    ladder = view.asks if buy else view.bids
    n = len(sizes)
    if view.base_units_per_lot <= 0 or view.quote_units_per_tick_lot_den <= 0:
        return [QuoteError(f"{_where(view)}: lot/tick conversion must be positive")] * n
    bul, num = view.base_units_per_lot, view.quote_units_per_tick_lot_num
    den = view.quote_units_per_tick_lot_den
    out: list[ClobFill | QuoteError] = []
    fee_unit, fee_ppm, fee_error = view.fee_rounding_quote_units, 0, None
    try:
        fee_ppm = _taker_fee_ppm(view)
    except QuoteError as exc:  # every size that fills fails with it, as `_walk` would
        fee_error = exc
    li, cum_lots, cum_tick_lots = 0, 0, 0
    broken: QuoteError | None = None  # a bad level: every size reaching it fails with it
    for size_base in sizes:
        if size_base <= 0:
            out.append(
                QuoteError(f"{_where(view)}: size {size_base} base units must be positive")
            )
            continue
        want = size_base // bul
        if want == 0:
            out.append(QuoteError(
                f"{_where(view)}: size {size_base} base units is below one lot ({bul} base units)"
            ))
            continue
        if broken is not None and want > cum_lots:
            out.append(broken)
            continue
        while li < len(ladder):
            price_ticks, size_lots = ladder[li]
            if price_ticks <= 0 or size_lots <= 0:
                broken = QuoteError(
                    f"{_where(view)}: bad ladder level ({price_ticks}, {size_lots}): "
                    "price and size must be positive"
                )
                break
            if cum_lots + size_lots >= want:
                break
            cum_lots += size_lots
            cum_tick_lots += size_lots * price_ticks
            li += 1
        if broken is not None:
            out.append(broken)
            continue
        if li == len(ladder):
            side = "asks" if buy else "bids"
            out.append(InsufficientLiquidity(
                f"{_where(view)}: {side} hold {cum_lots} of the {want} lots wanted"
            ))
            continue
        price_ticks = ladder[li][0]
        tick_lots = cum_tick_lots + (want - cum_lots) * price_ticks
        q = -(-tick_lots * num // den) if buy else tick_lots * num // den
        if fee_error is not None:
            out.append(fee_error)
            continue
        # = _fee_quote(view, q), the fee rate worked out once per walk
        fee = -(-q * fee_ppm // (FEES_PPM_SCALE * fee_unit)) * fee_unit
        out.append(ClobFill(want * bul, q, fee, li + 1, price_ticks))
    return out


class ClobLadderCurve:
    """One side of a `ClobView` as prefix sums: the fill of any size in one bisection.

    For sizing, which prices many sizes of the same view in several batches: built once per
    view and side (lazily, as deep as the largest size asked so far), it gives
    `clob_walk_curve`'s integers (quote amount, taker fee, levels used) for every size that walk
    fills at exactly that size, and None for every other one (an error of the walk: not
    positive, below one lot, past a bad level or the ladder's depth, a bad fee; or a size that
    is not whole lots, which the walk fills rounded down).
    """

    __slots__ = ("_bul", "_buy", "_den", "_ends", "_fee_ppm", "_fee_unit", "_ladder", "_lots",
                 "_lots_before", "_num", "_prices", "_stop", "_ticks", "_ticks_before")  # fmt: skip

    def __init__(self, view: ClobView, *, buy: bool) -> None:
        self._buy = buy
        self._bul = view.base_units_per_lot
        self._num = view.quote_units_per_tick_lot_num
        self._den = view.quote_units_per_tick_lot_den
        self._fee_unit = view.fee_rounding_quote_units
        self._ladder = view.asks if buy else view.bids
        self._ends: list[int] = []  # lots through level i
        self._lots_before: list[int] = []
        self._ticks_before: list[int] = []  # sum of lots x price ticks before level i
        self._prices: list[int] = []
        self._lots = self._ticks = 0  # totals of the levels summed so far
        self._stop = False  # a bad level or the ladder's end reached: no deeper level fills
        self._fee_ppm = -1  # -1: the fee is bad (or a lot or tick conversion): nothing fills
        if self._bul <= 0 or self._den <= 0:
            return
        try:
            self._fee_ppm = _taker_fee_ppm(view)
        except QuoteError:
            return

    def _extend(self, want: int) -> None:
        """Sum levels until `want` lots are covered (or no further level can fill)."""
        ladder, i = self._ladder, len(self._ends)
        lots, ticks = self._lots, self._ticks
        while lots < want:
            if i >= len(ladder):
                self._stop = True
                break
            price_ticks, size_lots = ladder[i]
            if price_ticks <= 0 or size_lots <= 0:
                self._stop = True  # the walk fails at this level: only those before it fill
                break
            self._lots_before.append(lots)
            self._ticks_before.append(ticks)
            self._prices.append(price_ticks)
            lots += size_lots
            ticks += size_lots * price_ticks
            self._ends.append(lots)
            i += 1
        self._lots, self._ticks = lots, ticks

    def amounts(self, sizes: Sequence[int]) -> list[tuple[int, int, int] | None]:
        """(quote_amount, fee_quote, levels_used) per size (base units, any order), or None."""
        if self._fee_ppm < 0:
            return [None] * len(sizes)
        out: list[tuple[int, int, int] | None] = []
        ends = self._ends
        bul, num, den, buy = self._bul, self._num, self._den, self._buy
        before, ticks_before, prices = self._lots_before, self._ticks_before, self._prices
        fee_ppm, fee_den, unit = self._fee_ppm, FEES_PPM_SCALE * self._fee_unit, self._fee_unit
        for size_base in sizes:
            want, rest = divmod(size_base, bul)
            if rest or want <= 0:
                out.append(None)
                continue
            if want > self._lots:
                if not self._stop:
                    self._extend(want)
                if want > self._lots:
                    out.append(None)
                    continue
            i = bisect_left(ends, want)  # the first level whose end covers `want` lots
            tick_lots = ticks_before[i] + (want - before[i]) * prices[i]
            q = -(-tick_lots * num // den) if buy else tick_lots * num // den
            out.append((q, -(-q * fee_ppm // fee_den) * unit, i + 1))
        return out


# ----------------------------------------------------------------------------------- views


def phoenix_view(
    market: PhoenixMarket,
    *,
    venue: str,
    market_id: str,
    pair: str,
    quote_currency: str,
    slot: int,
    ts_event_ns: int,
    ts_recv_ns: int,
    in_sync: bool = True,
    unix_ts: int | None = None,
    ts_ingest_ns: int = 0,
) -> ClobView:
    """ClobView of a Phoenix market at `slot` (orders expired at slot / `unix_ts` s dropped).

    One (tick x lot) costs `tick_size_in_quote_lots_per_base_unit * quote_lot_size /
    base_lots_per_base_unit` quote base units (exact: the program requires the tick size to be a
    multiple of base_lots_per_base_unit); fees round up to whole quote lots. A market that is
    not Active (status 1) cannot be crossed, so its view is never in sync.
    """
    if market.base_lots_per_base_unit <= 0 or market.base_lot_size <= 0:
        raise QuoteError(f"{venue}/{market_id}: market lot sizes are not initialised")
    num = market.tick_size_in_quote_lots_per_base_unit * market.quote_lot_size
    den = market.base_lots_per_base_unit
    g = math.gcd(num, den) or 1
    return ClobView(
        venue=venue,
        market_id=market_id,
        pair=pair,
        quote_currency=quote_currency,
        bids=tuple(market.levels("bids", slot=slot, unix_ts=unix_ts)),
        asks=tuple(market.levels("asks", slot=slot, unix_ts=unix_ts)),
        base_units_per_lot=market.base_lot_size,
        quote_units_per_tick_lot_num=num // g,
        quote_units_per_tick_lot_den=den // g,
        taker_fee_bps=float(market.taker_fee_bps),
        slot=slot,
        in_sync=in_sync and market.status == PHOENIX_STATUS_ACTIVE,
        ts_event_ns=ts_event_ns,
        ts_recv_ns=ts_recv_ns,
        ts_ingest_ns=ts_ingest_ns,
        fee_rounding_quote_units=market.quote_lot_size,
    )


def openbook_view(
    market: OpenBookMarket,
    bids: BookSide,
    asks: BookSide,
    now_ts: int,
    *,
    venue: str,
    market_id: str,
    pair: str,
    quote_currency: str,
    slot: int,
    ts_event_ns: int,
    ts_recv_ns: int,
    in_sync: bool = True,
    oracle_price_lots: int | None = None,
    ts_ingest_ns: int = 0,
) -> ClobView:
    """ClobView of an OpenBook v2 market at `now_ts` (unix s): expired orders dropped.

    Prices are lots, so one (lot x lot) costs `quote_lot_size` quote base units; fees are whole
    ppm rounded up in quote base units. Pegged orders count only with `oracle_price_lots`. An
    expired market (`time_expiry`) accepts no trade, so its view is never in sync.
    """
    if bids.side != "bids" or asks.side != "asks":
        raise QuoteError(
            f"{venue}/{market_id}: book sides swapped (got {bids.side!r}, {asks.side!r})"
        )
    if market.base_lot_size <= 0 or market.quote_lot_size <= 0:
        raise QuoteError(f"{venue}/{market_id}: market lot sizes must be positive")
    return ClobView(
        venue=venue,
        market_id=market_id,
        pair=pair,
        quote_currency=quote_currency,
        bids=tuple(bids.levels(now_ts, oracle_price_lots)),
        asks=tuple(asks.levels(now_ts, oracle_price_lots)),
        base_units_per_lot=market.base_lot_size,
        quote_units_per_tick_lot_num=market.quote_lot_size,
        quote_units_per_tick_lot_den=1,
        taker_fee_bps=market.taker_fee / 100,
        slot=slot,
        in_sync=in_sync and not market.is_expired(now_ts),
        ts_event_ns=ts_event_ns,
        ts_recv_ns=ts_recv_ns,
        ts_ingest_ns=ts_ingest_ns,
        fee_rounding_quote_units=1,
    )
