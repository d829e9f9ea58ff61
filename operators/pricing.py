"""Executable price at size for every venue view: book walk, ladder walk, exact CLMM swap.

Units. `size_base` is in base-token base units (lamports for SOL). `quote_amount` is in base units
of the VIEW's quote currency at the pair's `quote_decimals` (a USDT CEX book is priced in "micro
USDT"); `to_pair_quote` converts it to the pair quote currency with an explicit fx rate.

Rounding is always against us: a buy costs the ceiling of its exact price, a sell yields the
floor; CEX level quantities finer than one base unit are floored (liquidity never grows).

Fees. CEX and CLOB quotes are BEFORE the venue taker fee, reported apart in `fee_quote`; a CLMM
quote is the exact swap amount, which already contains the pool fee (`fee_in_amount` is True and
`fee_quote` is that fee expressed in quote base units, for reporting and the cost model).

Never mid, never a top-of-book VWAP: every quote walks the levels (or ticks) the size needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal, NamedTuple

from operators import clmm as clmm_quotes
from operators.clmm.accounts import Whirlpool
from operators.clmm.swap import OrcaCurveWalk
from operators.clob import clob_buy_cost, clob_sell_proceeds
from operators.errors import InsufficientLiquidity, QuoteError
from operators.events import FIXED_SCALE, FixedLevel
from operators.fixedpoint import bps_to_ppb
from operators.views import CexBookView, ClmmView, ClobView, VenueView

__all__ = [
    "PRICE_SCALE",
    "LegQuote",
    "buy_base",
    "buy_base_curve",
    "cex_curve_amounts",
    "clmm_curve_amounts",
    "clmm_walk",
    "fx_ratio",
    "sell_base",
    "sell_base_curve",
    "to_pair_quote",
]

PRICE_SCALE = FIXED_SCALE
"""CEX prices are held as integers over 10^18: exact for any price with <= 18 decimals."""

LegSide = Literal["buy", "sell"]


class LegQuote(NamedTuple):
    """One leg priced at size (amounts in base units; see the module docstring for fees).

    A NamedTuple rather than a frozen dataclass: the engine builds one per grid size per leg on
    the hot path, and a tuple is several times cheaper to create.
    """

    venue: str
    market_id: str
    side: LegSide
    size_base: int
    quote_amount: int
    fee_quote: int
    fee_in_amount: bool
    levels_used: int
    quote_currency: str

    @property
    def paid_or_received(self) -> int:
        """Quote base units that really move: cost incl. fee (buy), proceeds net of fee (sell)."""
        if self.fee_in_amount:
            return self.quote_amount
        return self.quote_amount + self.fee_quote if self.side == "buy" else (
            self.quote_amount - self.fee_quote
        )

    @property
    def gross_quote(self) -> int:
        """Quote base units before any venue fee (CLMM: swap amount with the pool fee removed)."""
        if not self.fee_in_amount:
            return self.quote_amount
        return self.quote_amount - self.fee_quote if self.side == "buy" else (
            self.quote_amount + self.fee_quote
        )


# ----------------------------------------------------------------------------------- fx


def fx_ratio(fx: Mapping[str, Decimal], currency: str) -> tuple[int, int]:
    """Exact (numerator, denominator) of one `currency` unit in the pair quote currency."""
    try:
        rate = fx[currency]
    except KeyError as exc:
        known = sorted(fx)
        raise QuoteError(f"no fx rate for quote currency {currency!r} (known: {known})") from exc
    if not rate.is_finite() or rate <= 0:
        raise QuoteError(f"fx rate for {currency!r} must be positive, got {rate}")
    return rate.as_integer_ratio()


def to_pair_quote(amount: int, ratio: tuple[int, int], *, round_up: bool) -> int:
    """Convert quote base units of a leg's currency to the pair currency (same decimals).

    Buy costs convert rounding UP, sell proceeds rounding DOWN, so fx never flatters the edge.
    """
    num, den = ratio
    if den == 1 and num == 1:
        return amount
    scaled = amount * num
    return -(-scaled // den) if round_up else scaled // den


# ----------------------------------------------------------------------------------- CEX


def _cex_walk(
    view: CexBookView,
    levels: Sequence[FixedLevel],
    sizes: Sequence[int],
    base_decimals: int,
    quote_decimals: int,
    buy: bool,
) -> list[tuple[int, int] | QuoteError]:
    """(quote_amount, levels_used) for each size (ascending), in one pass over the levels."""
    where = f"{view.venue}/{view.market_id}"
    base_scale = 10**base_decimals
    den = base_scale * PRICE_SCALE
    qmul = 10**quote_decimals
    out: list[tuple[int, int] | QuoteError] = []
    filled = 0  # base units consumed from fully used levels
    acc = 0  # sum(units * price_scaled) over fully used levels
    i = 0  # levels read so far (the current one included)
    n_levels = len(levels)
    # The current level; before the first read, an empty placeholder that consumes as nothing.
    cur_units = 0
    cur_price = 0
    prev = 0
    for size in sizes:
        if size <= 0 or size < prev:
            raise QuoteError(f"{where}: sizes must be positive and ascending, got {list(sizes)}")
        prev = size
        # Consume whole levels until the current one covers the size.
        while filled + cur_units < size:
            if i >= n_levels:
                side = "asks" if buy else "bids"
                out.append(
                    InsufficientLiquidity(
                        f"{where}: {side} hold {filled + cur_units} of the {size} base units wanted"
                    )
                )
                break
            filled += cur_units
            acc += cur_units * cur_price
            # Levels are already integers over 10^18; quantities floored to base units (exact).
            cur_price, qty_e18 = levels[i]
            if cur_price <= 0:
                raise QuoteError(f"{where}: price {cur_price}e-18 is not positive")
            if qty_e18 < 0:
                raise QuoteError(f"{where}: negative level quantity {qty_e18}e-18")
            cur_units = qty_e18 * base_scale // PRICE_SCALE
            i += 1
        else:
            num = (acc + (size - filled) * cur_price) * qmul
            out.append((-(-num // den) if buy else num // den, i))
    return out


def cex_curve_amounts(
    view: CexBookView,
    sizes: Sequence[int],
    base_decimals: int,
    quote_decimals: int,
    *,
    buy: bool,
    cex_fee_bps: float | None = None,
    cex_fee_ppb: int | None = None,
) -> list[tuple[int, int, int] | QuoteError]:
    """(quote_amount, fee_quote, levels_used) per size (base units, ascending), quote base units.

    The numbers of the CEX `LegQuote`s that `buy_base_curve` / `sell_base_curve` return, without
    building the quotes (the spread engine ranks sizes on these and builds only the winner's).
    Raises QuoteError when the whole book cannot be priced; errors per size in place.
    """
    levels = view.asks if buy else view.bids
    walked = _cex_walk(view, levels, sizes, base_decimals, quote_decimals, buy)
    if cex_fee_ppb is None:
        fee_ppb = _fee_ppb(view.taker_fee_bps if cex_fee_bps is None else cex_fee_bps)
    elif cex_fee_ppb < 0:
        raise QuoteError(f"taker fee {cex_fee_ppb} ppb must not be negative")
    else:
        fee_ppb = cex_fee_ppb
    return [
        w if isinstance(w, QuoteError) else (w[0], -(-w[0] * fee_ppb // 1_000_000_000), w[1])
        for w in walked
    ]


def _fee_ppb(fee_bps: float) -> int:
    """A fee in bps as parts per 10^9 (held to 1e-5 bps); the fee is then rounded up."""
    if not math.isfinite(fee_bps):
        raise QuoteError(f"taker fee {fee_bps} bps is not a finite number")
    ppb = bps_to_ppb(fee_bps)
    if ppb < 0:
        raise QuoteError(f"taker fee {fee_bps} bps must not be negative")
    return ppb


# ----------------------------------------------------------------------------------- CLMM


def clmm_walk(view: ClmmView, buy: bool) -> OrcaCurveWalk | None:
    """The tick-range walk a CLMM view's buy (or sell) curve can keep across calls (Orca pools;
    None for others, which walk afresh). Raises QuoteError as the curve would (bad limit)."""
    if not isinstance(view.pool, Whirlpool):
        return None
    a_to_b = view.base_is_a if not buy else not view.base_is_a
    return OrcaCurveWalk(view.pool, view.tick_arrays, a_to_b=a_to_b, exact_in=not buy)


def clmm_curve_amounts(
    view: ClmmView, sizes: Sequence[int], *, buy: bool, walk: OrcaCurveWalk | None = None
) -> list[tuple[int, int, int] | QuoteError]:
    """(quote_amount, fee_quote, ticks_crossed) per size (base units, ascending), quote base
    units: the numbers of the CLMM `LegQuote`s that `buy_base_curve` / `sell_base_curve`
    return (`fee_in_amount` True), without building the quotes. One tick walk for all sizes:
    sell = base->quote exact-in, buy = quote->base exact-out. `walk`: this view's `clmm_walk`
    of the same side, kept by the caller (None: walk afresh)."""
    where = f"{view.venue}/{view.market_id}"
    a_to_b = view.base_is_a if not buy else not view.base_is_a
    quotes = clmm_quotes.quote_curve_amounts(
        view.pool,
        list(view.tick_arrays),
        list(sizes),
        a_to_b=a_to_b,
        exact_in=not buy,
        amm_config=view.amm_config,
        walk=walk,
    )
    out: list[tuple[int, int, int] | QuoteError] = []
    for size, q in zip(sizes, quotes):
        if isinstance(q, QuoteError):
            out.append(q)
            continue
        amount_in, amount_out, fee_amount, crossed = q
        if buy:
            if amount_out != size:
                short = f"{where}: pool gives {amount_out} of {size} base"
                out.append(InsufficientLiquidity(short))
                continue
            quote_amount, fee_quote = amount_in, fee_amount  # fee is in the input: quote
        else:
            if amount_in != size:
                short = f"{where}: pool takes {amount_in} of {size} base"
                out.append(InsufficientLiquidity(short))
                continue
            quote_amount = amount_out
            # The fee is charged in base; value it at this swap's own average price, floored.
            net_in = amount_in - fee_amount
            fee_quote = fee_amount * amount_out // net_in if net_in > 0 else 0
        out.append((quote_amount, fee_quote, crossed))
    return out


def _clmm_curve(
    view: ClmmView, sizes: Sequence[int], buy: bool, walk: OrcaCurveWalk | None = None
) -> list[LegQuote | QuoteError]:
    venue, market_id, ccy = view.venue, view.market_id, view.quote_currency
    side: LegSide = "buy" if buy else "sell"
    return [
        w
        if isinstance(w, QuoteError)
        else LegQuote(venue, market_id, side, size, w[0], w[1], True, w[2], ccy)
        for size, w in zip(sizes, clmm_curve_amounts(view, sizes, buy=buy, walk=walk))
    ]


# ----------------------------------------------------------------------------------- API


def _curve(
    view: VenueView,
    sizes: Sequence[int],
    base_decimals: int,
    quote_decimals: int,
    buy: bool,
    cex_fee_bps: float | None,
    walk: OrcaCurveWalk | None = None,
) -> list[LegQuote | QuoteError]:
    side: LegSide = "buy" if buy else "sell"
    if isinstance(view, CexBookView):
        walked = cex_curve_amounts(
            view, sizes, base_decimals, quote_decimals, buy=buy, cex_fee_bps=cex_fee_bps
        )
        venue, market_id, ccy = view.venue, view.market_id, view.quote_currency
        return [
            w
            if isinstance(w, QuoteError)
            else LegQuote(venue, market_id, side, size, w[0], w[1], False, w[2], ccy)
            for size, w in zip(sizes, walked)
        ]
    if isinstance(view, ClmmView):
        return _clmm_curve(view, sizes, buy, walk)
    if isinstance(view, ClobView):
        ladder_walk = clob_buy_cost if buy else clob_sell_proceeds
        res: list[LegQuote | QuoteError] = []
        for size in sizes:
            try:
                f = ladder_walk(view, size)
            except QuoteError as exc:
                res.append(exc)
                continue
            res.append(
                LegQuote(
                    view.venue,
                    view.market_id,
                    side,
                    f.size_base,
                    f.quote_amount,
                    f.fee_quote,
                    False,
                    f.levels_used,
                    view.quote_currency,
                )
            )
        return res
    raise QuoteError(f"cannot price a {type(view).__name__}: not a venue view")


def buy_base_curve(
    view: VenueView,
    sizes: Sequence[int],
    base_decimals: int,
    quote_decimals: int,
    *,
    cex_fee_bps: float | None = None,
    walk: OrcaCurveWalk | None = None,
) -> list[LegQuote | QuoteError]:
    """Cost of buying each size (base units, ascending) in one walk; errors in place of quotes.
    `walk`: a CLMM view's `clmm_walk(view, True)`, kept across calls (None: walk afresh)."""
    return _curve(view, sizes, base_decimals, quote_decimals, True, cex_fee_bps, walk)


