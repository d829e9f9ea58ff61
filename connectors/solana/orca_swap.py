"""Orca Whirlpool `swap_v2` instruction builder (sans-I/O): decoded pool + amounts -> Instruction.

Facts (orca-so/whirlpools `programs/whirlpool/src/instructions/v2/swap.rs`,
`util/sparse_swap.rs`, `util/v2/remaining_accounts_utils.rs`; the published client
`@orca-so/whirlpools-client` builds the same bytes, see tests/unit/test_dex_swap_oracle.py):

    accounts: token_program_a, token_program_b, memo_program, token_authority (signer),
      whirlpool (w), token_mint_a, token_mint_b, token_owner_account_a (w), token_vault_a (w),
      token_owner_account_b (w), token_vault_b (w), tick_array_0..2 (w), oracle (w),
      then remaining accounts (supplemental tick arrays, w)
    data: sha256("global:swap_v2")[:8], amount u64, other_amount_threshold u64,
      sqrt_price_limit u128, amount_specified_is_input bool, a_to_b bool,
      remaining_accounts_info Option<{slices: Vec<{accounts_type u8, length u8}>}>

The program builds its tick-array sequence itself: from the array holding the current tick
(b->a: the next array when the next initializable tick is past this one) it takes at most three
consecutive arrays in the swap direction, found among the three static slots and the
supplemental ones in any order, and stops at the first missing start. So the static slots carry
exactly those starts (repeated when fewer exist at the price range's edge), and a quote whose
walk ends beyond them cannot execute.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID, tick_array_address
from connectors.solana.program_errors import WHIRLPOOL_ERRORS
from connectors.solana.programs import (
    MEMO_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    anchor_ix_discriminator,
    meta,
    pubkey,
)
from connectors.solana.swap_plan import (
    SwapPlan,
    SwapRequest,
    TokenAccount,
    input_is_first_mint,
    owner_token_account,
    require_market,
    require_uint,
)
from operators.clmm.accounts import TICK_ARRAY_SIZE, Whirlpool
from operators.errors import ExecutionError

__all__ = [
    "ACCOUNTS_TYPE_SUPPLEMENTAL_TICK_ARRAYS",
    "MAX_SUPPLEMENTAL_TICK_ARRAYS",
    "SWAP_ERRORS",
    "OrcaSwapAccounts",
    "oracle_address",
    "plan_swap",
    "swap_tick_array_starts",
    "swap_v2_instruction",
]

_PROGRAM = Pubkey.from_string(WHIRLPOOL_PROGRAM_ID)
_DISC = anchor_ix_discriminator("swap_v2")
_ARGS = struct.Struct("<QQQQ??")
_MIN_TICK_INDEX = -443636
_MAX_TICK_INDEX = 443636
ACCOUNTS_TYPE_SUPPLEMENTAL_TICK_ARRAYS = 6
"""`AccountsType::SupplementalTickArrays` in the program's remaining-accounts slices."""
MAX_SUPPLEMENTAL_TICK_ARRAYS = 3
_U64_MAX = (1 << 64) - 1


_tick_array = lru_cache(maxsize=8192)(tick_array_address)


@lru_cache(maxsize=1024)
def oracle_address(whirlpool: str) -> str:
    """The pool's Oracle PDA ["oracle", whirlpool] (read by adaptive-fee pools, always passed)."""
    seeds = [b"oracle", bytes(pubkey(whirlpool, "whirlpool"))]
    return str(Pubkey.find_program_address(seeds, _PROGRAM)[0])


def swap_tick_array_starts(tick_current_index: int, tick_spacing: int, a_to_b: bool) -> list[int]:
    """Start ticks of the (up to three) tick arrays the program walks, in swap order."""
    span = TICK_ARRAY_SIZE * tick_spacing
    base = tick_current_index // span * span
    if a_to_b:
        offsets = (0, -1, -2)
    elif tick_current_index + tick_spacing >= base + span:
        offsets = (1, 2, 3)  # no initializable tick above the current one in this array
    else:
        offsets = (0, 1, 2)
    starts = [base + o * span for o in offsets]
    return [s for s in starts if s + span > _MIN_TICK_INDEX and s < _MAX_TICK_INDEX]


@dataclass(frozen=True, slots=True)
class OrcaSwapAccounts:
    """The trader's side of a swap: authority and token accounts (ATAs when not given)."""

    token_authority: str
    token_owner_account_a: str = ""
    token_owner_account_b: str = ""
    token_program_a: str = str(TOKEN_PROGRAM_ID)
    token_program_b: str = str(TOKEN_PROGRAM_ID)

    def owner_account_a(self, mint: str) -> Pubkey:
        """Token account for mint A: the given one or the authority's ATA."""
        return owner_token_account(
            self.token_owner_account_a,
            self.token_authority,
            mint,
            "token_owner_account_a",
            self.token_program_a,
        )

    def owner_account_b(self, mint: str) -> Pubkey:
        """Token account for mint B: the given one or the authority's ATA."""
        return owner_token_account(
            self.token_owner_account_b,
            self.token_authority,
            mint,
            "token_owner_account_b",
            self.token_program_b,
        )


def _check_u(value: int, bits: int, name: str) -> None:
    require_uint(value, bits, name, instruction="swap_v2", venue="orca")


