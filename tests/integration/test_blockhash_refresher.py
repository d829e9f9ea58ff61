"""The blockhash refresher against a stand-in whose slots advance."""

from __future__ import annotations

import asyncio

import pytest

from connectors.solana.blockhash import (
    BlockhashCache,
    BlockhashRefresher,
    BlockhashSettings,
    RecentBlockhash,
)
from operators.errors import ExecutionError
from sim.standin import SolanaStandIn
from tests.integration.dex_support import rpc_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

MS = 1_000_000


async def test_the_cache_refuses_a_blockhash_near_expiry_and_a_refresh_replaces_it() -> None:
    node = SolanaStandIn(start_slot=5_000)
    await node.start()
    now = [0]
    rpc = rpc_for(node)
    try:
        cache = BlockhashCache(BlockhashSettings(refresh_ms=2_000, min_remaining_blocks=40))
        refresher = BlockhashRefresher(
            rpc.get_latest_blockhash, rpc.get_block_height, cache, clock=lambda: now[0]
        )
        first = await refresher.refresh()
        assert first.last_valid_block_height == 5_150
        assert refresher.current() == first
        node.advance_slot(115)
        now[0] = 115 * 400 * MS
        with pytest.raises(ExecutionError, match=r"held: 35"):
            refresher.current()
        node.expire_blockhash()  # the cluster has moved on to a new blockhash
        second = await refresher.refresh()
        assert second.blockhash != first.blockhash
        assert second == RecentBlockhash(second.blockhash, 5_115 + 150)
        assert refresher.current() == second
    finally:
        await rpc.close()
        await node.stop()


async def test_the_background_refresh_follows_the_node_without_being_asked() -> None:
    node = SolanaStandIn(start_slot=100)
    await node.start(auto_advance_s=0.005)
    rpc = rpc_for(node)
    settings = BlockhashSettings(refresh_ms=30, slot_ms=5, min_remaining_blocks=20)
    refresher = BlockhashRefresher(
        rpc.get_latest_blockhash, rpc.get_block_height, BlockhashCache(settings)
    )
    try:
        await refresher.start()
        first = refresher.current()
        node.expire_blockhash()
        async with asyncio.timeout(5):
            while refresher.current().blockhash == first.blockhash:
                await asyncio.sleep(0.01)
        latest = refresher.current()
        assert latest.last_valid_block_height >= first.last_valid_block_height
        assert refresher.refreshes >= 2 and refresher.failures == 0
    finally:
        await refresher.close()
        await rpc.close()
        await node.stop()
