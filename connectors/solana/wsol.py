"""Wrapped SOL kept funded: one wSOL token account, topped up now and then, never per trade.

A swap that sells SOL spends from the owner's wSOL associated token account and one that buys
SOL is paid into it; nothing wraps before or unwraps after each trade (that would add a
transfer, a `SyncNative` and a `CloseAccount` to every swap: compute, bytes, and rent churn
on the hot path). Instead `WsolPolicy` says when the account's balance no longer covers the
next trade plus a floor, and how much to add to bring it back to its target; the top-up
transaction is `CreateIdempotent` (first time only), a system transfer of the lamports into the
account and SPL Token `SyncNative`, which makes the token amount follow the lamports.

Sans-I/O: instructions and a signed transaction from values; sending is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.errors import SignerError
from solders.hash import Hash, ParseHashError
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import CompileError, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from config import DexExecutionSettings
from connectors.keypair import Signer
from connectors.solana.programs import (
    TOKEN_PROGRAM_ID,
    associated_token_address,
    create_ata_idempotent,
)
from operators.errors import ConfigError, ExecutionError

__all__ = [
    "NATIVE_MINT",
    "SignedTopUp",
    "WsolPolicy",
    "build_top_up_transaction",
    "sync_native_instruction",
    "top_up_instructions",
    "wsol_account",
]

NATIVE_MINT = "So11111111111111111111111111111111111111112"
_SYNC_NATIVE = bytes([17])
"""SPL Token instruction 17: SyncNative (accounts: the native token account, writable)."""


def wsol_account(owner: str | Pubkey) -> Pubkey:
    """The owner's wrapped-SOL associated token account."""
    return associated_token_address(owner, NATIVE_MINT)


def sync_native_instruction(account: Pubkey) -> Instruction:
    """SPL Token `SyncNative`: set a native account's token amount from its lamports."""
    return Instruction(TOKEN_PROGRAM_ID, _SYNC_NATIVE, [AccountMeta(account, False, True)])


def top_up_instructions(owner: Pubkey, lamports: int, *, create: bool) -> list[Instruction]:
    """[CreateIdempotent if `create`], transfer `lamports` into the wSOL account, SyncNative."""
    account = wsol_account(owner)
    ixs = [create_ata_idempotent(owner, owner, NATIVE_MINT)] if create else []
    ixs.append(transfer(TransferParams(from_pubkey=owner, to_pubkey=account, lamports=lamports)))
    ixs.append(sync_native_instruction(account))
    return ixs


@dataclass(frozen=True, slots=True)
class WsolPolicy:
    """When and by how much to top up the wSOL account, lamports.

    A top-up is due when the balance would fall below `floor_lamports` after spending the next
    trade's input; it brings the balance to `target_lamports` above that input. Between the two
    the account absorbs trades in both directions without any transaction of its own.
    """

    floor_lamports: int
    target_lamports: int

    @classmethod
    def from_config(cls, cfg: DexExecutionSettings) -> WsolPolicy:
        """From the `[dex_execution]` config section."""
        return cls(cfg.wsol_floor_lamports, cfg.wsol_target_lamports)

    def __post_init__(self) -> None:
        if not 0 <= self.floor_lamports < self.target_lamports:
            raise ConfigError(
                f"wsol: need 0 <= floor_lamports ({self.floor_lamports}) < "
                f"target_lamports ({self.target_lamports})"
            )

    def top_up_lamports(self, balance_lamports: int, next_spend_lamports: int = 0) -> int:
        """Lamports to wrap now (0 when the balance covers the next spend plus the floor)."""
        if balance_lamports - next_spend_lamports >= self.floor_lamports:
            return 0
        return self.target_lamports + next_spend_lamports - balance_lamports


@dataclass(frozen=True, slots=True)
class SignedTopUp:
    """A signed wSOL top-up transaction: wire bytes, signature, lamports wrapped."""

    tx_bytes: bytes
    signature: str
    lamports: int

    def __repr__(self) -> str:
        return f"SignedTopUp(signature={self.signature}, lamports={self.lamports})"


def build_top_up_transaction(
    payer: Signer | Keypair,
    lamports: int,
    *,
    recent_blockhash: str,
    create: bool,
    extra: list[Instruction] | None = None,
) -> SignedTopUp:
    """Sign a v0 top-up of the payer's wSOL account; `extra` (e.g. ComputeBudget) goes first."""
    keypair = payer.solders_keypair() if isinstance(payer, Signer) else payer
    if lamports <= 0:
        raise ExecutionError(f"top-up of {lamports} lamports", retryable=False, venue="solana")
    try:
        blockhash = Hash.from_string(recent_blockhash)
    except (ParseHashError, ValueError) as exc:
        raise ExecutionError(
            f"recent blockhash {recent_blockhash!r} is not base58", retryable=False, venue="solana"
        ) from exc
    ixs = [*(extra or []), *top_up_instructions(keypair.pubkey(), lamports, create=create)]
    try:
        tx = VersionedTransaction(
            MessageV0.try_compile(keypair.pubkey(), ixs, [], blockhash), [keypair]
        )
    except (CompileError, SignerError) as exc:
        # only the error's type: nothing derived from the signer goes into a message
        what = type(exc).__name__
        raise ExecutionError(f"cannot sign the top-up: {what}", retryable=False) from None
    return SignedTopUp(bytes(tx), str(tx.signatures[0]), lamports)
