"""What every venue's swap planner takes and gives: one request shape for all DEX venues.

A `SwapRequest` says what to trade in token base units (the exact side and the limit on the
other side, already derived from the exact quote, see `operators.slippage`); the venue's
`plan_swap` (in its builder module, referenced by its adapter) turns it into the instruction,
the instruction's own limit fields under the program's names (for the journal) and the owner's
token accounts it touches (so missing ones can be created idempotently).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from solders.instruction import Instruction

from connectors.solana.programs import TOKEN_PROGRAM_ID

__all__ = ["SwapPlan", "SwapRequest", "TokenAccount", "ceil_div"]


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of a / b for b > 0."""
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class SwapRequest:
    """One DEX leg to send.

    `amount` is the exact side (input if `exact_in`, else output) and `limit` the other side's
    bound (minimum output if `exact_in`, else maximum input), token base units. `tick_after` is
    the CLMM quote's end tick (the tick arrays it walked); `bitmap_extension` the Raydium pool's
    extension account when held; `book_side` the OpenBook side the order takes from (its makers'
    open-orders accounts settle in the same instruction). `token_programs` maps a mint to its
    token program when it is not the classic one; `worst_price` is the CLOB quote's last level.
    """

    venue: str
    market_address: str
    market: Any
    owner: str
    input_mint: str
    exact_in: bool
    amount: int
    limit: int
    quoted_in: int
    quoted_out: int
    tick_after: int | None = None
    bitmap_extension: Any = None
    book_side: Any = None
    token_programs: Mapping[str, str] = field(default_factory=dict)
    match_limit: int | None = None
    worst_price: int | None = None
    """CLOB quote: the price of the last level the walk touched (Phoenix ticks, OpenBook lots)."""

    def token_program(self, mint: str) -> str:
        """The token program of `mint` (the classic SPL token program unless mapped)."""
        return self.token_programs.get(mint, str(TOKEN_PROGRAM_ID))


@dataclass(frozen=True, slots=True)
class TokenAccount:
    """An owner's associated token account a swap uses: address, mint, token program."""

    address: str
    mint: str
    token_program: str


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """A planned swap: its instruction, its limit fields by program name, the accounts it uses."""

    instruction: Instruction
    limits: Mapping[str, int]
    token_accounts: tuple[TokenAccount, ...]
