"""The DEX run-time services as long-lived tasks on the stand-in: the blockhash refresher and
the wSOL keeper (start/stop, bounded retries, health, clear errors)."""

from __future__ import annotations

import asyncio
from base64 import b64decode

import pytest
from solders.transaction import VersionedTransaction

from connectors import venues
from connectors.keypair import Signer
from connectors.solana import orca
from connectors.solana.blockhash import BlockhashCache, BlockhashRefresher, BlockhashSettings
from connectors.solana.programs import TOKEN_PROGRAM_ID
from connectors.solana.rpc import SolanaRpc
from connectors.solana.sender import DexLeg, DexSender, SendSettings
from connectors.solana.service import RetryPolicy
from connectors.solana.wsol import WsolPolicy
from connectors.solana.wsol_keeper import WsolKeeper, WsolKeeperSettings
from operators.errors import ExecutionError, FeedError
from operators.events import HealthEvent
from sim.standin import SolanaStandIn
from tests.integration.dex_support import (
    CU_LIMIT,
    CU_PRICE,
    OWNER,
    PAYER,
    POOL,
    USDC_ATA,
    orca_leg,
    rpc_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def _until(check: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.005)


# ------------------------------------------------------------------ blockhash refresher


async def test_the_refresher_keeps_the_blockhash_inside_its_window_while_slots_advance() -> None:
    node = SolanaStandIn(start_slot=100)
    await node.start(auto_advance_s=0.005)
    rpc = rpc_for(node)
    settings = BlockhashSettings(refresh_ms=30, slot_ms=5, min_remaining_blocks=20)
    events: list[HealthEvent] = []
    refresher = BlockhashRefresher(
        rpc.get_latest_blockhash, rpc.get_block_height, BlockhashCache(settings),
        on_health=events.append,
    )  # fmt: skip
    try:
        await refresher.start()
        start_slot = node.slot
        seen: set[str] = set()
        for _ in range(150):  # ~1.5 s: some 300 slots, two blockhash lifetimes
            recent = refresher.current()
            seen.add(recent.blockhash)
            left = recent.last_valid_block_height - node.slot
            assert settings.min_remaining_blocks <= left <= 150
            if node.slot % 97 == 0:
                node.expire_blockhash()
            await asyncio.sleep(0.01)
        assert node.slot - start_slot > 150  # the first blockhash alone would have expired
        health = refresher.health()
        assert (health.status, health.consecutive_failures, refresher.failures) == ("up", 0, 0)
        assert health.cycles == refresher.refreshes > 10
        assert [e.status for e in events] == ["up"]
        assert events[0].source == "svc:blockhash"
    finally:
        await refresher.stop()
        await rpc.close()
        await node.stop()
    assert refresher.health().status == "stopped" and not refresher.running


async def test_a_dead_rpc_turns_the_refresher_down_after_bounded_retries_then_back_up() -> None:
    node = SolanaStandIn(start_slot=500)
    await node.start()
    rpc = rpc_for(node, max_attempts=1, backoff_base_s=0.001, backoff_max_s=0.002)
    events: list[HealthEvent] = []
    attempts_at_event: list[int] = []

    def on_health(event: HealthEvent) -> None:
        events.append(event)
        attempts_at_event.append(refresher.failures)

    now = [0]
    settings = BlockhashSettings(refresh_ms=1_000, slot_ms=400, min_remaining_blocks=40)
    retry = RetryPolicy(attempts=3, backoff_ms=1, backoff_max_ms=5)
    refresher = BlockhashRefresher(
        rpc.get_latest_blockhash, rpc.get_block_height, BlockhashCache(settings),
        clock=lambda: now[0], retry=retry, on_health=on_health,
    )  # fmt: skip
    try:
        await refresher.start()
        node.fail_http(503, count=1_000)
        now[0] = 2_000 * 1_000_000  # the period is over: a refresh is due
        await _until(lambda: refresher.health().status == "down")
        assert attempts_at_event == [0, 3]  # down after exactly the cycle's three attempts
        down = next(e for e in events if e.status == "down")
        assert "503" in down.detail and down.source == "svc:blockhash"
        # the held blockhash still serves while its margin lasts, and is refused after
        assert refresher.current().last_valid_block_height == 650
        now[0] = (150 - 39) * 400 * 1_000_000
        with pytest.raises(ExecutionError, match="blocks of validity left"):
            refresher.current()
        node.clear_http_faults()  # the node answers again
        node.expire_blockhash()
        await _until(lambda: refresher.health().status == "up")
        assert refresher.current().blockhash != ""
        assert [e.status for e in events] == ["up", "down", "up"]
    finally:
        await refresher.stop()
        await rpc.close()
        await node.stop()


async def test_a_refresher_that_cannot_fetch_at_all_fails_its_start_with_the_reason() -> None:
    calls = [0]

    async def unreachable() -> tuple[str, int]:
        calls[0] += 1
        raise FeedError("getLatestBlockhash: gave up after 6 attempts", venue="solana")

    async def height() -> int:
        return 0

    refresher = BlockhashRefresher(
        unreachable, height, retry=RetryPolicy(attempts=2, backoff_ms=1, backoff_max_ms=1)
    )
    with pytest.raises(ExecutionError, match=r"first cycle failed after 2 attempts: .*gave up"):
        await refresher.start()
    assert calls[0] == 2 and not refresher.running
    assert refresher.health().status == "stopped"


async def test_a_bug_in_a_cycle_ends_the_task_and_stop_raises_it() -> None:
    answers: list[object] = [("11111111111111111111111111111111", 200)]

    async def fetch() -> tuple[str, int]:
        answer = answers.pop(0) if answers else None
        if answer is None:
            raise ZeroDivisionError("a bug, not a network failure")
        return answer  # type: ignore[return-value]

    async def height() -> int:
        return 10

    settings = BlockhashSettings(refresh_ms=10, slot_ms=5, min_remaining_blocks=20)
    events: list[HealthEvent] = []
    refresher = BlockhashRefresher(
        fetch, height, BlockhashCache(settings), on_health=events.append
    )
    await refresher.start()
    await _until(lambda: not refresher.running)
    health = refresher.health()
    assert health.status == "down" and "crashed: ZeroDivisionError" in health.last_error
    assert [e.status for e in events] == ["up", "down"]
    with pytest.raises(ZeroDivisionError, match="a bug"):
        await refresher.stop()


# ------------------------------------------------------------------ wSOL keeper

FLOOR, TARGET, RESERVE = 10**8, 5 * 10**8, 2 * 10**8
SPEND = 5 * 10**7  # SOL sold per trade


async def test_the_keeper_keeps_wsol_above_the_floor_with_no_wrap_in_any_trade(
    wsol_node: tuple[SolanaStandIn, SolanaRpc],
) -> None:
    _, rpc = wsol_node
    refresher = BlockhashRefresher(rpc.get_latest_blockhash, rpc.get_block_height)
    keeper = WsolKeeper(
        rpc, Signer(PAYER), refresher, WsolPolicy(FLOOR, TARGET),
        WsolKeeperSettings(check_ms=10, reserve_lamports=RESERVE, confirm_poll_ms=5),
    )  # fmt: skip
    sender = DexSender(rpc, SendSettings(rebroadcast_ms=100))
    try:
        await refresher.start()
        await keeper.start()
        # the first cycle created the account and wrapped up to target + reserve
        assert (keeper.top_ups, keeper.wrapped_lamports) == (1, TARGET + RESERVE)
        assert await keeper.balance() == TARGET + RESERVE
        balances, swap_token_calls = [], []
        for i in range(12):
            (raw,) = await rpc.get_multiple_accounts([POOL])
            assert raw is not None
            pool = orca.decode_whirlpool(raw.data, POOL)
            leg = DexLeg(f"i{i}", f"o{i}", i, "orca", POOL, "sell", OWNER)
            _, record = await sender.send_swap(
                leg, venues.dex("orca"), orca_leg(pool, SPEND), signer=Signer(PAYER),
                blockhashes=refresher, cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
                missing_token_accounts={USDC_ATA} if i == 0 else (),
            )  # fmt: skip
            assert (record.status, record.realised_in) == ("landed", SPEND)
            message = VersionedTransaction.from_bytes(b64decode(record.tx_base64)).message
            swap_token_calls += [
                ix for ix in message.instructions
                if message.account_keys[ix.program_id_index] == TOKEN_PROGRAM_ID
            ]  # fmt: skip
            balance = await keeper.balance()
            assert balance is not None and balance >= FLOOR  # the reserve covers the trade
            balances.append(balance)
            # let the keeper look at this balance before the next trade
            cycles = keeper.health().cycles
            await _until(lambda c=cycles: keeper.health().cycles >= c + 2)
        assert swap_token_calls == []  # no SyncNative / CloseAccount: trades only spend
        # 12 x 0.05 SOL from 0.7 SOL: the 9th trade leaves 0.25 SOL, under floor + reserve
        # (0.3 SOL), and one top-up brings it back to target + reserve: nine trades' worth
        assert keeper.top_ups == 2
        assert keeper.wrapped_lamports == TARGET + RESERVE + 9 * SPEND
        assert min(balances) >= FLOOR
        final = await keeper.balance()
        assert final is not None and final >= FLOOR + RESERVE
        assert keeper.health().status == "up"
    finally:
        await keeper.stop()
        await refresher.stop()

