"""The DEX programs' error tables, pinned against the programs' own sources.

Numbers below were read from each program's error enum at the commit named in
`connectors/solana/program_errors.py` (Anchor enums count from 6000 in declaration order,
Phoenix numbers its enum explicitly); the stand-in raises by name from the same tables.
"""

from __future__ import annotations

import pytest
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from connectors.solana import openbook_take, orca_swap, phoenix_swap, raydium_swap
from connectors.solana.program_errors import (
    ANCHOR_ERRORS,
    OPENBOOK_ERRORS,
    PHOENIX_ERRORS,
    RAYDIUM_CLMM_ERRORS,
    WHIRLPOOL_ERRORS,
    error_number,
)
from connectors.solana.tx_outcome import PROGRAM_ERRORS, decode_error, failing_program
from sim.dex_exec import ProgramError

PAYER = Keypair.from_seed(bytes([9]) * 32)


DEX_PROGRAMS = (
    orca_swap.WHIRLPOOL_PROGRAM_ID,
    raydium_swap.RAYDIUM_CLMM_PROGRAM_ID,
    phoenix_swap.PHOENIX_PROGRAM_ID,
    openbook_take.OPENBOOK_PROGRAM_ID,
)
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def _tx(program: str) -> bytes:
    ix = Instruction(Pubkey.from_string(program), b"\x00", [])
    msg = MessageV0.try_compile(PAYER.pubkey(), [ix, ix, ix], [], Hash.default())
    return bytes(VersionedTransaction(msg, [PAYER]))


def test_whirlpool_codes_match_errors_rs() -> None:
    # errors.rs comments each variant with its number: 0x1794 (6036), 0x1795 (6037), ...
    assert {n: WHIRLPOOL_ERRORS[n] for n in (6000, 6009, 6023, 6035, 6036, 6037, 6038, 6069)} == {
        6000: "InvalidEnum",
        6009: "TickNotFound",
        6023: "InvalidTickArraySequence",
        6035: "ZeroTradableAmount",
        6036: "AmountOutBelowMinimum",
        6037: "AmountInAboveMaximum",
        6038: "TickArraySequenceInvalidIndex",
        6069: "PriceSlippageOutOfBounds",
    }
    assert max(n for n in WHIRLPOOL_ERRORS if n >= 6000) == 6069


def test_raydium_clmm_codes_follow_the_renumbered_enum() -> None:
    # since f16c59a the enum starts NotApproved (LOK and three others were removed)
    assert {n: RAYDIUM_CLMM_ERRORS[n] for n in (6000, 6011, 6016, 6017, 6018, 6019, 6020)} == {
        6000: "NotApproved",
        6011: "SqrtPriceLimitOverflow",
        6016: "LiquidityInsufficient",
        6017: "PriceSlippageCheck",
        6018: "TooLittleOutputReceived",
        6019: "TooMuchInputPaid",
        6020: "ZeroAmountSpecified",
    }
    assert (RAYDIUM_CLMM_ERRORS[6023], RAYDIUM_CLMM_ERRORS[6024]) == (
        "NotEnoughTickArrayAccount",
        "InvalidFirstTickArrayAccount",
    )
    assert "LOK" not in RAYDIUM_CLMM_ERRORS.values()


def test_phoenix_codes_are_its_explicit_discriminants_with_no_anchor_range() -> None:
    assert {n: PHOENIX_ERRORS[n] for n in (0, 2, 4, 13, 15, 25)} == {
        0: "InvalidMarketParameters",
        2: "FailedToLoadMarketFromAccount",
        4: "MarketUninitialized",
        13: "InvalidQuoteAccount",
        15: "NewOrderError",
        25: "FailedToFlushBuffer",
    }
    assert sorted(PHOENIX_ERRORS) == list(range(26))


def test_openbook_codes_match_open_book_error() -> None:
    assert {n: OPENBOOK_ERRORS[n] for n in (6000, 6010, 6027, 6029, 6036, 6043)} == {
        6000: "SomeError",
        6010: "InvalidInputOrderType",
        6027: "InvalidOrderPostIOC",
        6029: "WouldSelfTrade",
        6036: "OpenOrdersFull",
        6043: "WouldExecutePartially",
    }
    assert max(OPENBOOK_ERRORS) == 6043


def test_anchor_framework_codes_are_shared_by_the_anchor_programs_only() -> None:
    assert (ANCHOR_ERRORS[2000], ANCHOR_ERRORS[3003], ANCHOR_ERRORS[3012]) == (
        "ConstraintMut",
        "AccountDidNotDeserialize",
        "AccountNotInitialized",
    )
    for table in (WHIRLPOOL_ERRORS, RAYDIUM_CLMM_ERRORS, OPENBOOK_ERRORS):
        assert table[3007] == "AccountOwnedByWrongProgram"
    assert 3007 not in PHOENIX_ERRORS


