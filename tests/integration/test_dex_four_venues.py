"""Issue 17's done-when on the four DEX venues: every leg built, signed, sent to two stand-in
RPCs and reported; a breached limit ends as a reported failure named by the venue program's
own error; and no byte of the keypair, in any encoding, reaches the logs, the journal, the
reports, the health events or the trace spans of a session that went through every path."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bench.dex_send_setup import BenchLeg
from connectors import venues
from connectors.journal import JournalSink, read_table
from connectors.keypair import Signer
from connectors.solana.blockhash import BlockhashCache, BlockhashRefresher, BlockhashSettings
from connectors.solana.rpc import SolanaRpc
from connectors.solana.sender import DexLeg, DexSender, SendSettings
from connectors.solana.service import RetryPolicy
from connectors.solana.transactions import build_swap_transaction
from connectors.solana.wsol import WsolPolicy
from connectors.solana.wsol_keeper import WsolKeeper, WsolKeeperSettings
from connectors.trace_spans import spans_of
from operators.errors import ExecutionError
from operators.events import ExecutionReport, HealthEvent
from sim.standin import SolanaStandIn
from tests.integration.dex_support import CU_LIMIT, CU_PRICE, OWNER, PAYER

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAST = SendSettings(rebroadcast_ms=50, confirm_timeout_ms=10_000)
# each venue's slippage failure, as its program numbers it (connectors/solana/program_errors.py)
BREACH = {
    "orca": "AmountOutBelowMinimum (6036)",
    "raydium_clmm": "TooLittleOutputReceived (6018)",
    "phoenix": "NewOrderError (15)",
    "openbook": "WouldExecutePartially (6043)",
}


def _breached(leg: BenchLeg) -> BenchLeg:
    # ask far more than the book or pool pays; OpenBook's only bound is its limit price, which
    # the quote's worst level would otherwise cap
    req = replace(leg.request, limit=leg.request.quoted_out * 1_000, worst_price=None)
    return replace(leg, request=req)


async def test_a_breached_limit_on_every_venue_is_reported_failed_by_its_programs_name(
    four_venues: tuple[list[SolanaStandIn], SolanaRpc, list[BenchLeg]],
) -> None:
    nodes, rpc, bench_legs = four_venues
    blockhash, last_valid = await rpc.get_latest_blockhash()
    sender = DexSender(rpc, FAST)
    seen = {}
    for leg in map(_breached, bench_legs):
        signed = build_swap_transaction(
            venues.dex(leg.venue), leg.request, payer=PAYER, recent_blockhash=blockhash,
            cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
        )  # fmt: skip
        who = DexLeg("i", f"o-{leg.venue}", 0, leg.venue, leg.request.market_address, "sell", OWNER)
        report, record = await sender.execute(who, signed, last_valid)
        seen[leg.venue] = (record.status, record.error, report.status, report.reason)
    assert seen == {
        venue: ("failed", name, "rejected", name) for venue, name in BREACH.items()
    }
    # refused at preflight by both nodes: nothing landed, no fee paid anywhere
    assert all(not n.fees_charged for n in nodes)


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(raw: bytes) -> str:
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _forms(secret64: bytes) -> list[str]:
    seed = secret64[:32]
    out = []
    for raw in (secret64, seed):
        out += [
            _b58(raw),
            raw.hex(),
            raw.hex().upper(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            str(list(raw))[1:-1],  # the Solana CLI keypair file's JSON array
        ]
    return out


async def test_no_keypair_byte_reaches_logs_journal_reports_health_or_traces(
    four_venues: tuple[list[SolanaStandIn], SolanaRpc, list[BenchLeg]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    nodes, rpc, bench_legs = four_venues
    signer = Signer(PAYER)
    health: list[HealthEvent] = []
    refresher = BlockhashRefresher(
        rpc.get_latest_blockhash, rpc.get_block_height,
        BlockhashCache(BlockhashSettings(refresh_ms=50, slot_ms=5, min_remaining_blocks=20)),
        retry=RetryPolicy(attempts=2, backoff_ms=1, backoff_max_ms=5), on_health=health.append,
    )  # fmt: skip
    sender = DexSender(rpc, FAST)
    records: list[object] = []
    errors: list[str] = []
    try:
        await refresher.start()
        # every path: a landed leg per venue (one of them dropped once and re-broadcast), a
        # breached one per venue, a dry run
        nodes[0].drop_sends(1)
        nodes[1].drop_sends(1)
        for leg in [*bench_legs, *map(_breached, bench_legs)]:
            who = DexLeg("i", f"o-{leg.venue}", 0, leg.venue, leg.request.market_address, "sell",
                         OWNER)  # fmt: skip
            report, record = await sender.send_swap(
                who, venues.dex(leg.venue), leg.request, signer=signer, blockhashes=refresher,
                cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
            )  # fmt: skip
            records += [report, record]
        dry = DexSender(rpc, replace(FAST, dry_run=True))
        leg = bench_legs[0]
        who = DexLeg("i", "o-dry", 0, leg.venue, leg.request.market_address, "sell", OWNER)
        records += await dry.send_swap(
            who, venues.dex(leg.venue), leg.request, signer=signer, blockhashes=refresher,
            cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
        )  # fmt: skip
        # a service failing: the RPC answers 503, the refresher reports itself down
        for node in nodes:
            node.fail_http(503, count=10_000)
        async with asyncio.timeout(10):
            while refresher.health().status != "down":
                await asyncio.sleep(0.01)
        # a keeper whose top-up cannot even start: its error is a message too
        keeper = WsolKeeper(
            rpc, signer, refresher, WsolPolicy(10**8, 10**9), WsolKeeperSettings(check_ms=10),
            retry=RetryPolicy(attempts=1, backoff_ms=0, backoff_max_ms=0),
            on_health=health.append,
        )  # fmt: skip
        with pytest.raises(ExecutionError) as info:
            await keeper.start()
        errors += [str(info.value), repr(info.value), refresher.health().last_error]
    finally:
        await refresher.stop()
    outcomes = {(r.status, r.reason) for r in records if isinstance(r, ExecutionReport)}
    assert outcomes == {
        ("filled", "landed"),
        ("cancelled", "simulated"),
        *(("rejected", name) for name in BREACH.values()),
    }
    assert [h.status for h in health if h.source == "svc:blockhash"] == ["up", "down"]

    sink = JournalSink(tmp_path, "run1")
    part = sink.build("journal", 0, 1)
    part.write_batch([*records, *health])
    part.close()
    journal = [
        repr(table.to_pylist())
        for name in ("transactions", "fills", "health")
        if (table := read_table(tmp_path, name)) is not None
    ]
    assert len(journal) == 3
    spans = [
        repr(span)
        for r in [*records, *health]
        for span in spans_of(r, "run1", {"down", "up"})
    ]
    assert spans  # reports and health events are traced
    texts = [
        *(r.getMessage() for r in caplog.records),
        *(repr(r.__dict__) for r in caplog.records),
        *map(repr, records),
        *map(repr, health),
        *journal,
        *spans,
        *errors,
    ]
    haystack = "\n".join(texts)
    assert _b58(bytes(PAYER)) == str(PAYER)  # the encoder is Solana's base58
    for form in _forms(bytes(PAYER)):
        assert form not in haystack
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert bytes(PAYER)[:32] not in files and bytes(PAYER) not in files
