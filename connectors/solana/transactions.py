"""Signed v0 swap transactions (sans-I/O): a `SwapRequest` + keypair + blockhash -> wire bytes.

One transaction per DEX leg, in this order: ComputeBudget `SetComputeUnitLimit` and
`SetComputeUnitPrice` (micro-lamports per CU: the priority fee), then `CreateIdempotent` for each
of the owner's token accounts the caller reports missing, then the venue's swap instruction
(its adapter's `plan_swap`). The message is v0 (`MessageV0`), the fee payer is the signer.

The keypair is only ever handed to `VersionedTransaction`: no message, error or repr here
formats it (`str(Keypair)` would print the secret key), only its public key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.errors import SignerError
from solders.hash import Hash, ParseHashError
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import CompileError, MessageV0
from solders.transaction import VersionedTransaction

from connectors.solana.programs import create_ata_idempotent
from connectors.solana.swap_plan import SwapPlan, SwapRequest
from connectors.venues.base import DexAdapter
from operators.errors import ExecutionError

__all__ = ["MAX_CU_LIMIT", "SignedSwap", "build_swap_transaction"]

MAX_CU_LIMIT = 1_400_000
"""The runtime's per-transaction compute unit ceiling."""
_U64_MAX = (1 << 64) - 1
MAX_TX_BYTES = 1232
"""A transaction's wire size limit (IPv6 MTU less headers)."""


@dataclass(frozen=True, slots=True)
class SignedSwap:
    """A signed swap transaction and what it encodes, for sending and the journal.

    `limits` holds the swap instruction's own limit fields under the program's names
    (`other_amount_threshold`, `min_quote_lots_to_fill`, `price_lots`, ...).
    """

    tx_bytes: bytes
    signature: str
    blockhash: str
    cu_limit: int
    cu_price_micro_lamports: int
    limits: Mapping[str, int]
    quoted_in: int
    quoted_out: int
    created_accounts: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"SignedSwap(signature={self.signature}, blockhash={self.blockhash}, "
            f"cu_limit={self.cu_limit}, cu_price_micro_lamports={self.cu_price_micro_lamports}, "
            f"limits={dict(self.limits)}, bytes={len(self.tx_bytes)})"
        )


def _fail(message: str, venue: str, retryable: bool = False) -> ExecutionError:
    return ExecutionError(message, retryable=retryable, venue=venue)


def build_swap_transaction(
    adapter: DexAdapter,
    request: SwapRequest,
    *,
    payer: Keypair,
    recent_blockhash: str,
    cu_limit: int,
    cu_price_micro_lamports: int,
    missing_token_accounts: Collection[str] = (),
) -> SignedSwap:
    """Plan, compile (v0) and sign one swap leg; `ExecutionError(retryable=False)` if it cannot.

    `missing_token_accounts`: addresses of the owner's token accounts known not to exist yet;
    the swap's own accounts among them get an idempotent creation first.
    """
    venue = adapter.id
    if adapter.plan_swap is None:
        raise _fail("this venue has no swap instruction builder", venue)
    if request.venue != venue:
        raise _fail(f"request is for venue {request.venue!r}", venue)
    owner = payer.pubkey()
    if str(owner) != request.owner:
        raise _fail(f"signer {owner} is not the request's owner {request.owner}", venue)
    if not 1 <= cu_limit <= MAX_CU_LIMIT:
        raise _fail(f"compute unit limit {cu_limit} outside [1, {MAX_CU_LIMIT}]", venue)
    if not 0 <= cu_price_micro_lamports <= _U64_MAX:
        raise _fail(f"compute unit price {cu_price_micro_lamports} is not a u64", venue)
    try:
        blockhash = Hash.from_string(recent_blockhash)
    except (ParseHashError, ValueError) as exc:
        raise _fail(f"recent blockhash {recent_blockhash!r} is not base58", venue) from exc
    plan: SwapPlan = adapter.plan_swap(request)
    instructions: list[Instruction] = [
        set_compute_unit_limit(cu_limit),
        set_compute_unit_price(cu_price_micro_lamports),
    ]
    created = []
    for account in plan.token_accounts:
        if account.address in missing_token_accounts:
            instructions.append(
                create_ata_idempotent(owner, owner, account.mint, account.token_program)
            )
            created.append(account.address)
    instructions.append(plan.instruction)
    try:
        message = MessageV0.try_compile(owner, instructions, [], blockhash)
        tx = VersionedTransaction(message, [payer])
    except (CompileError, SignerError) as exc:
        # only the error's type: nothing derived from the signer goes into a message
        what = type(exc).__name__
        raise _fail(f"cannot compile or sign the transaction: {what}", venue) from None
    wire = bytes(tx)
    if len(wire) > MAX_TX_BYTES:
        raise _fail(f"transaction is {len(wire)} bytes, over the {MAX_TX_BYTES} limit", venue)
    return SignedSwap(
        tx_bytes=wire,
        signature=str(tx.signatures[0]),
        blockhash=recent_blockhash,
        cu_limit=cu_limit,
        cu_price_micro_lamports=cu_price_micro_lamports,
        limits=dict(plan.limits),
        quoted_in=request.quoted_in,
        quoted_out=request.quoted_out,
        created_accounts=tuple(created),
    )