def sell_base_curve(
    view: VenueView,
    sizes: Sequence[int],
    base_decimals: int,
    quote_decimals: int,
    *,
    cex_fee_bps: float | None = None,
    walk: OrcaCurveWalk | None = None,
) -> list[LegQuote | QuoteError]:
    """Proceeds of selling each size (base units, ascending) in one walk; errors in place.
    `walk`: a CLMM view's `clmm_walk(view, False)`, kept across calls (None: walk afresh)."""
    return _curve(view, sizes, base_decimals, quote_decimals, False, cex_fee_bps, walk)


def _one(res: list[LegQuote | QuoteError]) -> LegQuote:
    q = res[0]
    if isinstance(q, QuoteError):
        raise q
    return q


def buy_base(
    view: VenueView,
    size_base: int,
    base_decimals: int,
    quote_decimals: int,
    *,
    cex_fee_bps: float | None = None,
) -> LegQuote:
    """Quote base units to buy `size_base` base units on `view`; raises QuoteError."""
    return _one(_curve(view, [size_base], base_decimals, quote_decimals, True, cex_fee_bps))


def sell_base(
    view: VenueView,
    size_base: int,
    base_decimals: int,
    quote_decimals: int,
    *,
    cex_fee_bps: float | None = None,
) -> LegQuote:
    """Quote base units received for selling `size_base` base units on `view`; QuoteError."""
    return _one(_curve(view, [size_base], base_decimals, quote_decimals, False, cex_fee_bps))
