"""Raydium CLMM `swap_v2` instruction builder (sans-I/O): decoded pool + amounts -> Instruction.

Facts (raydium-io/raydium-clmm `programs/amm/src/instructions/swap_v2.rs`, `swap.rs`; the
published `@raydium-io/raydium-sdk-v2` `ClmmInstrument.swapV2Instruction` builds the same bytes,
see tests/unit/test_dex_swap_oracle.py):

    accounts: payer (signer), amm_config, pool_state (w), input_token_account (w),
      output_token_account (w), input_vault (w), output_vault (w), observation_state (w),
      token_program, token_program_2022, memo_program, input_vault_mint, output_vault_mint,
      then remaining accounts: the TickArrayBitmapExtension (w) first when passed, then the
      tick arrays (w) in the order the swap uses them
    data: sha256("global:swap_v2")[:8], amount u64, other_amount_threshold u64,
      sqrt_price_limit_x64 u128, is_base_input bool

The program loads every remaining tick array as an initialized TickArrayState of the pool and
walks them in order: the first must be the first initialized array in the swap direction (the
current tick's own array when initialized), the rest the following initialized ones. It reads
the bitmap extension only when the search for the next array leaves the pool's own bitmap.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from connectors.solana.program_errors import RAYDIUM_CLMM_ERRORS
from connectors.solana.programs import (
    MEMO_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    anchor_ix_discriminator,
    meta,
)
from connectors.solana.raydium_clmm import (
    RAYDIUM_CLMM_PROGRAM_ID,
    bitmap_extension_address,
    tick_array_address,
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
from operators.clmm import raydium_math as rm
from operators.clmm.raydium import next_initialized_tick_array_start
from operators.clmm.raydium_accounts import PoolState, TickArrayBitmapExtension
from operators.errors import ExecutionError, QuoteError

__all__ = [
    "SWAP_ERRORS",
    "RaydiumSwapAccounts",
    "plan_swap",
    "swap_tick_array_starts",
    "swap_v2_instruction",
]

_PROGRAM = Pubkey.from_string(RAYDIUM_CLMM_PROGRAM_ID)
_DISC = anchor_ix_discriminator("swap_v2")
_ARGS = struct.Struct("<QQQQ?")
_U64_MAX = (1 << 64) - 1
_MAX_TICK_ARRAYS = 16  # far more than a transaction's account budget leaves for one swap

_tick_array = lru_cache(maxsize=8192)(tick_array_address)
_extension = lru_cache(maxsize=1024)(bitmap_extension_address)


def _fail(message: str) -> ExecutionError:
    return ExecutionError(f"swap_v2 {message}", retryable=False, venue="raydium_clmm")


def _first_start(pool: PoolState, ext: TickArrayBitmapExtension | None, zero_for_one: bool) -> int:
    spacing = pool.tick_spacing
    start = rm.array_start_index(pool.tick_current, spacing)
    if rm.overflows_default_bitmap(pool.tick_current, spacing):
        if ext is None:
            raise _fail(f"pool tick {pool.tick_current} needs the bitmap extension account")
        bits = ext.bitmap_u512(start < 0, rm.extension_bitmap_offset(start, spacing))
        if (bits >> rm.extension_offset_in_bitmap(start, spacing)) & 1:
            return start
    else:
        is_set, start = rm.default_bitmap_is_set(
            pool.tick_array_bitmap_u1024, pool.tick_current, spacing
        )
        if is_set:
            return start
    first = next_initialized_tick_array_start(pool, ext, start, zero_for_one)
    if first is None:
        raise _fail(f"no initialized tick array from tick {pool.tick_current} in this direction")
    return first


def swap_tick_array_starts(
    pool: PoolState,
    ext: TickArrayBitmapExtension | None,
    *,
    zero_for_one: bool,
    tick_after: int,
    extra_arrays: int = 0,
) -> tuple[list[int], bool]:
    """(start ticks of the initialized arrays a swap ending at `tick_after` uses, in order;
    whether the bitmap extension must be passed). `extra_arrays` more are added past the end
    so a price that moved before landing still finds its arrays."""
    spacing = pool.tick_spacing
    try:
        first = _first_start(pool, ext, zero_for_one)
        end = rm.array_start_index(tick_after, spacing)
        starts = [first]
        extra = extra_arrays
        while len(starts) < _MAX_TICK_ARRAYS:
            last = starts[-1]
            if (last <= end) if zero_for_one else (last >= end):
                if extra <= 0:
                    break
                extra -= 1
            nxt = next_initialized_tick_array_start(pool, ext, last, zero_for_one)
            if nxt is None:
                break
            starts.append(nxt)
    except QuoteError as exc:
        raise _fail(f"cannot find the tick arrays of the swap: {exc}") from exc
    span = rm.tick_count(spacing)
    step = -span if zero_for_one else span
    probes = [pool.tick_current, *starts, starts[-1] + step]
    needs_ext = spacing < 15 and any(rm.overflows_default_bitmap(t, spacing) for t in probes)
    return starts, needs_ext


@dataclass(frozen=True, slots=True)
class RaydiumSwapAccounts:
    """The trader's side: payer/owner and token accounts of mints 0 and 1 (ATAs if not given)."""

    payer: str
    token_account_0: str = ""
    token_account_1: str = ""
    token_program_0: str = str(TOKEN_PROGRAM_ID)
    token_program_1: str = str(TOKEN_PROGRAM_ID)

    def account(self, index: int, mint: str) -> Pubkey:
        """Token account of mint `index` (0/1): the given one or the payer's ATA."""
        given = self.token_account_0 if index == 0 else self.token_account_1
        program = self.token_program_0 if index == 0 else self.token_program_1
        return owner_token_account(given, self.payer, mint, f"token_account_{index}", program)


