"""Exact CLMM swap quotes (Orca Whirlpools, Raydium CLMM) with the programs' integer math.

Public API: `quote_swap`, `quote_curve`, `SwapQuote`, `QuoteError` (and `InsufficientLiquidity`).
The Orca implementation lives in `operators.clmm.swap`, Raydium's in `operators.clmm.raydium`.
Amounts are token base units (u64); `sqrt_price_limit` is Q64.64 (None or 0: no explicit limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from operators.clmm.accounts import Whirlpool
from operators.clmm.swap import (
    OrcaCurveWalk,
    quote_curve_amounts_orca,
    quote_curve_orca,
    quote_swap_orca,
)
from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote

__all__ = [
    "InsufficientLiquidity",
    "QuoteError",
    "SwapQuote",
    "quote_curve",
    "quote_curve_amounts",
    "quote_swap",
]


def _raydium() -> tuple[Any, Any]:
    try:
        from operators.clmm.raydium import quote_curve_raydium, quote_swap_raydium
    except ImportError as exc:
        raise QuoteError(f"unsupported pool type: Raydium CLMM quotes unavailable ({exc})") from exc
    return quote_swap_raydium, quote_curve_raydium


def quote_swap(
    pool: object,
    tick_arrays: Sequence[object],
    amount: int,
    *,
    a_to_b: bool,
    exact_in: bool = True,
    sqrt_price_limit: int | None = None,
    amm_config: object | None = None,
) -> SwapQuote:
    """Exact swap quote of `amount` base units (input if exact_in, else output) on a CLMM pool."""
    if isinstance(pool, Whirlpool):
        return quote_swap_orca(
            pool,
            tick_arrays,
            amount,
            a_to_b=a_to_b,
            exact_in=exact_in,
            sqrt_price_limit=sqrt_price_limit,
        )
    swap_fn, _ = _raydium()
    result: SwapQuote = swap_fn(
        pool,
        tick_arrays,
        amount,
        a_to_b=a_to_b,
        exact_in=exact_in,
        sqrt_price_limit=sqrt_price_limit,
        amm_config=amm_config,
    )
    return result


def quote_curve(
    pool: object,
    tick_arrays: Sequence[object],
    amounts: list[int],
    *,
    a_to_b: bool,
    exact_in: bool = True,
    amm_config: object | None = None,
) -> list[SwapQuote | QuoteError]:
    """Exact quotes for many sizes (base units, any order) from one tick walk; errors as values."""
    if isinstance(pool, Whirlpool):
        return quote_curve_orca(pool, tick_arrays, amounts, a_to_b=a_to_b, exact_in=exact_in)
    _, curve_fn = _raydium()
    result: list[SwapQuote | QuoteError] = curve_fn(
        pool, tick_arrays, amounts, a_to_b=a_to_b, exact_in=exact_in, amm_config=amm_config
    )
    return result


def quote_curve_amounts(
    pool: object,
    tick_arrays: Sequence[object],
    amounts: list[int],
    *,
    a_to_b: bool,
    exact_in: bool = True,
    amm_config: object | None = None,
    walk: OrcaCurveWalk | None = None,
) -> list[tuple[int, int, int, int] | QuoteError]:
    """`quote_curve`'s (amount_in, amount_out, fee_amount, ticks_crossed) per size, the same
    integers, without the end price and tick (cheaper for Orca: see `quote_curve_amounts_orca`;
    `walk`, for an Orca pool only, its kept `OrcaCurveWalk` of this direction)."""
    if isinstance(pool, Whirlpool):
        return quote_curve_amounts_orca(
            pool, tick_arrays, amounts, a_to_b=a_to_b, exact_in=exact_in, walk=walk
        )
    return [
        q
        if isinstance(q, QuoteError)
        else (q.amount_in, q.amount_out, q.fee_amount, q.ticks_crossed)
        for q in quote_curve(
            pool, tick_arrays, amounts, a_to_b=a_to_b, exact_in=exact_in, amm_config=amm_config
        )
    ]
