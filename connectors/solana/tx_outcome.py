"""What became of a sent swap transaction, as values: outcomes, journal rows, reports.

Pure functions of values (no I/O): the re-broadcast policy (`Rebroadcast`), the failing
program's error by name (`decode_error`, each venue's `SWAP_ERRORS` table), the owner's
realised amounts from token balances (`realised_amounts`), the `transactions` journal row
(`TxRecord`, see docs/journal.md) and the engine's `ExecutionReport` (`to_report`).
`connectors.solana.sender` is the transport that produces them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from connectors.solana import openbook_take, orca_swap, phoenix_swap, raydium_swap
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID
from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.program_errors import SYSTEM_ERRORS, TOKEN_ERRORS
from connectors.solana.programs import SYSTEM_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from connectors.solana.raydium_clmm import RAYDIUM_CLMM_PROGRAM_ID
from connectors.solana.transactions import SignedSwap
from operators.events import ExecutionReport, Side

__all__ = [
    "LAMPORTS_PER_SIGNATURE",
    "LIMIT_FIELDS",
    "PROGRAM_ERRORS",
    "DexLeg",
    "Rebroadcast",
    "Status",
    "TxOutcome",
    "TxRecord",
    "decode_error",
    "expected_fee_lamports",
    "failing_program",
    "realised_amounts",
    "to_report",
    "token_balance_entries",
    "tx_record",
]

PROGRAM_ERRORS: Mapping[str, Mapping[int, str]] = {
    WHIRLPOOL_PROGRAM_ID: orca_swap.SWAP_ERRORS,
    RAYDIUM_CLMM_PROGRAM_ID: raydium_swap.SWAP_ERRORS,
    PHOENIX_PROGRAM_ID: phoenix_swap.SWAP_ERRORS,
    OPENBOOK_PROGRAM_ID: openbook_take.SWAP_ERRORS,
    str(TOKEN_PROGRAM_ID): TOKEN_ERRORS,
    str(TOKEN_2022_PROGRAM_ID): TOKEN_ERRORS,
    str(SYSTEM_PROGRAM_ID): SYSTEM_ERRORS,
}
"""Program id -> its error table (each DEX's lives in the venue's swap module; the programs a
swap calls into have theirs in `program_errors`)."""
PROGRAM_NAMES: Mapping[str, str] = {
    WHIRLPOOL_PROGRAM_ID: "Orca Whirlpool",
    RAYDIUM_CLMM_PROGRAM_ID: "Raydium CLMM",
    PHOENIX_PROGRAM_ID: "Phoenix",
    OPENBOOK_PROGRAM_ID: "OpenBook v2",
    str(TOKEN_PROGRAM_ID): "SPL Token",
    str(TOKEN_2022_PROGRAM_ID): "Token-2022",
    str(SYSTEM_PROGRAM_ID): "System",
}
_FAILED_LOG = re.compile(r"^Program (\w+) failed: custom program error: 0x([0-9a-fA-F]+)$")

LIMIT_FIELDS = (
    "other_amount_threshold",
    "sqrt_price_limit",
    "min_base_lots_to_fill",
    "min_quote_lots_to_fill",
    "price_lots",
    "max_base_lots",
    "max_quote_lots_including_fees",
)
"""Every venue's swap limit fields, by program name (journal columns; None where not used)."""

LAMPORTS_PER_SIGNATURE = 5_000
_TOKEN_ACCOUNT_LEN = 165
Status = Literal["landed", "failed", "expired", "simulated", "simulated_failed"]


