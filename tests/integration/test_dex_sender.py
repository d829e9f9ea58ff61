"""The DEX sender on two stand-in RPCs: every fault ends in a reported outcome.

One `SolanaRpc` holds both stand-ins as endpoints (their LiteSVMs hand out the same blockhash,
so the same signed bytes are valid on both). A swap leg is built once; the sender broadcasts
those bytes, re-broadcasts them on its own schedule, confirms and reads the outcome back.
Faults: dropped sends, a late landing, program errors (preflight and landed), blockhash
expiry, one RPC down; dry run only simulates. No test sends any bytes but the leg's own.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from solders.keypair import Keypair

from bench.dex_send_setup import BenchLeg
from connectors import venues
from connectors.journal import TABLES, journal_row, row_id
from connectors.keypair import Signer
from connectors.solana.blockhash import BlockhashRefresher
from connectors.solana.rpc import SolanaRpc
from connectors.solana.sender import DexLeg, DexSender, SendSettings, TxRecord
from connectors.solana.transactions import SignedSwap, build_swap_transaction
from operators.clmm import quote_swap
from sim.dex_exec import (
    CU_COMPUTE_BUDGET,
    CU_CREATE_ATA,
    CU_PER_TICK_CROSSED,
    CU_SWAP_BASE,
    encode_token_account,
)
from sim.standin import SolanaStandIn
from tests.integration.dex_support import (
    CU_LIMIT,
    CU_PRICE,
    FEE,
    OWNER,
    PAYER,
    POOL,
    RENT,
    SOL_ATA,
    TOKEN,
    USDC_ATA,
    orca_leg,
    rpc_for,
    sign_orca,
    whirlpool,
)
from tests.unit.orca_helpers import SOL_MINT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

AMOUNT = 50_000_000
LEG = DexLeg("intent-1", "opp-1", 0, "orca", POOL, "sell", OWNER)
FAST = SendSettings(rebroadcast_ms=100, confirm_timeout_ms=10_000)


@pytest.fixture
def nodes(orca_nodes: list[SolanaStandIn]) -> list[SolanaStandIn]:
    """Both stand-ins (conftest `orca_nodes`)."""
    return orca_nodes


@pytest.fixture
async def rpc(nodes: list[SolanaStandIn]) -> AsyncIterator[SolanaRpc]:
    client = rpc_for(*nodes, max_attempts=2)
    await client.start()
    yield client
    await client.close()


async def _signed(rpc: SolanaRpc, limit: int | None = None) -> tuple[SignedSwap, int]:
    blockhash, last_valid = await rpc.get_latest_blockhash()
    return sign_orca(blockhash, AMOUNT, limit=limit), last_valid


def _quote() -> tuple[int, int, int]:
    pool, arrays = whirlpool()
    q = quote_swap(pool, arrays, AMOUNT, a_to_b=True)
    return q.amount_in, q.amount_out, q.ticks_crossed


def _only_these_bytes(nodes: list[SolanaStandIn], signed: SignedSwap) -> None:
    for node in nodes:
        assert all(s == (signed.signature, signed.tx_bytes) for s in node.sends)


async def test_swap_lands_on_both_rpcs_and_reports_realised_amounts_fee_and_compute(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    signed, last_valid = await _signed(rpc)
    amount_in, amount_out, crossed = _quote()
    report, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    cu = 2 * CU_COMPUTE_BUDGET + CU_CREATE_ATA + CU_SWAP_BASE + CU_PER_TICK_CROSSED * crossed
    assert (report.status, report.filled_base, report.quote_amount) == (
        "filled",
        amount_in,
        amount_out,
    )
    assert report.extra["outcome"] == "landed"
    assert (record.status, record.fee_lamports, record.cu_consumed, record.sends) == (
        "landed",
        FEE,
        cu,
        1,
    )
    assert (record.realised_in, record.realised_out, record.error) == (amount_in, amount_out, "")
    assert record.slot in {n.slot - 1 for n in nodes}
    for node in nodes:
        assert node.sends == [(signed.signature, signed.tx_bytes)]
        assert node.fees_charged[signed.signature] == FEE
    assert base64.b64decode(record.tx_base64) == signed.tx_bytes
    assert (record.other_amount_threshold, record.sqrt_price_limit) == (
        signed.limits["other_amount_threshold"],
        0,
    )
    assert (record.min_base_lots_to_fill, record.price_lots, record.max_base_lots) == (
        None,
        None,
        None,
    )
    assert (record.quoted_in, record.quoted_out, record.blockhash) == (
        amount_in,
        amount_out,
        signed.blockhash,
    )


async def test_finalized_commitment_is_what_the_signature_subscription_asks_for(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    signed, last_valid = await _signed(rpc)
    settings = SendSettings(commitment="finalized", rebroadcast_ms=100)
    _, record = await DexSender(rpc, settings).execute(LEG, signed, last_valid)
    assert record.status == "landed"
    subscribed = [c for n in nodes for c in n.signature_commitments]
    assert subscribed == [(signed.signature, "finalized")]


async def test_send_swap_signs_with_the_sealed_signer_and_the_cached_blockhash(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    refresher = BlockhashRefresher(rpc.get_latest_blockhash, rpc.get_block_height)
    await refresher.refresh()
    pool, _ = whirlpool()
    signer = Signer(PAYER)
    report, record = await DexSender(rpc, FAST).send_swap(
        LEG, venues.dex("orca"), orca_leg(pool, AMOUNT), signer=signer, blockhashes=refresher,
        cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE, missing_token_accounts={USDC_ATA},
    )  # fmt: skip
    assert (record.status, record.blockhash) == ("landed", refresher.current().blockhash)
    assert (report.filled_base, report.quote_amount) == _quote()[:2]
    assert repr(signer) == f"Signer(pubkey={OWNER})"


async def test_a_breached_threshold_is_failed_with_the_programs_error_name(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    _, amount_out, _ = _quote()
    signed, last_valid = await _signed(rpc, limit=amount_out + 1)
    report, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    assert (record.status, record.error, record.sends) == (
        "failed",
        "AmountOutBelowMinimum (6036)",
        1,
    )
    assert (report.status, report.reason, report.filled_base) == (
        "rejected",
        "AmountOutBelowMinimum (6036)",
        0,
    )
    assert not any(n.signature_known(signed.signature) for n in nodes)


async def test_a_landed_program_error_is_failed_by_name_and_pays_the_fee(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    for node in nodes:
        node.fail_next_swap(6038, "TickArraySequenceInvalidIndex")
    signed, last_valid = await _signed(rpc)
    settings = SendSettings(skip_preflight=True, rebroadcast_ms=100, confirm_timeout_ms=10_000)
    report, record = await DexSender(rpc, settings).execute(LEG, signed, last_valid)
    assert (record.status, record.error, record.fee_lamports, record.cu_consumed) == (
        "failed",
        "TickArraySequenceInvalidIndex (6038)",
        FEE,
        CU_LIMIT,
    )
    assert (record.realised_in, record.realised_out) == (0, 0)
    assert (report.status, report.extra["outcome"]) == ("rejected", "failed")


@pytest.mark.parametrize("skip_preflight", [False, True])
async def test_a_token_transfer_failing_inside_the_swap_is_named_by_the_token_program(
    nodes: list[SolanaStandIn], rpc: SolanaRpc, skip_preflight: bool
) -> None:
    # the owner holds less SOL than it sells: the token program's InsufficientFunds (1) fails
    # the Whirlpool instruction; the program log (preflight refusal, or the landed failure's
    # getTransaction) names the token program, not Whirlpool's own error 1
    for node in nodes:
        node.set_account(SOL_ATA, encode_token_account(SOL_MINT, OWNER, AMOUNT - 1), TOKEN, RENT)
    signed, last_valid = await _signed(rpc)
    settings = SendSettings(
        skip_preflight=skip_preflight, rebroadcast_ms=100, confirm_timeout_ms=10_000
    )
    report, record = await DexSender(rpc, settings).execute(LEG, signed, last_valid)
    expected = "InsufficientFunds (1) in SPL Token, called by Orca Whirlpool"
    assert (record.status, record.error, report.status) == ("failed", expected, "rejected")
    assert record.fee_lamports == (FEE if skip_preflight else 0)  # a landed failure pays


async def test_without_a_read_back_the_status_still_says_landed_or_failed_by_name(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    for node in nodes:
        node.serve_transactions = False
        node.fail_next_swap(6036, "AmountOutBelowMinimum")
    settings = SendSettings(skip_preflight=True, rebroadcast_ms=50, read_back_attempts=2)
    signed, last_valid = await _signed(rpc)
    _, record = await DexSender(rpc, settings).execute(LEG, signed, last_valid)
    assert (record.status, record.error, record.fee_lamports) == (
        "failed",
        "AmountOutBelowMinimum (6036)",
        0,
    )
    ok = sign_orca(signed.blockhash, AMOUNT + 1)
    report, record = await DexSender(rpc, settings).execute(LEG, ok, last_valid)
    assert (record.status, record.error, record.realised_out) == (
        "landed",
        "getTransaction unavailable",
        0,
    )
    assert report.reason == "getTransaction unavailable"


async def test_a_dropped_send_is_rebroadcast_with_the_same_bytes_and_lands(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    for node in nodes:
        node.drop_sends(1)
    signed, last_valid = await _signed(rpc)
    _, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    assert (record.status, record.sends) == ("landed", 2)
    for node in nodes:
        assert len(node.sends) == 2
        assert node.fees_charged[signed.signature] == FEE
    _only_these_bytes(nodes, signed)


async def test_a_late_landing_is_confirmed_after_rebroadcasts(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    for node in nodes:
        node.hold_sends(True)
    signed, last_valid = await _signed(rpc)
    task = asyncio.create_task(DexSender(rpc, FAST).execute(LEG, signed, last_valid))
    async with asyncio.timeout(5):
        while len(nodes[0].sends) < 3 or len(nodes[1].sends) < 3:
            await asyncio.sleep(0.02)
    for node in nodes:
        node.hold_sends(False)
    report, record = await task
    assert (record.status, report.status) == ("landed", "filled")
    assert record.sends >= 3
    assert record.realised_out == _quote()[1]
    _only_these_bytes(nodes, signed)
    assert all(list(n.fees_charged) == [signed.signature] for n in nodes)


async def test_an_unseen_transaction_expires_when_the_block_height_passes_its_last_valid(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    for node in nodes:
        node.drop_sends(10_000)
    signed, _ = await _signed(rpc)
    last_valid = nodes[0].slot + 2
    task = asyncio.create_task(DexSender(rpc, FAST).execute(LEG, signed, last_valid))
    async with asyncio.timeout(5):
        while len(nodes[0].sends) < 2:
            await asyncio.sleep(0.02)
    for node in nodes:
        node.advance_slot(3)
    report, record = await task
    assert (record.status, record.error) == (
        "expired",
        "blockhash expired before the transaction landed",
    )
    assert (report.status, report.filled_base, report.extra["outcome"]) == (
        "rejected",
        0,
        "expired",
    )
    assert record.sends >= 2
    assert not any(n.signature_known(signed.signature) for n in nodes)
    _only_these_bytes(nodes, signed)


async def test_an_expired_blockhash_refused_by_every_node_is_reported_expired(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    signed, last_valid = await _signed(rpc)
    for node in nodes:
        node.expire_blockhash()
    report, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    assert (record.status, record.error, record.sends) == ("expired", "BlockhashNotFound", 1)
    assert (report.status, report.extra["outcome"]) == ("rejected", "expired")
    assert not any(n.signature_known(signed.signature) for n in nodes)


@pytest.mark.parametrize("status", [503, 403])
async def test_one_rpc_down_the_other_lands_it_and_the_status_poll_confirms(
    nodes: list[SolanaStandIn], rpc: SolanaRpc, status: int
) -> None:
    signed, last_valid = await _signed(rpc)
    nodes[0].fail_http(status, count=10_000)
    report, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    assert (record.status, report.status, record.fee_lamports) == ("landed", "filled", FEE)
    assert record.realised_out == _quote()[1]
    assert nodes[0].sends == []
    assert nodes[1].sends == [(signed.signature, signed.tx_bytes)]


async def test_dry_run_simulates_and_reports_what_would_have_happened(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    signed, last_valid = await _signed(rpc)
    amount_in, amount_out, _ = _quote()
    settings = SendSettings(dry_run=True)
    report, record = await DexSender(rpc, settings).execute(LEG, signed, last_valid)
    assert (record.status, record.realised_in, record.realised_out, record.fee_lamports) == (
        "simulated",
        amount_in,
        amount_out,
        FEE,
    )
    assert (report.status, report.filled_base, report.quote_amount) == ("cancelled", 0, 0)
    assert (report.extra["would_in"], report.extra["would_out"]) == (
        str(amount_in),
        str(amount_out),
    )
    assert all(n.sends == [] for n in nodes)
    _, _, crossed = _quote()
    cu = 2 * CU_COMPUTE_BUDGET + CU_CREATE_ATA + CU_SWAP_BASE + CU_PER_TICK_CROSSED * crossed
    assert record.cu_consumed == cu


async def test_dry_run_of_a_breached_threshold_names_the_programs_error(
    nodes: list[SolanaStandIn], rpc: SolanaRpc
) -> None:
    _, amount_out, _ = _quote()
    signed, last_valid = await _signed(rpc, limit=amount_out + 1)
    report, record = await DexSender(rpc, SendSettings(dry_run=True)).execute(
        LEG, signed, last_valid
    )
    assert (record.status, record.error, record.realised_out) == (
        "simulated_failed",
        "AmountOutBelowMinimum (6036)",
        0,
    )
    assert (report.status, report.reason) == ("cancelled", "AmountOutBelowMinimum (6036)")
    assert all(n.sends == [] for n in nodes)


async def test_no_key_byte_reaches_the_report_the_record_or_its_journal_row(
    rpc: SolanaRpc,
) -> None:
    signed, last_valid = await _signed(rpc)
    report, record = await DexSender(rpc, FAST).execute(LEG, signed, last_valid)
    secret = bytes(PAYER)[:32]
    forms = [str(PAYER), secret.hex(), base64.b64encode(secret).decode()]
    forms.append(str(Keypair.from_seed(secret)))
    texts = [repr(report), repr(record), repr(journal_row(record)), repr(signed)]
    assert not any(form in text for form in forms for text in texts)
    assert secret not in signed.tx_bytes
    assert (TABLES[TxRecord], row_id(record)) == ("transactions", f"tx:{signed.signature}")


async def test_all_four_venues_land_on_two_rpcs_with_the_quoted_amounts_realised(
    four_venues: tuple[list[SolanaStandIn], SolanaRpc, list[BenchLeg]],
) -> None:
    pair, client, bench_legs = four_venues
    blockhash, last_valid = await client.get_latest_blockhash()
    sender = DexSender(client, FAST)
    for leg in bench_legs:
        req = leg.request
        signed = build_swap_transaction(
            venues.dex(leg.venue), req, payer=PAYER, recent_blockhash=blockhash,
            cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
        )  # fmt: skip
        who = DexLeg("i", "o", 0, leg.venue, req.market_address, "sell", OWNER)
        report, record = await sender.execute(who, signed, last_valid)
        assert (leg.venue, record.status, record.fee_lamports) == (leg.venue, "landed", FEE)
        assert (record.realised_in, record.realised_out) == (req.quoted_in, req.quoted_out)
        assert (report.filled_base, report.quote_amount) == (req.quoted_in, req.quoted_out)
        for node in pair:
            assert node.sends[-1] == (signed.signature, signed.tx_bytes)
            assert node.fees_charged[signed.signature] == FEE
    assert [len(n.sends) for n in pair] == [4, 4]  # one send per leg per node