def swap_v2_instruction(
    pool: PoolState,
    pool_address: str,
    trader: RaydiumSwapAccounts,
    *,
    amount: int,
    other_amount_threshold: int,
    zero_for_one: bool,
    tick_array_starts: Sequence[int],
    is_base_input: bool = True,
    sqrt_price_limit_x64: int = 0,
    with_bitmap_extension: bool = False,
) -> Instruction:
    """Raydium CLMM `swap_v2` of `amount` base units (input if `is_base_input`).

    `tick_array_starts` in swap order (see `swap_tick_array_starts`); `sqrt_price_limit_x64`
    0 means no explicit limit (Q64.64 otherwise).
    """
    for value, bits, name in (
        (amount, 64, "amount"),
        (other_amount_threshold, 64, "other_amount_threshold"),
        (sqrt_price_limit_x64, 128, "sqrt_price_limit_x64"),
    ):
        require_uint(value, bits, name, instruction="swap_v2", venue="raydium_clmm")
    if not tick_array_starts:
        raise _fail("needs at least the first tick array of the swap")
    if zero_for_one:
        in_i, out_i = 0, 1
        in_vault, out_vault = pool.token_vault_0, pool.token_vault_1
        in_mint, out_mint = pool.token_mint_0, pool.token_mint_1
    else:
        in_i, out_i = 1, 0
        in_vault, out_vault = pool.token_vault_1, pool.token_vault_0
        in_mint, out_mint = pool.token_mint_1, pool.token_mint_0
    accounts: list[AccountMeta] = [
        meta(trader.payer, signer=True),
        meta(pool.amm_config),
        meta(pool_address, writable=True),
        AccountMeta(trader.account(in_i, in_mint), False, True),
        AccountMeta(trader.account(out_i, out_mint), False, True),
        meta(in_vault, writable=True),
        meta(out_vault, writable=True),
        meta(pool.observation_key, writable=True),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(TOKEN_2022_PROGRAM_ID, False, False),
        AccountMeta(MEMO_PROGRAM_ID, False, False),
        meta(in_mint),
        meta(out_mint),
    ]
    if with_bitmap_extension:
        accounts.append(meta(_extension(pool_address), writable=True))
    accounts.extend(meta(_tick_array(pool_address, s), writable=True) for s in tick_array_starts)
    data = _DISC + _ARGS.pack(
        amount,
        other_amount_threshold,
        sqrt_price_limit_x64 & _U64_MAX,
        sqrt_price_limit_x64 >> 64,
        is_base_input,
    )
    return Instruction(_PROGRAM, data, accounts)


def plan_swap(req: SwapRequest) -> SwapPlan:
    """The `swap_v2` of a request: the initialized arrays the quote walked plus one spare."""
    pool = require_market(req, PoolState, "raydium_clmm")
    zero_for_one = input_is_first_mint(req, pool.token_mint_0, pool.token_mint_1, "raydium_clmm")
    ext = (
        req.bitmap_extension if isinstance(req.bitmap_extension, TickArrayBitmapExtension) else None
    )
    starts, needs_ext = swap_tick_array_starts(
        pool,
        ext,
        zero_for_one=zero_for_one,
        tick_after=pool.tick_current if req.tick_after is None else req.tick_after,
        extra_arrays=1,
    )
    prog_0 = req.token_program(pool.token_mint_0)
    prog_1 = req.token_program(pool.token_mint_1)
    trader = RaydiumSwapAccounts(req.owner, token_program_0=prog_0, token_program_1=prog_1)
    ix = swap_v2_instruction(
        pool,
        req.market_address,
        trader,
        amount=req.amount,
        other_amount_threshold=req.limit,
        zero_for_one=zero_for_one,
        tick_array_starts=starts,
        is_base_input=req.exact_in,
        with_bitmap_extension=needs_ext,
    )
    accounts = (
        TokenAccount(str(trader.account(0, pool.token_mint_0)), pool.token_mint_0, prog_0),
        TokenAccount(str(trader.account(1, pool.token_mint_1)), pool.token_mint_1, prog_1),
    )
    limits = {"other_amount_threshold": req.limit, "sqrt_price_limit": 0}
    return SwapPlan(ix, limits, accounts)


SWAP_ERRORS: Mapping[int, str] = RAYDIUM_CLMM_ERRORS
"""Custom error number -> the program's error name (its whole enum: `program_errors`)."""
