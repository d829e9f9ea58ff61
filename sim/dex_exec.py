"""Swap execution for the RPC stand-in: the venues' programs are not available offline, so the
stand-in runs each swap instruction with our exact quote math (operators/clmm) against the
accounts it holds and writes the results back (pool price, tick, liquidity; vault and trader
token balances), so the next quote sees the trade.

What is modelled (facts from the programs' sources, see connectors/solana/*_swap.py):
- Orca Whirlpool `swap_v2` and Raydium CLMM `swap_v2`: accounts and data as the builders lay
  them out; the walk uses the tick arrays passed (static + supplemental / remaining); a
  threshold breach is the program's own error (Orca 6036 AmountOutBelowMinimum / 6037
  AmountInAboveMaximum, Raydium 6018 TooLittleOutputReceived / 6019 TooMuchInputPaid); running
  out of arrays is Orca 6038 TickArraySequenceInvalidIndex / Raydium 6023
  NotEnoughTickArrayAccount. Errors are raised by name and numbered from the program's table
  (`connectors.solana.program_errors`), so the stand-in and the decoder cannot disagree;
- ComputeBudget instructions set the limit and price; the associated token program's
  `CreateIdempotent` creates an empty token account when absent;
- fees, fee growth, rewards, oracles and protocol fees are not modelled (they do not move the
  price a later quote sees).

Phoenix `Swap` and OpenBook v2 `place_take_order` are matched against the held book by
`sim.clob_exec`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from connectors.solana import orca, raydium_clmm
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.program_errors import (
    ANCHOR_ERRORS,
    PHOENIX_ERRORS,
    RAYDIUM_CLMM_ERRORS,
    WHIRLPOOL_ERRORS,
    error_number,
)
from connectors.solana.programs import ASSOCIATED_TOKEN_PROGRAM_ID, associated_token_address
from operators.clmm.accounts import TickArray
from operators.clmm.raydium import quote_swap_raydium
from operators.clmm.raydium_accounts import RaydiumTickArray
from operators.clmm.swap import quote_swap_orca
from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote
from operators.errors import DecodeError, ExecutionError
from sim.clob_exec import CLOB_HANDLERS

__all__ = [
    "BASE_FEE_LAMPORTS_PER_SIGNATURE",
    "COMPUTE_BUDGET_PROGRAM",
    "ProgramError",
    "SwapExecutor",
    "TxOutcome",
    "encode_token_account",
    "token_amount",
]

COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
BASE_FEE_LAMPORTS_PER_SIGNATURE = 5_000
DEFAULT_CU_LIMIT = 200_000
MAX_CU_LIMIT = 1_400_000
TOKEN_ACCOUNT_LEN = 165
_TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
_SYSTEM_PROGRAM = "11111111111111111111111111111111"
_U64 = (1 << 64) - 1
_ORCA = WHIRLPOOL_ERRORS
_RAYDIUM = RAYDIUM_CLMM_ERRORS
# Compute units charged per instruction (orders of magnitude seen on chain; only the budget
# check depends on them).
CU_COMPUTE_BUDGET = 150
CU_CREATE_ATA = 25_000
CU_SWAP_BASE = 40_000
CU_PER_TICK_CROSSED = 12_000
_RENT_TOKEN_ACCOUNT = 2_039_280


class ProgramError(ExecutionError):
    """An instruction failed as the program would: `InstructionError[index, Custom(code)]`."""

    def __init__(
        self, index: int, code: int, name: str, detail: str = "", program: str = ""
    ) -> None:
        super().__init__(
            f"instruction {index}: {name} ({code}) {detail}".strip(),
            retryable=False,
            code=str(code),
        )
        self.index = index
        self.error_number = code
        """The program's error number (negative: a runtime error named by `name`)."""
        self.name = name
        self.program = program
        """The program that raised it when the instruction's program called it (a token
        transfer inside a swap: the token program); empty when it is the instruction's own."""
        self.budget: TxOutcome | None = None
        """The compute budget the transaction had set before failing (fees are still due)."""

    def err_json(self) -> dict[str, object]:
        """The RPC's `err` value: a program's custom code, or the runtime's error by name."""
        if self.error_number < 0:
            return {"InstructionError": [self.index, self.name]}
        return {"InstructionError": [self.index, {"Custom": self.error_number}]}

    @classmethod
    def named(
        cls, table: Mapping[int, str], index: int, name: str, detail: str = ""
    ) -> ProgramError:
        """`name` as the failing program numbers it (its table in `program_errors`)."""
        return cls(index, error_number(table, name), name, detail)

    def log_line(self) -> str:
        """The program log line an Anchor program writes for this error."""
        return f"Program log: Error Code: {self.name}. Error Number: {self.error_number}."

    def logs(self, outer: str) -> list[str]:
        """The runtime's log of this failure in instruction `index`, run by program `outer`: the
        raising program's `failed` line first, then each caller's (a custom error), as agave
        logs a failure inside a cross-program call."""
        if self.error_number < 0:
            return [f"Program {outer} failed: {self.name}"]
        failed = f"failed: custom program error: {hex(self.error_number)}"
        if self.program and self.program != outer:
            return [f"Program {self.program} {failed}", f"Program {outer} {failed}"]
        return [self.log_line(), f"Program {outer} {failed}"]


