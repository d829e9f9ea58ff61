"""Exact CLMM swap quotes (Orca Whirlpools, Raydium CLMM) with the programs' integer math.

Public API: `quote_swap`, `quote_curve`, `SwapQuote`, `QuoteError` (and `InsufficientLiquidity`).
The Orca implementation lives in `operators.clmm.swap`, Raydium's in `operators.clmm.raydium`.
"""

from __future__ import annotations

from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote

__all__ = ["InsufficientLiquidity", "QuoteError", "SwapQuote"]
