"""Send, re-broadcast, confirm and report one signed swap transaction.

The same signed bytes go to every healthy RPC endpoint (`maxRetries: 0`: the nodes do not retry
on their own schedule, we do) and are sent again every `rebroadcast_ms` until the transaction
is seen or its blockhash's last valid block height has passed. Seen means a
`signatureNotification` (WS, at `confirmed` or `finalized`) or, checked at every re-broadcast
tick, `getSignatureStatuses` on any endpoint (the WS may sit on a node that never got the
transaction). A landed transaction is read back with `getTransaction`: its slot, fee, compute
units and the owner's realised amounts from `meta.preTokenBalances` / `postTokenBalances`.

Outcomes (`TxOutcome.status`): `landed`; `failed` (preflight refusal on every endpoint, or
landed with an error: the failing program's error decoded to its name by the venue's
`SWAP_ERRORS` table); `expired` (block height past the last valid one and never seen);
`simulated` / `simulated_failed` in dry-run mode, where only `simulateTransaction` runs.

The pure parts (the re-broadcast policy, error decoding, realised amounts, the journal row,
the report) are functions of values in `connectors.solana.tx_outcome`; `DexSender` is the thin
async transport around them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from config import DexExecutionSettings
from connectors.keypair import Signer
from connectors.solana.blockhash import BlockhashRefresher
from connectors.solana.rpc import RpcRefused, SolanaRpc
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import SignedSwap, build_swap_transaction
from connectors.solana.tx_outcome import (
    LIMIT_FIELDS,
    PROGRAM_ERRORS,
    DexLeg,
    Rebroadcast,
    TxOutcome,
    TxRecord,
    decode_error,
    expected_fee_lamports,
    realised_amounts,
    to_report,
    token_balance_entries,
    tx_record,
)
from connectors.venues.base import DexAdapter
from operators.errors import ConfigError, ExecutionError
from operators.events import ExecutionReport

# the values a send produces live in tx_outcome; re-exported for callers of the sender
__all__ = [
    "LIMIT_FIELDS",
    "PROGRAM_ERRORS",
    "DexLeg",
    "DexSender",
    "Rebroadcast",
    "SendSettings",
    "TxOutcome",
    "TxRecord",
    "decode_error",
    "expected_fee_lamports",
    "realised_amounts",
    "to_report",
    "tx_record",
]

_ALREADY_PROCESSED = "AlreadyProcessed"
_BLOCKHASH_NOT_FOUND = "BlockhashNotFound"
"""Preflight: the node no longer (or not yet) knows the blockhash; no node will execute it."""


@dataclass(frozen=True, slots=True)
class SendSettings:
    """How a swap is sent: preflight, commitment, re-broadcast period, confirm bound, dry run."""

    skip_preflight: bool = False
    commitment: Literal["confirmed", "finalized"] = "confirmed"
    rebroadcast_ms: int = 400
    """Re-send the same bytes this often until seen or expired (a slot is ~400 ms)."""
    confirm_timeout_ms: int = 90_000
    """Hard bound on one send; the blockhash (~150 slots, ~60 s) normally expires first."""
    read_back_attempts: int = 5
    """getTransaction tries per endpoint set (a node may index it a moment after notifying)."""
    dry_run: bool = False

    @classmethod
    def from_config(cls, cfg: DexExecutionSettings) -> SendSettings:
        """From the `[dex_execution]` config section."""
        return cls(
            skip_preflight=cfg.skip_preflight,
            commitment=cfg.confirm_commitment,
            rebroadcast_ms=cfg.rebroadcast_ms,
            confirm_timeout_ms=cfg.confirm_timeout_ms,
            dry_run=cfg.dry_run,
        )

    def __post_init__(self) -> None:
        if self.rebroadcast_ms <= 0 or self.confirm_timeout_ms <= 0:
            raise ConfigError("sender: rebroadcast_ms and confirm_timeout_ms must be > 0")


@dataclass
class _Round:
    accepted: int = 0
    refusal: Any = None
    refusal_text: str = ""
    refusal_logs: list[str] = field(default_factory=list)
    """The program log of the refusal's preflight simulation (names a called program's error)."""
    errors: list[str] = field(default_factory=list)


class DexSender:
    """Sends signed swaps through a `SolanaRpc` and reports their outcome (see module doc)."""

    def __init__(
        self,
        rpc: SolanaRpc,
        settings: SendSettings | None = None,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        wall_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.rpc = rpc
        self.settings = settings or SendSettings()
        self._clock = clock
        self._wall = wall_clock

    async def execute(
        self, leg: DexLeg, signed: SignedSwap, last_valid_block_height: int
    ) -> tuple[ExecutionReport, TxRecord]:
        """Send (or simulate) one leg; its report and its journal row. Never raises for the
        transaction's own fate: every end is a reported outcome."""
        recv_ns = self._wall()
        if self.settings.dry_run:
            outcome = await self._simulate(leg, signed)
        else:
            outcome = await self._send(leg, signed, last_valid_block_height)
        return to_report(leg, outcome, recv_ns), tx_record(leg, signed, outcome)

    async def send_swap(
        self,
        leg: DexLeg,
        adapter: DexAdapter,
        request: SwapRequest,
        *,
        signer: Signer,
        blockhashes: BlockhashRefresher,
        cu_limit: int,
        cu_price_micro_lamports: int,
        missing_token_accounts: Collection[str] = (),
    ) -> tuple[ExecutionReport, TxRecord]:
        """Sign one leg with the cached blockhash and send it (`execute`).

        Raises `ExecutionError` only before anything is sent: no blockhash with enough validity
        left (retryable) or a leg that cannot be built (not retryable).
        """
        recent = blockhashes.current()
        signed = build_swap_transaction(
            adapter,
            request,
            payer=signer.solders_keypair(),
            recent_blockhash=recent.blockhash,
            cu_limit=cu_limit,
            cu_price_micro_lamports=cu_price_micro_lamports,
            missing_token_accounts=missing_token_accounts,
        )
        return await self.execute(leg, signed, recent.last_valid_block_height)

    async def resolve(
        self, leg: DexLeg, signed: SignedSwap, last_valid_block_height: int
    ) -> tuple[ExecutionReport, TxRecord] | None:
        """What became of a leg sent by an earlier process, by its signature alone (nothing is
        sent): landed or failed (`getSignatureStatuses`, read back by `getTransaction`),
        expired (unseen and the block height past its last valid one), or None while it may
        still land."""
        recv_ns = self._wall()
        seen = await self._poll_status(signed.signature)
        if seen is not None:
            outcome = await self._landed(leg, signed, seen, 0, 0)
        elif await self._block_height() > last_valid_block_height:
            # one last look: it may have landed in the very last valid block
            seen = await self._poll_status(signed.signature)
            if seen is not None:
                outcome = await self._landed(leg, signed, seen, 0, 0)
            else:
                outcome = TxOutcome(
                    "expired", signed.signature,
                    error="blockhash expired before the transaction landed (by signature)",
                    done_ns=self._wall(),
                )  # fmt: skip
        else:
            return None
        return to_report(leg, outcome, recv_ns), tx_record(leg, signed, outcome)

    # ------------------------------------------------------------------ send and confirm
    async def _send(self, leg: DexLeg, signed: SignedSwap, last_valid: int) -> TxOutcome:
        s = self.settings
        sig = signed.signature
        sent_ns = 0  # when the first round leaves (wall clock)
        policy = Rebroadcast(last_valid, s.rebroadcast_ms * 1_000_000)
        deadline = self._clock() + s.confirm_timeout_ms * 1_000_000
        waiter = asyncio.ensure_future(
            self.rpc.confirm_signature(
                sig, timeout_s=s.confirm_timeout_ms / 1000, commitment=s.commitment
            )
        )
        await asyncio.sleep(0)  # the subscription goes out before the first send
        try:
            while True:
                now = self._clock()
                if policy.due(now):
                    sent_ns = sent_ns or self._wall()
                    result = await self._broadcast(signed)
                    policy.sent(self._clock())
                    if result.accepted == 0 and result.refusal is not None:
                        # an earlier round may still have landed before this refusal
                        seen = await self._poll_status(sig) if policy.rounds > 1 else None
                        if seen is not None:
                            return await self._landed(leg, signed, seen, policy.rounds, sent_ns)
                        error = decode_error(
                            result.refusal, signed.tx_bytes, result.refusal_logs
                        )
                        return TxOutcome(
                            "expired" if result.refusal == _BLOCKHASH_NOT_FOUND else "failed",
                            sig,
                            error=error,
                            sends=policy.rounds,
                            sent_ns=sent_ns,
                            done_ns=self._wall(),
                        )
                wait_s = policy.wait_ns(self._clock()) / 1e9
                await asyncio.wait({waiter}, timeout=wait_s)
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    update = waiter.result()
                    seen = (update.slot, update.err)
                else:
                    # the WS may be on a node that never saw it, or missed the notification
                    seen = await self._poll_status(sig)
                if seen is not None:
                    return await self._landed(leg, signed, seen, policy.rounds, sent_ns)
                if self._clock() >= deadline or policy.expired(await self._block_height()):
                    # one last look: it may have landed in the very last valid block
                    seen = await self._poll_status(sig)
                    if seen is not None:
                        return await self._landed(leg, signed, seen, policy.rounds, sent_ns)
                    return TxOutcome(
                        "expired",
                        sig,
                        error="blockhash expired before the transaction landed",
                        sends=policy.rounds,
                        sent_ns=sent_ns,
                        done_ns=self._wall(),
                    )
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, ExecutionError):
                await waiter

    async def _broadcast(self, signed: SignedSwap) -> _Round:
        cfg = {
            "encoding": "base64",
            "skipPreflight": self.settings.skip_preflight,
            "preflightCommitment": self.settings.commitment,
            "maxRetries": 0,  # re-broadcasting is ours: a node's queue would outlive our view
        }
        wire = base64.b64encode(signed.tx_bytes).decode()
        endpoints = self.rpc.healthy_endpoints()
        answers = await asyncio.gather(
            *(self.rpc.call_on(ep, "sendTransaction", [wire, cfg]) for ep in endpoints),
            return_exceptions=True,
        )
        out = _Round()
        for answer in answers:
            if isinstance(answer, RpcRefused) and not answer.retryable:
                err = answer.data.get("err") if isinstance(answer.data, dict) else None
                if err == _ALREADY_PROCESSED:
                    out.accepted += 1  # landed already on that node: wait for its status
                else:
                    out.refusal = err if err is not None else str(answer)
                    logs = answer.data.get("logs") if isinstance(answer.data, dict) else None
                    out.refusal_logs = [str(x) for x in logs] if isinstance(logs, list) else []
            elif isinstance(answer, ExecutionError):
                out.errors.append(str(answer))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                out.accepted += 1
        return out

    async def _poll_status(self, sig: str) -> tuple[int, Any] | None:
        """(slot, err) from the first endpoint that knows the signature."""
        for ep in self.rpc.healthy_endpoints():
            try:
                res = await self.rpc.call_on(ep, "getSignatureStatuses", [[sig]])
            except ExecutionError:
                continue
            value = res["value"][0]
            if value is not None:
                return int(value["slot"]), value.get("err")
        return None

    async def _block_height(self) -> int:
        for ep in self.rpc.healthy_endpoints():
            cfg = {"commitment": self.settings.commitment}
            with contextlib.suppress(ExecutionError):
                return int(await self.rpc.call_on(ep, "getBlockHeight", [cfg]))
        return 0  # no endpoint answers: not known to be expired; the deadline still bounds us

    async def _landed(
        self, leg: DexLeg, signed: SignedSwap, seen: tuple[int, Any], rounds: int, sent_ns: int
    ) -> TxOutcome:
        """Read a landed transaction back; `seen` is its (slot, err) from the status."""
        cfg = {
            "encoding": "json",
            "commitment": self.settings.commitment,
            "maxSupportedTransactionVersion": 0,
        }
        for attempt in range(self.settings.read_back_attempts):
            for ep in self.rpc.healthy_endpoints():
                try:
                    tx = await self.rpc.call_on(ep, "getTransaction", [signed.signature, cfg])
                except ExecutionError:
                    continue
                if tx is None:
                    continue
                meta = tx["meta"]
                paid, got = realised_amounts(
                    meta.get("preTokenBalances") or [],
                    meta.get("postTokenBalances") or [],
                    leg.owner,
                )
                err = meta.get("err")
                return TxOutcome(
                    "landed" if err is None else "failed",
                    signed.signature,
                    slot=int(tx["slot"]),
                    fee_lamports=int(meta["fee"]),
                    cu_consumed=int(meta.get("computeUnitsConsumed") or 0),
                    error=""
                    if err is None
                    else decode_error(err, signed.tx_bytes, meta.get("logMessages") or ()),
                    realised_in=paid if err is None else 0,
                    realised_out=got if err is None else 0,
                    sends=rounds,
                    sent_ns=sent_ns,
                    done_ns=self._wall(),
                )
            await asyncio.sleep(self.settings.rebroadcast_ms / 1000 * (attempt + 1) / 4)
        # it landed (its status says so) but no node serves it yet: report what is known
        slot, err = seen
        return TxOutcome(
            "landed" if err is None else "failed",
            signed.signature,
            slot=slot,
            error="getTransaction unavailable"
            if err is None
            else decode_error(err, signed.tx_bytes),
            sends=rounds,
            sent_ns=sent_ns,
            done_ns=self._wall(),
        )

    # ------------------------------------------------------------------ dry run
    async def _simulate(self, leg: DexLeg, signed: SignedSwap) -> TxOutcome:
        msg = VersionedTransaction.from_bytes(signed.tx_bytes).message
        if not isinstance(msg, MessageV0):
            raise ExecutionError("dry run needs a v0 message", retryable=False, venue=leg.venue)
        keys = [
            str(k)
            for i, k in enumerate(msg.account_keys)
            if msg.is_maybe_writable(i) and not msg.is_signer(i)
        ]
        before = await self.rpc.get_multiple_accounts(keys)
        cfg = {
            "encoding": "base64",
            "sigVerify": True,
            "commitment": self.settings.commitment,
            "accounts": {"addresses": keys, "encoding": "base64"},
        }
        sent_ns = self._wall()
        wire = base64.b64encode(signed.tx_bytes).decode()
        try:
            value = (await self.rpc.call("simulateTransaction", [wire, cfg]))["value"]
        except ExecutionError as exc:
            return TxOutcome(
                "simulated_failed",
                signed.signature,
                error=str(exc),
                sent_ns=sent_ns,
                done_ns=self._wall(),
            )
        err = value.get("err")
        cu = int(value.get("unitsConsumed") or 0)
        if err is not None:
            return TxOutcome(
                "simulated_failed",
                signed.signature,
                fee_lamports=expected_fee_lamports(signed),  # a landed failure pays it too
                cu_consumed=cu,
                error=decode_error(err, signed.tx_bytes, value.get("logs") or ()),
                sent_ns=sent_ns,
                done_ns=self._wall(),
            )
        after_json = value.get("accounts") or [None] * len(keys)
        after = [None if a is None else base64.b64decode(a["data"][0]) for a in after_json]
        pre = token_balance_entries(keys, [None if b is None else b.data for b in before])
        post = token_balance_entries(keys, after)
        paid, got = realised_amounts(pre, post, leg.owner)
        return TxOutcome(
            "simulated",
            signed.signature,
            fee_lamports=expected_fee_lamports(signed),  # what landing would have cost
            cu_consumed=cu,
            realised_in=paid,
            realised_out=got,
            sent_ns=sent_ns,
            done_ns=self._wall(),
        )
