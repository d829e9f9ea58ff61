"""The wSOL keeper: a background service that keeps the owner's wSOL account funded.

Every `check_ms` it reads the wSOL account's token amount and asks `WsolPolicy` whether the
balance still covers `reserve_lamports` (the largest SOL input one trade takes) plus the floor;
when it does not, it signs a top-up (`wsol.build_top_up_transaction`, creating the account the
first time), sends it and polls `getSignatureStatuses` until it lands or its blockhash expires.
Swaps never wrap or unwrap: they spend from and pay into this one account.

A top-up sent but not yet seen stays *pending*: the next cycle resolves it (landed, failed or
expired past its last valid block height) before it would ever send another, so a slow
confirmation cannot double a top-up. Failures are typed (`ExecutionError`) and retried by
`BackgroundService` (bounded attempts, health `up` / `down`).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from solders.pubkey import Pubkey

from config import DexExecutionSettings
from connectors.keypair import Signer
from connectors.solana.blockhash import BlockhashRefresher
from connectors.solana.rpc import SolanaRpc
from connectors.solana.service import BackgroundService, RetryPolicy
from connectors.solana.wsol import NATIVE_MINT, WsolPolicy, build_top_up_transaction, wsol_account
from operators.errors import ConfigError, ExecutionError
from operators.events import HealthEvent

__all__ = ["WsolKeeper", "WsolKeeperSettings", "token_account_amount"]

_TOKEN_ACCOUNT_LEN = 165
_LANDED = ("confirmed", "finalized")


def token_account_amount(data: bytes, *, mint: str, owner: str, address: str) -> int:
    """The amount of an SPL token account (base units); `ExecutionError` if it is not `owner`'s
    account of `mint`."""
    if len(data) != _TOKEN_ACCOUNT_LEN:
        raise ExecutionError(
            f"{address} is not a token account ({len(data)} bytes)", retryable=False, venue="solana"
        )
    got_mint, got_owner = str(Pubkey.from_bytes(data[:32])), str(Pubkey.from_bytes(data[32:64]))
    if (got_mint, got_owner) != (mint, owner):
        raise ExecutionError(
            f"{address} holds mint {got_mint} for {got_owner}, not {mint} for {owner}",
            retryable=False,
            venue="solana",
        )
    return int(struct.unpack_from("<Q", data, 64)[0])


@dataclass(frozen=True, slots=True)
class WsolKeeperSettings:
    """How often to check, what one trade may take, how long and how often to confirm, ms."""

    check_ms: int = 5_000
    reserve_lamports: int = 1_000_000_000
    confirm_timeout_ms: int = 60_000
    confirm_poll_ms: int = 400

    @classmethod
    def from_config(cls, cfg: DexExecutionSettings) -> WsolKeeperSettings:
        """From the `[dex_execution]` config section."""
        return cls(
            check_ms=cfg.wsol_check_ms,
            reserve_lamports=cfg.wsol_reserve_lamports,
            confirm_timeout_ms=cfg.confirm_timeout_ms,
            confirm_poll_ms=cfg.rebroadcast_ms,
        )

    def __post_init__(self) -> None:
        if self.check_ms <= 0 or self.confirm_timeout_ms <= 0 or self.confirm_poll_ms <= 0:
            raise ConfigError("wsol keeper: check_ms, confirm_timeout_ms, confirm_poll_ms > 0")
        if self.reserve_lamports < 0:
            raise ConfigError("wsol keeper: reserve_lamports >= 0")


@dataclass(frozen=True, slots=True)
class _Pending:
    signature: str
    last_valid_block_height: int
    lamports: int


class WsolKeeper(BackgroundService):
    """Tops the signer's wSOL account up by `WsolPolicy`, never per trade."""

    def __init__(
        self,
        rpc: SolanaRpc,
        signer: Signer,
        blockhashes: BlockhashRefresher,
        policy: WsolPolicy,
        settings: WsolKeeperSettings | None = None,
        *,
        retry: RetryPolicy | None = None,
        on_health: Callable[[HealthEvent], None] | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__("wsol", retry, on_health=on_health, clock=clock)
        self.rpc = rpc
        self.signer = signer
        self.blockhashes = blockhashes
        self.policy = policy
        self.settings = settings or WsolKeeperSettings()
        self.owner = str(signer.pubkey())
        self.account = str(wsol_account(self.owner))
        self._pending: _Pending | None = None
        self._last_check_ns: int | None = None
        self.top_ups = 0
        self.wrapped_lamports = 0
        self.last_balance: int | None = None
        """The token amount read at the last check (None: the account does not exist yet)."""

    def next_wait_ns(self) -> int:
        """Until the next check."""
        if self._last_check_ns is None:
            return 0
        due = self._last_check_ns + self.settings.check_ms * 1_000_000
        return max(0, due - self._clock())

    async def balance(self) -> int | None:
        """The wSOL account's token amount now (None when it does not exist yet)."""
        (acc,) = await self.rpc.get_multiple_accounts([self.account])
        if acc is None:
            return None
        return token_account_amount(
            acc.data, mint=NATIVE_MINT, owner=self.owner, address=self.account
        )

    async def cycle(self) -> None:
        """Resolve a pending top-up, read the balance, top up when the policy says so."""
        self._last_check_ns = self._clock()
        if self._pending is not None and await self._resolve(self._pending) == "pending":
            return  # still in flight: never a second top-up on top of it
        balance = await self.balance()
        self.last_balance = balance
        lamports = self.policy.top_up_lamports(balance or 0, self.settings.reserve_lamports)
        if lamports == 0:
            return
        recent = self.blockhashes.current()
        signed = build_top_up_transaction(
            self.signer, lamports, recent_blockhash=recent.blockhash, create=balance is None
        )
        await self.rpc.send_transaction(signed.tx_bytes)
        pending = _Pending(signed.signature, recent.last_valid_block_height, lamports)
        self._pending = pending
        deadline = self._clock() + self.settings.confirm_timeout_ms * 1_000_000
        while (state := await self._resolve(pending)) == "pending":
            if self._clock() >= deadline:
                raise ExecutionError(
                    f"wSOL top-up {signed.signature} not seen within "
                    f"{self.settings.confirm_timeout_ms} ms (still pending)",
                    retryable=True,
                    venue="solana",
                )
            await asyncio.sleep(self.settings.confirm_poll_ms / 1000)
        if state == "expired":
            raise ExecutionError(
                f"wSOL top-up {signed.signature} expired unseen", retryable=True, venue="solana"
            )

    async def _resolve(self, pending: _Pending) -> str:
        """`landed`, `expired` (past its last valid block height, never seen) or `pending`;
        a top-up that landed with an error raises."""
        (status,) = await self.rpc.get_signature_statuses([pending.signature])
        if status is not None and status.get("confirmationStatus") in _LANDED:
            self._pending = None
            if status.get("err") is not None:
                raise ExecutionError(
                    f"wSOL top-up {pending.signature} failed: {status['err']}",
                    retryable=True,
                    venue="solana",
                )
            self.top_ups += 1
            self.wrapped_lamports += pending.lamports
            return "landed"
        if status is None and await self.rpc.get_block_height() > pending.last_valid_block_height:
            self._pending = None  # it can never land now
            return "expired"
        return "pending"
