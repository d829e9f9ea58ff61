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
from typing import Any, TypeVar

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from connectors.solana.programs import TOKEN_PROGRAM_ID, associated_token_address, pubkey
from operators.errors import ExecutionError

__all__ = [
    "SwapPlan",
    "SwapRequest",
    "TokenAccount",
    "ceil_div",
    "classic_token_accounts",
    "input_is_first_mint",
    "owner_token_account",
    "require_market",
    "require_uint",
]

_M = TypeVar("_M")


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of a / b for b > 0."""
    return -(-a // b)


def require_uint(value: int, bits: int, name: str, *, instruction: str, venue: str = "") -> None:
    """`ExecutionError` unless `value` fits the instruction field `name` (unsigned, `bits`)."""
    if not 0 <= value < 1 << bits:
        raise ExecutionError(
            f"{instruction} {name} {value} does not fit u{bits}", retryable=False, venue=venue
        )


def owner_token_account(
    given: str,
    owner: str,
    mint: str,
    field_name: str,
    token_program: str | Pubkey = TOKEN_PROGRAM_ID,
) -> Pubkey:
    """The token account a swap uses for `mint`: the one `given`, or `owner`'s ATA."""
    if given:
        return pubkey(given, field_name)
    return associated_token_address(owner, mint, token_program)


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


def require_market(req: SwapRequest, kind: type[_M], venue: str) -> _M:
    """The request's market as the venue's decoded type; `ExecutionError` when it is not."""
    market = req.market
    if not isinstance(market, kind):
        raise ExecutionError(
            f"{type(market).__name__} is not a {kind.__name__}", retryable=False, venue=venue
        )
    return market


def input_is_first_mint(req: SwapRequest, first_mint: str, second_mint: str, venue: str) -> bool:
    """Whether the request pays in the market's first mint (CLMM token A / 0, CLOB base), not
    its second; `ExecutionError` when it pays in neither."""
    if req.input_mint == first_mint:
        return True
    if req.input_mint == second_mint:
        return False
    raise ExecutionError(
        f"input mint {req.input_mint} is neither {first_mint} nor {second_mint} of "
        f"{req.market_address}",
        retryable=False,
        venue=venue,
    )


def classic_token_accounts(*pairs: tuple[Pubkey, str]) -> tuple[TokenAccount, ...]:
    """(account, mint) pairs of the classic SPL token program as the plan's `TokenAccount`s."""
    return tuple(TokenAccount(str(acc), mint, str(TOKEN_PROGRAM_ID)) for acc, mint in pairs)
