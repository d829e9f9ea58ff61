"""Fixtures of the DEX execution tests (the Orca stand-in world of `dex_support`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sim.standin import SolanaStandIn
from tests.integration.dex_support import seed_orca


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