def test_each_venues_swap_table_is_its_programs_table_and_decodes_by_program() -> None:
    assert orca_swap.SWAP_ERRORS is WHIRLPOOL_ERRORS
    assert raydium_swap.SWAP_ERRORS is RAYDIUM_CLMM_ERRORS
    assert phoenix_swap.SWAP_ERRORS is PHOENIX_ERRORS
    assert openbook_take.SWAP_ERRORS is OPENBOOK_ERRORS
    # one number, four programs, four names: decoding goes by the failing instruction's program
    decoded = {
        decode_error({"InstructionError": [2, {"Custom": 6018}]}, _tx(program))
        for program in DEX_PROGRAMS
    }
    assert decoded == {
        "TokenMinSubceeded (6018)",
        "TooLittleOutputReceived (6018)",
        "InvalidConsumeEventsAdmin (6018)",
        f"Custom(6018) in {phoenix_swap.PHOENIX_PROGRAM_ID}",
    }


@pytest.mark.parametrize(
    ("table", "name", "number"),
    [
        (WHIRLPOOL_ERRORS, "AmountOutBelowMinimum", 6036),
        (WHIRLPOOL_ERRORS, "AmountInAboveMaximum", 6037),
        (RAYDIUM_CLMM_ERRORS, "TooLittleOutputReceived", 6018),
        (RAYDIUM_CLMM_ERRORS, "TooMuchInputPaid", 6019),
        (RAYDIUM_CLMM_ERRORS, "NotEnoughTickArrayAccount", 6023),
        (PHOENIX_ERRORS, "NewOrderError", 15),
        (OPENBOOK_ERRORS, "WouldExecutePartially", 6043),
    ],
)
def test_the_stand_in_raises_the_slippage_errors_with_the_programs_numbers(
    table: dict[int, str], name: str, number: int
) -> None:
    err = ProgramError.named(table, 2, name, "detail")
    assert (err.error_number, err.err_json()) == (
        number,
        {"InstructionError": [2, {"Custom": number}]},
    )
    assert err.log_line() == f"Program log: Error Code: {name}. Error Number: {number}."
    assert error_number(table, name) == number


def test_an_unknown_name_is_refused_rather_than_numbered() -> None:
    with pytest.raises(KeyError, match="TooLittleOutput"):
        error_number(WHIRLPOOL_ERRORS, "TooLittleOutputReceived")


def test_a_token_error_inside_a_swap_is_named_by_the_token_program_when_the_log_says_so() -> None:
    # Phoenix's own error 1 and the token program's InsufficientFunds are both Custom(1) on the
    # swap instruction; only the program log tells them apart
    err = {"InstructionError": [2, {"Custom": 1}]}
    phoenix = phoenix_swap.PHOENIX_PROGRAM_ID
    logs = [
        f"Program {phoenix} invoke [1]",
        f"Program {TOKEN} invoke [2]",
        "Program log: Error: insufficient funds",
        f"Program {TOKEN} failed: custom program error: 0x1",
        f"Program {phoenix} failed: custom program error: 0x1",
    ]
    assert failing_program(logs, 1) == TOKEN
    assert decode_error(err, _tx(phoenix), logs) == (
        "InsufficientFunds (1) in SPL Token, called by Phoenix"
    )
    # without a log the outer program's table is all there is (as before)
    assert decode_error(err, _tx(phoenix)) == f"{PHOENIX_ERRORS[1]} (1)"
    # the program's own error, logged by itself only: its own name, no caller
    own = [f"Program {phoenix} failed: custom program error: 0x1"]
    assert decode_error(err, _tx(phoenix), own) == f"{PHOENIX_ERRORS[1]} (1)"
    # a log line for another code does not count; an unknown called program is shown by id
    assert failing_program([f"Program {TOKEN} failed: custom program error: 0x2"], 1) == ""
    other = "Other111111111111111111111111111111111111111"
    odd = [f"Program {other} failed: custom program error: 0x1"]
    assert decode_error(err, _tx(phoenix), odd) == f"Custom(1) in {other}, called by Phoenix"


def test_token_and_system_tables_follow_their_enums() -> None:
    assert PROGRAM_ERRORS[TOKEN][1] == "InsufficientFunds"
    assert PROGRAM_ERRORS[TOKEN][19] == "NonNativeNotSupported" and 20 not in PROGRAM_ERRORS[TOKEN]
    system = PROGRAM_ERRORS["11111111111111111111111111111111"]
    assert (system[0], system[1], system[8]) == (
        "AccountAlreadyInUse", "ResultWithNegativeLamports", "NonceUnexpectedBlockhashValue")


def test_the_stand_ins_failure_log_is_what_agave_writes_for_a_called_program() -> None:
    phoenix = phoenix_swap.PHOENIX_PROGRAM_ID
    inner = ProgramError(3, 1, "InsufficientFunds", "token account X", TOKEN)
    assert inner.logs(phoenix) == [
        f"Program {TOKEN} failed: custom program error: 0x1",
        f"Program {phoenix} failed: custom program error: 0x1",
    ]
    own = ProgramError(3, 6036, "AmountOutBelowMinimum")
    assert own.logs(phoenix)[-1] == f"Program {phoenix} failed: custom program error: 0x1794"
    runtime = ProgramError(0, -1, "InvalidSeeds")
    assert runtime.logs(phoenix) == [f"Program {phoenix} failed: InvalidSeeds"]