def encode_token_account(mint: str, owner: str, amount: int) -> bytes:
    """SPL token account bytes: mint, owner, amount, no delegate, initialized, not native."""
    return (
        bytes(Pubkey.from_string(mint))
        + bytes(Pubkey.from_string(owner))
        + struct.pack("<Q", amount)
        + bytes(36)  # delegate: COption None
        + b"\x01"  # state: initialized
        + bytes(12)  # is_native COption None
        + bytes(8)  # delegated_amount
        + bytes(36)  # close_authority: COption None
    )


def token_amount(data: bytes) -> int:
    """The amount of an SPL token account."""
    return int(struct.unpack_from("<Q", data, 64)[0])


@dataclass
class TxOutcome:
    """What executing a transaction did: writes to apply, compute used, limit and price."""

    writes: dict[str, Account] = field(default_factory=dict)
    cu_limit: int = DEFAULT_CU_LIMIT
    cu_price_micro_lamports: int = 0
    cu_consumed: int = 0

    def fee_lamports(self, signatures: int) -> int:
        """Base fee per signature plus the priority fee (limit x price, micro-lamports)."""
        priority = -(-self.cu_limit * self.cu_price_micro_lamports // 1_000_000)
        return BASE_FEE_LAMPORTS_PER_SIGNATURE * signatures + priority


_Get = Callable[[str], Account | None]


class _Overlay:
    """Account reads see this transaction's own earlier writes first."""

    def __init__(self, get: _Get, writes: dict[str, Account]) -> None:
        self._get = get
        self.writes = writes

    def get(self, key: str) -> Account | None:
        return self.writes[key] if key in self.writes else self._get(key)

    def data(self, key: str, index: int, what: str) -> bytes:
        acc = self.get(key)
        if acc is None:
            raise ProgramError.named(ANCHOR_ERRORS, index, "AccountNotInitialized", f"{what} {key}")
        return bytes(acc.data)

    def put(self, key: str, like: Account, data: bytes) -> None:
        self.writes[key] = Account(
            like.lamports, data, like.owner, like.executable, like.rent_epoch
        )

    def move_tokens(self, index: int, src: str, dst: str, amount: int) -> None:
        for key, delta in ((src, -amount), (dst, amount)):
            acc = self.get(key)
            if acc is None or len(acc.data) != TOKEN_ACCOUNT_LEN:
                raise ProgramError.named(
                    ANCHOR_ERRORS, index, "AccountNotInitialized", f"token account {key}"
                )
            data = bytearray(bytes(acc.data))
            new = token_amount(bytes(data)) + delta
            if new < 0:
                # the token program's InsufficientFunds (custom error 1)
                raise ProgramError(
                    index, 1, "InsufficientFunds", f"token account {key}", str(acc.owner)
                )
            struct.pack_into("<Q", data, 64, new)
            lamports = acc.lamports
            if data[109:113] == b"\x01\x00\x00\x00":
                # a native (wSOL) account: the token program moves its lamports with the amount
                lamports += delta
            self.writes[key] = Account(
                lamports, bytes(data), acc.owner, acc.executable, acc.rent_epoch
            )


def _liquidity_after(
    liquidity: int, ticks: list[tuple[int, int]], tick_before: int, tick_after: int, down: bool
) -> int:
    # crossing tick t moving down subtracts its net (tick becomes t - 1); moving up adds it
    if down:
        return liquidity - sum(n for t, n in ticks if tick_after < t <= tick_before)
    return liquidity + sum(n for t, n in ticks if tick_before < t <= tick_after)


def _check_threshold(
    index: int,
    q: SwapQuote,
    threshold: int,
    exact_in: bool,
    table: Mapping[int, str],
    names: tuple[str, str],
) -> None:
    """The program's slippage check: `names` = (output below minimum, input above maximum)."""
    if exact_in and q.amount_out < threshold:
        raise ProgramError.named(table, index, names[0], f"out {q.amount_out} < {threshold}")
    if not exact_in and q.amount_in > threshold:
        raise ProgramError.named(table, index, names[1], f"in {q.amount_in} > {threshold}")


def _orca_swap_v2(ov: _Overlay, index: int, keys: list[str], data: bytes) -> int:
    amount, threshold, lim_lo, lim_hi, exact_in, a_to_b = struct.unpack_from("<QQQQ??", data, 8)
    pool_key = keys[4]
    pool_acc = ov.get(pool_key)
    if pool_acc is None:
        raise ProgramError.named(
            ANCHOR_ERRORS, index, "AccountNotInitialized", f"whirlpool {pool_key}"
        )
    pool = orca.decode_whirlpool(bytes(pool_acc.data), pool_key)
    arrays: list[TickArray] = []
    for key in [*keys[11:14], *keys[15:]]:
        acc = ov.get(key)
        if acc is not None and bytes(acc.data[:8]) in (
            orca.DISC_TICK_ARRAY,
            orca.DISC_DYNAMIC_TICK_ARRAY,
        ):
            ta = orca.decode_tick_array(bytes(acc.data), key)
            if all(a.start_tick_index != ta.start_tick_index for a in arrays):
                arrays.append(ta)
    limit = lim_lo | lim_hi << 64
    try:
        q = quote_swap_orca(
            pool, arrays, amount, a_to_b=a_to_b, exact_in=exact_in, sqrt_price_limit=limit or None
        )
    except InsufficientLiquidity as exc:
        raise ProgramError.named(_ORCA, index, "TickArraySequenceInvalidIndex", str(exc)) from exc
    except QuoteError as exc:
        raise ProgramError.named(_ORCA, index, "ZeroTradableAmount", str(exc)) from exc
    _check_threshold(
        index, q, threshold, exact_in, _ORCA, ("AmountOutBelowMinimum", "AmountInAboveMaximum")
    )
    ticks = [t for a in arrays for t in a.initialized_ticks(pool.tick_spacing)]
    liquidity = _liquidity_after(
        pool.liquidity, ticks, pool.tick_current_index, q.tick_after, a_to_b
    )
    moved = replace(
        pool, sqrt_price=q.sqrt_price_after, tick_current_index=q.tick_after, liquidity=liquidity
    )
    ov.put(pool_key, pool_acc, orca.encode_whirlpool(moved))
    owner_a, vault_a, owner_b, vault_b = keys[7], keys[8], keys[9], keys[10]
    if a_to_b:
        ov.move_tokens(index, owner_a, vault_a, q.amount_in)
        ov.move_tokens(index, vault_b, owner_b, q.amount_out)
    else:
        ov.move_tokens(index, owner_b, vault_b, q.amount_in)
        ov.move_tokens(index, vault_a, owner_a, q.amount_out)
    return CU_SWAP_BASE + CU_PER_TICK_CROSSED * q.ticks_crossed


def _raydium_swap_v2(ov: _Overlay, index: int, keys: list[str], data: bytes) -> int:
    amount, threshold, lim_lo, lim_hi, exact_in = struct.unpack_from("<QQQQ?", data, 8)
    pool_key = keys[2]
    pool_acc = ov.get(pool_key)
    if pool_acc is None:
        raise ProgramError.named(ANCHOR_ERRORS, index, "AccountNotInitialized", f"pool {pool_key}")
    pool = raydium_clmm.decode_pool_state(bytes(pool_acc.data))
    config = raydium_clmm.decode_amm_config(ov.data(keys[1], index, "amm_config"))
    zero_for_one = keys[11] == pool.token_mint_0
    extra: list[object] = []
    for key in keys[13:]:
        acc = ov.get(key)
        if acc is None:
            continue
        disc = bytes(acc.data[:8])
        if disc == raydium_clmm.DISC_TICK_ARRAY:
            extra.append(raydium_clmm.decode_tick_array(bytes(acc.data)))
        elif disc == raydium_clmm.DISC_BITMAP_EXTENSION:
            extra.append(raydium_clmm.decode_tick_array_bitmap_extension(bytes(acc.data)))
    limit = lim_lo | lim_hi << 64
    try:
        q = quote_swap_raydium(
            pool,
            extra,
            amount,
            a_to_b=zero_for_one,
            exact_in=exact_in,
            sqrt_price_limit=limit or None,
            amm_config=config,
        )
    except InsufficientLiquidity as exc:
        raise ProgramError.named(_RAYDIUM, index, "NotEnoughTickArrayAccount", str(exc)) from exc
    except QuoteError as exc:
        raise ProgramError.named(_RAYDIUM, index, "ZeroAmountSpecified", str(exc)) from exc
    _check_threshold(
        index,
        q,
        threshold,
        exact_in,
        _RAYDIUM,
        ("TooLittleOutputReceived", "TooMuchInputPaid"),
    )
    ticks = [
        (t.tick, t.liquidity_net)
        for a in extra
        if isinstance(a, RaydiumTickArray)
        for t in a.ticks
        if t.liquidity_gross
    ]
    liquidity = _liquidity_after(
        pool.liquidity, ticks, pool.tick_current, q.tick_after, zero_for_one
    )
    moved = replace(
        pool, sqrt_price_x64=q.sqrt_price_after, tick_current=q.tick_after, liquidity=liquidity
    )
    ov.put(pool_key, pool_acc, raydium_clmm.encode_pool_state(moved))
    user_in, user_out, vault_in, vault_out = keys[3], keys[4], keys[5], keys[6]
    ov.move_tokens(index, user_in, vault_in, q.amount_in)
    ov.move_tokens(index, vault_out, user_out, q.amount_out)
    return CU_SWAP_BASE + CU_PER_TICK_CROSSED * q.ticks_crossed


def _create_idempotent(ov: _Overlay, index: int, keys: list[str], data: bytes) -> int:
    payer, ata, owner, mint, token_program = keys[0], keys[1], keys[2], keys[3], keys[5]
    if data not in (b"\x01",):
        raise ProgramError(index, -1, "InvalidInstructionData", "only CreateIdempotent")
    if str(associated_token_address(owner, mint, token_program)) != ata:
        raise ProgramError(index, -1, "InvalidSeeds", f"{ata} is not the ATA of {owner}/{mint}")
    if ov.get(ata) is not None:
        return CU_CREATE_ATA // 5
    payer_acc = ov.get(payer)
    if payer_acc is None or payer_acc.lamports < _RENT_TOKEN_ACCOUNT:
        # the system program's ResultWithNegativeLamports (custom error 1) under the ATA program
        raise ProgramError(
            index, 1, "ResultWithNegativeLamports", "rent for the token account", _SYSTEM_PROGRAM
        )
    ov.writes[payer] = Account(
        payer_acc.lamports - _RENT_TOKEN_ACCOUNT,
        bytes(payer_acc.data),
        payer_acc.owner,
        payer_acc.executable,
        payer_acc.rent_epoch,
    )
    ov.writes[ata] = Account(
        _RENT_TOKEN_ACCOUNT,
        encode_token_account(mint, owner, 0),
        Pubkey.from_string(token_program),
        False,
        _U64,
    )
    return CU_CREATE_ATA


_Handler = Callable[[_Overlay, int, list[str], bytes], int]


def _undecodable(program: str, index: int, detail: str) -> ProgramError:
    # an account the program cannot read: Anchor's framework error, or Phoenix's own (not Anchor)
    if program == PHOENIX_PROGRAM_ID:
        return ProgramError.named(PHOENIX_ERRORS, index, "FailedToLoadMarketFromAccount", detail)
    return ProgramError.named(ANCHOR_ERRORS, index, "AccountDidNotDeserialize", detail)


class SwapExecutor:
    """Runs transactions whose programs the stand-in cannot load, instruction by instruction."""

    def __init__(self) -> None:
        self.handlers: dict[str, _Handler] = {
            orca.WHIRLPOOL_PROGRAM_ID: _orca_swap_v2,
            raydium_clmm.RAYDIUM_CLMM_PROGRAM_ID: _raydium_swap_v2,
            str(ASSOCIATED_TOKEN_PROGRAM_ID): _create_idempotent,
            **CLOB_HANDLERS,
        }
        self.swap_programs = {
            orca.WHIRLPOOL_PROGRAM_ID,
            raydium_clmm.RAYDIUM_CLMM_PROGRAM_ID,
            *CLOB_HANDLERS,
        }

    def handles(self, tx: VersionedTransaction) -> bool:
        """Whether the transaction calls one of the swap programs modelled here."""
        keys = tx.message.account_keys
        return any(
            str(keys[ix.program_id_index]) in self.swap_programs for ix in tx.message.instructions
        )

    @staticmethod
    def budget(tx: VersionedTransaction) -> TxOutcome:
        """The compute budget a transaction sets (limit, price), nothing executed."""
        msg = tx.message
        out = TxOutcome()
        for ix in msg.instructions:
            if str(msg.account_keys[ix.program_id_index]) != COMPUTE_BUDGET_PROGRAM:
                continue
            data = bytes(ix.data)
            if data[:1] == b"\x02" and len(data) == 5:
                out.cu_limit = min(struct.unpack_from("<I", data, 1)[0], MAX_CU_LIMIT)
            elif data[:1] == b"\x03" and len(data) == 9:
                out.cu_price_micro_lamports = struct.unpack_from("<Q", data, 1)[0]
        return out

    def execute(self, tx: VersionedTransaction, get: _Get) -> TxOutcome:
        """All instructions in order on an overlay; `ProgramError` on the first failure."""
        msg = tx.message
        if not isinstance(msg, MessageV0) or msg.address_table_lookups:
            raise ProgramError(0, -1, "UnsupportedVersion", "v0 without lookup tables only")
        keys = [str(k) for k in msg.account_keys]
        outcome = self.budget(tx)
        ov = _Overlay(get, outcome.writes)
        consumed = 0
        for index, ix in enumerate(msg.instructions):
            program = keys[ix.program_id_index]
            data = bytes(ix.data)
            if program == COMPUTE_BUDGET_PROGRAM:
                consumed += CU_COMPUTE_BUDGET
                continue
            try:
                handler = self.handlers.get(program)
                if handler is None:
                    raise ProgramError(index, -1, "ProgramAccountNotFound", program)
                try:
                    consumed += handler(ov, index, [keys[i] for i in ix.accounts], data)
                except DecodeError as exc:
                    raise _undecodable(program, index, str(exc)) from exc
                if consumed > outcome.cu_limit:
                    raise ProgramError(
                        index, -1, "ComputationalBudgetExceeded", f"{consumed} > {outcome.cu_limit}"
                    )
            except ProgramError as exc:
                # a failed transaction still pays for the budget it asked for; no write lands
                exc.budget = TxOutcome(
                    cu_limit=outcome.cu_limit,
                    cu_price_micro_lamports=outcome.cu_price_micro_lamports,
                    cu_consumed=outcome.cu_limit,
                )
                raise
        outcome.cu_consumed = consumed
        return outcome
