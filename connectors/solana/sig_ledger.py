"""The signatures of DEX legs, written down before their first broadcast.

A swap's signature is known only once it is signed (it depends on the blockhash), so a process
killed between the broadcast and the transaction's report would leave a leg whose fate no one
can ask the cluster about. The gateway appends each signed leg here (one JSON line, flushed and
fsynced) before any endpoint sees its bytes; after a restart a `query` for that leg finds its
signature and bytes and asks the RPCs (`getSignatureStatuses`, `getTransaction`) instead of
sending anything again. A leg with no line was never broadcast.

One file per run (the journal's run folder): opportunity ids restart with a run, so an older
run's lines must never answer for a new run's legs. No secret is written: the bytes are the
signed public transaction, the same bytes every RPC endpoint receives.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from connectors.solana.transactions import SignedSwap
from connectors.solana.tx_outcome import DexLeg
from operators.errors import ExecutionError

__all__ = ["LedgerEntry", "SignatureLedger"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One signed leg: who it is for, its signed transaction and its blockhash's last block."""

    leg: DexLeg
    signed: SignedSwap
    last_valid_block_height: int


class SignatureLedger:
    """Intent id -> its signed transaction; durable when `path` is given (else memory only)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, LedgerEntry] = {}
        lines = path.read_text().splitlines() if path is not None and path.exists() else []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                e = _decode(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                if n == len(lines):
                    continue  # a line cut by the crash: its bytes were never broadcast
                raise ExecutionError(f"{path}:{n}: bad signature ledger line: {exc}",
                                     retryable=False) from exc  # fmt: skip
            self.entries[e.leg.intent_id] = e

    def record(self, leg: DexLeg, signed: SignedSwap, last_valid_block_height: int) -> None:
        """Write one signed leg down (flushed and fsynced) before it is broadcast."""
        entry = LedgerEntry(leg, signed, last_valid_block_height)
        self.entries[leg.intent_id] = entry
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(_encode(entry), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def get(self, intent_id: str) -> LedgerEntry | None:
        """The signed leg of `intent_id`, or None: it was never broadcast."""
        return self.entries.get(intent_id)


def _encode(e: LedgerEntry) -> dict[str, object]:
    s, leg = e.signed, e.leg
    return {
        "intent_id": leg.intent_id, "opportunity_id": leg.opportunity_id, "leg": leg.leg,
        "venue": leg.venue, "market": leg.market, "side": leg.side, "owner": leg.owner,
        "tx": base64.b64encode(s.tx_bytes).decode(), "signature": s.signature,
        "blockhash": s.blockhash, "cu_limit": s.cu_limit,
        "cu_price_micro_lamports": s.cu_price_micro_lamports, "limits": dict(s.limits),
        "quoted_in": s.quoted_in, "quoted_out": s.quoted_out,
        "created_accounts": list(s.created_accounts),
        "last_valid_block_height": e.last_valid_block_height,
    }  # fmt: skip


def _decode(d: dict[str, object]) -> LedgerEntry:
    def num(k: str) -> int:
        return int(str(d[k]))

    limits = d["limits"]
    created = d["created_accounts"]
    if not isinstance(limits, dict) or not isinstance(created, list):
        raise TypeError("limits / created_accounts")
    side = str(d["side"])
    if side not in ("buy", "sell"):
        raise ValueError(f"side {side!r}")
    leg = DexLeg(str(d["intent_id"]), str(d["opportunity_id"]), num("leg"), str(d["venue"]),
                 str(d["market"]), "buy" if side == "buy" else "sell", str(d["owner"]))  # fmt: skip
    signed = SignedSwap(
        base64.b64decode(str(d["tx"])), str(d["signature"]), str(d["blockhash"]),
        num("cu_limit"), num("cu_price_micro_lamports"),
        {str(k): int(v) for k, v in limits.items()}, num("quoted_in"), num("quoted_out"),
        tuple(str(a) for a in created),
    )  # fmt: skip
    return LedgerEntry(leg, signed, num("last_valid_block_height"))