def swap_v2_instruction(
    pool: Whirlpool,
    trader: OrcaSwapAccounts,
    *,
    amount: int,
    other_amount_threshold: int,
    a_to_b: bool,
    amount_specified_is_input: bool = True,
    sqrt_price_limit: int = 0,
    tick_array_starts: Sequence[int] | None = None,
    supplemental_tick_array_starts: Sequence[int] = (),
) -> Instruction:
    """Whirlpool `swap_v2` for `amount` base units (in if exact-in) with its slippage limit.

    `tick_array_starts` defaults to the program's own sequence from the pool's current tick;
    `sqrt_price_limit` 0 means no explicit limit (Q64.64 otherwise).
    """
    if not pool.address:
        raise ExecutionError("swap_v2 needs the pool's address", retryable=False, venue="orca")
    _check_u(amount, 64, "amount")
    _check_u(other_amount_threshold, 64, "other_amount_threshold")
    _check_u(sqrt_price_limit, 128, "sqrt_price_limit")
    starts = list(
        tick_array_starts
        if tick_array_starts is not None
        else swap_tick_array_starts(pool.tick_current_index, pool.tick_spacing, a_to_b)
    )
    if not 1 <= len(starts) <= 3:
        raise ExecutionError(
            f"swap_v2 takes 1 to 3 static tick arrays, got {len(starts)}",
            retryable=False,
            venue="orca",
        )
    if len(supplemental_tick_array_starts) > MAX_SUPPLEMENTAL_TICK_ARRAYS:
        raise ExecutionError(
            f"swap_v2 takes at most {MAX_SUPPLEMENTAL_TICK_ARRAYS} supplemental tick arrays",
            retryable=False,
            venue="orca",
        )
    # the program dedups tick arrays by key: repeating the last one fills an unused slot
    while len(starts) < 3:
        starts.append(starts[-1])
    arrays = [_tick_array(pool.address, s) for s in starts]
    supplemental = [_tick_array(pool.address, s) for s in supplemental_tick_array_starts]
    accounts: list[AccountMeta] = [
        meta(trader.token_program_a),
        meta(trader.token_program_b),
        AccountMeta(MEMO_PROGRAM_ID, is_signer=False, is_writable=False),
        meta(trader.token_authority, signer=True),
        meta(pool.address, writable=True),
        meta(pool.token_mint_a),
        meta(pool.token_mint_b),
        AccountMeta(trader.owner_account_a(pool.token_mint_a), False, True),
        meta(pool.token_vault_a, writable=True),
        AccountMeta(trader.owner_account_b(pool.token_mint_b), False, True),
        meta(pool.token_vault_b, writable=True),
        *(meta(a, writable=True) for a in arrays),
        meta(oracle_address(pool.address), writable=True),
        *(meta(a, writable=True) for a in supplemental),
    ]
    data = _DISC + _ARGS.pack(
        amount,
        other_amount_threshold,
        sqrt_price_limit & _U64_MAX,
        sqrt_price_limit >> 64,
        amount_specified_is_input,
        a_to_b,
    )
    if supplemental:
        data += b"\x01" + struct.pack(
            "<IBB", 1, ACCOUNTS_TYPE_SUPPLEMENTAL_TICK_ARRAYS, len(supplemental)
        )
    else:
        data += b"\x00"
    return Instruction(_PROGRAM, data, accounts)


def plan_swap(req: SwapRequest) -> SwapPlan:
    """The `swap_v2` of a request: static arrays from the pool's tick, one spare array each way.

    Raises `ExecutionError` when the quote's end tick lies beyond the three arrays the program
    can walk (the quote was made with more arrays than one swap may use).
    """
    pool = require_market(req, Whirlpool, "orca")
    a_to_b = input_is_first_mint(req, pool.token_mint_a, pool.token_mint_b, "orca")
    span = TICK_ARRAY_SIZE * pool.tick_spacing
    starts = swap_tick_array_starts(pool.tick_current_index, pool.tick_spacing, a_to_b)
    if req.tick_after is not None:
        # a->b crossing the lowest array's first tick leaves the pool at that tick - 1; b->a
        # may start below its first array (no initializable tick above the pool's in its own)
        low = min(min(starts) - (1 if a_to_b else 0), pool.tick_current_index)
        high = max(starts) + span
        if not low <= req.tick_after < high:
            raise ExecutionError(
                f"quote ends at tick {req.tick_after}, beyond the tick arrays [{low}, {high}) "
                "one swap_v2 can walk",
                retryable=False,
                venue="orca",
            )
    # a price that moves one array either way before landing still finds its arrays
    back = starts[0] + (span if a_to_b else -span)
    ahead = starts[-1] + (-span if a_to_b else span)
    spare = [
        s
        for s in (back, ahead)
        if s not in starts and s + span > _MIN_TICK_INDEX and s < _MAX_TICK_INDEX
    ]
    prog_a = req.token_program(pool.token_mint_a)
    prog_b = req.token_program(pool.token_mint_b)
    trader = OrcaSwapAccounts(req.owner, token_program_a=prog_a, token_program_b=prog_b)
    ix = swap_v2_instruction(
        pool,
        trader,
        amount=req.amount,
        other_amount_threshold=req.limit,
        a_to_b=a_to_b,
        amount_specified_is_input=req.exact_in,
        tick_array_starts=starts,
        supplemental_tick_array_starts=spare,
    )
    accounts = (
        TokenAccount(str(trader.owner_account_a(pool.token_mint_a)), pool.token_mint_a, prog_a),
        TokenAccount(str(trader.owner_account_b(pool.token_mint_b)), pool.token_mint_b, prog_b),
    )
    limits = {"other_amount_threshold": req.limit, "sqrt_price_limit": 0}
    return SwapPlan(ix, limits, accounts)


SWAP_ERRORS: Mapping[int, str] = WHIRLPOOL_ERRORS
"""Custom error number -> the program's error name (its whole enum: `program_errors`)."""
