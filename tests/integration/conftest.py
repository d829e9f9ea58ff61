"""Fixtures of the integration tests: the loopback world on the sample pool (`loop`; a test
file may define its own) and the DEX execution tests' Orca stand-in world of `dex_support`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from connectors.solana.rpc import SolanaRpc
from sim.loopback import Loopback
from sim.simulate import SAMPLE_POOL
from sim.standin import SolanaStandIn
from tests.integration.dex_support import OWNER, PAYER, rpc_for, seed_orca

if TYPE_CHECKING:
    from bench.dex_send_setup import BenchLeg


@pytest.fixture
def loop() -> Iterator[Loopback]:
    """The loopback venues and a Solana stand-in on the sample pool, stopped after the test."""
    lb = Loopback([SAMPLE_POOL]).start()
    try:
        yield lb
    finally:
        lb.stop()


@pytest.fixture
async def orca_nodes() -> AsyncIterator[list[SolanaStandIn]]:
    """Two stand-in RPC nodes, each seeded with the same Orca pool and a funded payer."""
    pair = [SolanaStandIn(start_slot=7000, name=f"rpc{i}") for i in range(2)]
    for n in pair:
        await n.start()
        seed_orca(n)
    yield pair
    for n in pair:
        await n.stop()


@pytest.fixture
async def wsol_node() -> AsyncIterator[tuple[SolanaStandIn, SolanaRpc]]:
    """One stand-in with the Orca pool, the native mint and a payer of 10 SOL but no wSOL
    account yet, and a started client for it."""
    node = SolanaStandIn(start_slot=3_000)
    await node.start()
    node.add_native_mint()
    seed_orca(node, sol_balance=None, payer_lamports=10 * 10**9)
    rpc = rpc_for(node)
    await rpc.start()
    yield node, rpc
    await rpc.close()
    await node.stop()


@pytest.fixture
async def four_venues() -> AsyncIterator[tuple[list[SolanaStandIn], SolanaRpc, list[BenchLeg]]]:
    """Two stand-ins holding one market per DEX venue (the send bench's `legs`), a funded
    payer, a started client on both, and the legs."""
    from bench.dex_send_setup import legs  # bench code: loaded only by the tests that use it

    bench_legs = legs(OWNER)
    pair = [SolanaStandIn(start_slot=500, name=f"rpc{i}") for i in range(2)]
    for node in pair:
        await node.start()
        for leg in bench_legs:
            for key, (data, owner, lamports) in leg.accounts.items():
                node.set_account(key, data, owner, lamports)
        node.svm.airdrop(PAYER.pubkey(), 10**10)
    client = rpc_for(*pair, max_attempts=2)
    await client.start()
    yield pair, client, bench_legs
    await client.close()
    for node in pair:
        await node.stop()
