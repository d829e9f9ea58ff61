"""Types shared by every CLMM venue's exact quote code."""

from __future__ import annotations

from dataclasses import dataclass

from operators.errors import InsufficientLiquidity, QuoteError

__all__ = ["InsufficientLiquidity", "QuoteError", "SwapQuote"]


@dataclass(frozen=True, slots=True)
class SwapQuote:
    """Exact result of one swap, as the on-chain program computes it.

    `amount_in` includes `fee_amount` (token in, base units); `amount_out` is token out, base units;
    `sqrt_price_after` is Q64.64; `tick_after` is the pool's current tick after the swap.
    """

    amount_in: int
    amount_out: int
    fee_amount: int
    sqrt_price_after: int
    tick_after: int
    ticks_crossed: int = 0
