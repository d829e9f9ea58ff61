"""The sender's pure parts: re-broadcast policy, error decoding, realised amounts, journal row."""

from __future__ import annotations

from pathlib import Path

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from connectors.journal import JournalSink, read_table
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID
from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.raydium_clmm import RAYDIUM_CLMM_PROGRAM_ID
from connectors.solana.sender import (
    DexLeg,
    Rebroadcast,
    TxOutcome,
    decode_error,
    realised_amounts,
    tx_record,
)
from connectors.solana.transactions import SignedSwap

PAYER = Keypair.from_seed(bytes([9]) * 32)
OWNER = str(PAYER.pubkey())


def _tx(program: str) -> bytes:
    ix = Instruction(Pubkey.from_string(program), b"\x00", [])
    msg = MessageV0.try_compile(PAYER.pubkey(), [ix, ix], [], Hash.default())
    return bytes(VersionedTransaction(msg, [PAYER]))


def test_rebroadcast_is_due_every_interval_and_expires_past_the_last_valid_height() -> None:
    policy = Rebroadcast(last_valid_block_height=500, interval_ns=400)
    assert policy.due(0)
    policy.sent(0)
    assert (policy.due(399), policy.due(400), policy.wait_ns(100), policy.rounds) == (
        False,
        True,
        300,
        1,
    )
    assert (policy.expired(500), policy.expired(501)) == (False, True)


def test_custom_errors_decode_to_the_failing_programs_name() -> None:
    cases = {
        WHIRLPOOL_PROGRAM_ID: (6036, "AmountOutBelowMinimum (6036)"),
        RAYDIUM_CLMM_PROGRAM_ID: (6018, "TooLittleOutputReceived (6018)"),
        PHOENIX_PROGRAM_ID: (15, "NewOrderError (15)"),
        OPENBOOK_PROGRAM_ID: (6043, "WouldExecutePartially (6043)"),
    }
    for program, (code, name) in cases.items():
        err = {"InstructionError": [1, {"Custom": code}]}
        assert decode_error(err, _tx(program)) == name
    unknown = {"InstructionError": [0, {"Custom": 77}]}
    assert decode_error(unknown, _tx(PHOENIX_PROGRAM_ID)) == f"Custom(77) in {PHOENIX_PROGRAM_ID}"
    runtime = {"InstructionError": [1, "ComputationalBudgetExceeded"]}
    assert decode_error(runtime, _tx(PHOENIX_PROGRAM_ID)) == "ComputationalBudgetExceeded"
    assert decode_error("BlockhashNotFound", b"") == "BlockhashNotFound"


def _bal(mint: str, owner: str, amount: int) -> dict[str, object]:
    return {"mint": mint, "owner": owner, "uiTokenAmount": {"amount": str(amount)}}


def test_realised_amounts_are_the_owners_balance_changes_per_mint() -> None:
    pre = [_bal("SOL", OWNER, 1_000), _bal("SOL", "pool", 50_000), _bal("USDC", "pool", 9_000)]
    # the owner's USDC account was created in the transaction: absent before
    post = [
        _bal("SOL", OWNER, 400),
        _bal("SOL", "pool", 50_600),
        _bal("USDC", "pool", 8_877),
        _bal("USDC", OWNER, 123),
    ]
    assert realised_amounts(pre, post, OWNER) == (600, 123)
    assert realised_amounts(pre, pre, OWNER) == (0, 0)


def test_transactions_rows_round_trip_through_the_journal(tmp_path: Path) -> None:
    leg = DexLeg("i-1", "o-1", 1, "phoenix", "mkt", "buy", OWNER)
    signed = SignedSwap(
        tx_bytes=b"\x01\x02",
        signature="sig1",
        blockhash="bh",
        cu_limit=200_000,
        cu_price_micro_lamports=7,
        limits={"min_base_lots_to_fill": 5, "min_quote_lots_to_fill": 0},
        quoted_in=1_000,
        quoted_out=50,
        created_accounts=(),
    )
    outcome = TxOutcome(
        "landed",
        "sig1",
        slot=9,
        fee_lamports=6_400,
        cu_consumed=31_000,
        realised_in=990,
        realised_out=50,
        sends=2,
        sent_ns=1,
        done_ns=2,
    )
    sink = JournalSink(tmp_path, "run1")
    part = sink.build("journal", 0, 1)
    record = tx_record(leg, signed, outcome)
    part.write_batch([record, record])
    part.close()
    table = read_table(tmp_path, "transactions")
    assert table is not None
    rows = table.to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["row_id"], row["tx_base64"], row["min_base_lots_to_fill"], row["price_lots"]) == (
        "tx:sig1",
        "AQI=",
        5,
        None,
    )
    assert (row["status"], row["fee_lamports"], row["realised_in"], row["sends"]) == (
        "landed",
        6_400,
        990,
        2,
    )