@dataclass(frozen=True, slots=True)
class DexLeg:
    """Who a transaction is for: the intent, opportunity, leg index, venue, market, side."""

    intent_id: str
    opportunity_id: str
    leg: int
    venue: str
    market: str
    side: Side
    owner: str


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What became of one signed transaction; amounts in token base units, fee in lamports."""

    status: Status
    signature: str
    slot: int = 0
    fee_lamports: int = 0
    cu_consumed: int = 0
    error: str = ""
    realised_in: int = 0
    realised_out: int = 0
    sends: int = 0
    """Broadcast rounds of the same bytes (each to every healthy endpoint)."""
    sent_ns: int = 0
    done_ns: int = 0


@dataclass(frozen=True, slots=True)
class TxRecord:
    """One signed transaction sent and its outcome (journal table `transactions`)."""

    signature: str
    opportunity_id: str
    intent_id: str
    leg: int
    venue: str
    market: str
    tx_base64: str
    cu_limit: int
    cu_price_micro_lamports: int
    blockhash: str
    sent_ns: int
    quoted_in: int
    quoted_out: int
    other_amount_threshold: int | None
    sqrt_price_limit: int | None
    min_base_lots_to_fill: int | None
    min_quote_lots_to_fill: int | None
    price_lots: int | None
    max_base_lots: int | None
    max_quote_lots_including_fees: int | None
    status: str
    slot: int
    fee_lamports: int
    cu_consumed: int
    error: str
    realised_in: int
    realised_out: int
    sends: int
    done_ns: int


def tx_record(leg: DexLeg, signed: SignedSwap, outcome: TxOutcome) -> TxRecord:
    """The journal row of a sent transaction: wire bytes, quote, limits and outcome."""
    limits = {name: signed.limits.get(name) for name in LIMIT_FIELDS}
    # u128 limits (sqrt_price_limit) exceed Parquet's int64: keep them only when they fit
    for name, value in limits.items():
        if value is not None and value >= 1 << 63:
            limits[name] = None
    return TxRecord(
        signature=signed.signature,
        opportunity_id=leg.opportunity_id,
        intent_id=leg.intent_id,
        leg=leg.leg,
        venue=leg.venue,
        market=leg.market,
        tx_base64=base64.b64encode(signed.tx_bytes).decode(),
        cu_limit=signed.cu_limit,
        cu_price_micro_lamports=signed.cu_price_micro_lamports,
        blockhash=signed.blockhash,
        sent_ns=outcome.sent_ns,
        quoted_in=signed.quoted_in,
        quoted_out=signed.quoted_out,
        **limits,
        status=outcome.status,
        slot=outcome.slot,
        fee_lamports=outcome.fee_lamports,
        cu_consumed=outcome.cu_consumed,
        error=outcome.error,
        realised_in=outcome.realised_in,
        realised_out=outcome.realised_out,
        sends=outcome.sends,
        done_ns=outcome.done_ns,
    )


def to_report(leg: DexLeg, outcome: TxOutcome, ts_recv_ns: int) -> ExecutionReport:
    """The engine's `ExecutionReport` for a leg's outcome.

    Only `landed` is a fill; a dry run never reports filled amounts (its would-be amounts are
    in `extra`), so nothing downstream books a simulated trade.
    """
    landed = outcome.status == "landed"
    # a buy pays quote and receives base; a sell the reverse
    base, quote = (
        (outcome.realised_out, outcome.realised_in)
        if leg.side == "buy"
        else (outcome.realised_in, outcome.realised_out)
    )
    status: Literal["filled", "rejected", "cancelled"] = (
        "filled"
        if landed
        else "cancelled"
        if outcome.status in ("simulated", "simulated_failed")
        else "rejected"
    )
    extra = {
        "outcome": outcome.status,
        "signature": outcome.signature,
        "leg": str(leg.leg),
        "market": leg.market,
        "slot": str(outcome.slot),
        "fee_lamports": str(outcome.fee_lamports),
        "cu_consumed": str(outcome.cu_consumed),
        "sends": str(outcome.sends),
    }
    if not landed and (outcome.realised_in or outcome.realised_out):
        extra["would_in"] = str(outcome.realised_in)
        extra["would_out"] = str(outcome.realised_out)
    return ExecutionReport(
        intent_id=leg.intent_id,
        opportunity_id=leg.opportunity_id,
        venue=leg.venue,
        side=leg.side,
        status=status,
        filled_base=base if landed else 0,
        quote_amount=quote if landed else 0,
        fee_quote=0,  # the fee is paid in SOL: `extra["fee_lamports"]`
        reason=outcome.error or outcome.status,
        ts_event_ns=outcome.done_ns,
        ts_recv_ns=ts_recv_ns,
        ts_fill_ns=outcome.done_ns if landed else 0,
        extra=extra,
    )


@dataclass(slots=True)
class Rebroadcast:
    """When to send the same bytes again, and when they can no longer land (sans-I/O).

    A transaction is valid while the cluster's block height is at most the blockhash's
    `last_valid_block_height`; past it no node will execute it, so stopping then is safe.
    """

    last_valid_block_height: int
    interval_ns: int
    next_ns: int = 0
    rounds: int = 0

    def due(self, now_ns: int) -> bool:
        """Whether a broadcast round should go out now."""
        return now_ns >= self.next_ns

    def sent(self, now_ns: int) -> None:
        """Record a broadcast round at `now_ns`."""
        self.rounds += 1
        self.next_ns = now_ns + self.interval_ns

    def wait_ns(self, now_ns: int) -> int:
        """Nanoseconds until the next round is due (0 if due)."""
        return max(0, self.next_ns - now_ns)

    def expired(self, block_height: int) -> bool:
        """Whether no node can execute the transaction any more at this block height."""
        return block_height > self.last_valid_block_height


def expected_fee_lamports(signed: SignedSwap, signatures: int = 1) -> int:
    """The fee the runtime charges: 5000 lamports per signature plus the priority fee
    (compute unit limit x price in micro-lamports, rounded up)."""
    priority = -(-signed.cu_limit * signed.cu_price_micro_lamports // 1_000_000)
    return LAMPORTS_PER_SIGNATURE * signatures + priority


def decode_error(err: Any, tx_bytes: bytes, logs: Sequence[str] = ()) -> str:
    """A transaction error as the failing program names it: `AmountOutBelowMinimum (6036)`.

    `err` is the RPC's `err` value (`{"InstructionError": [index, {"Custom": n}]}`, a runtime
    error by name, or a plain string); the program is the instruction's at `index`, unless the
    program log (`logs`, when the RPC returned them) shows the error was raised by a program it
    called: `InsufficientFunds (1) in SPL Token, called by Phoenix`. Without logs a called
    program's error is named from the outer program's table (the RPC's `err` says no more).
    """
    if isinstance(err, str):
        return err
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            code = int(inner["Custom"])
            outer = _program_at(tx_bytes, int(index))
            program = failing_program(logs, code) or outer
            name = PROGRAM_ERRORS.get(program, {}).get(code)
            text = f"{name} ({code})" if name else f"Custom({code}) in {program or '?'}"
            if program == outer or not outer:
                return text
            if name:
                text += f" in {PROGRAM_NAMES.get(program, program)}"
            return f"{text}, called by {PROGRAM_NAMES.get(outer, outer)}"
        return str(inner)
    return str(err)


def failing_program(logs: Sequence[str], code: int) -> str:
    """The program that raised custom error `code`, from a program log: the first
    `Program <id> failed: custom program error: 0x<code>` line (a failure inside a call is
    logged by the called program first, then by each caller); "" when the log does not say."""
    for line in logs:
        m = _FAILED_LOG.match(line)
        if m is not None and int(m.group(2), 16) == code:
            return m.group(1)
    return ""


def _program_at(tx_bytes: bytes, index: int) -> str:
    msg = VersionedTransaction.from_bytes(tx_bytes).message
    if not 0 <= index < len(msg.instructions):
        return ""
    return str(msg.account_keys[msg.instructions[index].program_id_index])


def realised_amounts(
    pre: Sequence[Mapping[str, Any]], post: Sequence[Mapping[str, Any]], owner: str
) -> tuple[int, int]:
    """(amount in, amount out) of `owner` from token balances, base units.

    Per mint, the owner's post minus pre balance (an account absent before counts as 0, as an
    account created in the transaction): the mint that went down is what was paid, the mint
    that went up what was received. One entry of `meta.postTokenBalances` (`getTransaction`,
    encoding json):

        {"accountIndex": 3, "mint": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
         "owner": "<owner>", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
         "uiTokenAmount": {"amount": "123456", "decimals": 6, "uiAmountString": "0.123456"}}
    """
    deltas: dict[str, int] = {}
    for sign, balances in ((-1, pre), (1, post)):
        for b in balances:
            if b.get("owner") == owner:
                amount = int(b["uiTokenAmount"]["amount"])
                deltas[str(b["mint"])] = deltas.get(str(b["mint"]), 0) + sign * amount
    paid = sum(-d for d in deltas.values() if d < 0)
    received = sum(d for d in deltas.values() if d > 0)
    return paid, received


def token_balance_entries(
    keys: Sequence[str], datas: Sequence[bytes | None]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, (key, data) in enumerate(zip(keys, datas)):
        if data is None or len(data) != _TOKEN_ACCOUNT_LEN:
            continue
        amount = int.from_bytes(data[64:72], "little")
        out.append(
            {
                "accountIndex": index,
                "account": key,
                "mint": str(Pubkey.from_bytes(data[:32])),
                "owner": str(Pubkey.from_bytes(data[32:64])),
                "uiTokenAmount": {"amount": str(amount)},
            }
        )
    return out
