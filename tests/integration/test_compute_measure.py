"""Start-up compute measurement on the stand-in: simulate a sample swap, size the limit from
its unitsConsumed plus the margin, and the swap sized that way lands while one sized under its
units fails with the runtime's ComputationalBudgetExceeded."""

from __future__ import annotations

import asyncio

import pytest
from solders.transaction import VersionedTransaction

from config import DexComputeSettings
from connectors.solana.compute import (
    MAX_CU_LIMIT,
    cu_limit_for,
    cu_price_micro_lamports,
    measure_cu_units,
)
from operators.errors import ExecutionError
from sim.dex_exec import CU_COMPUTE_BUDGET, CU_CREATE_ATA, CU_PER_TICK_CROSSED, CU_SWAP_BASE
from sim.standin import SolanaStandIn
from tests.integration.dex_support import rpc_for, sign_orca

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

SETTINGS = DexComputeSettings(cu_limits={"orca": 300_000}, measure_margin_bps=2_000)
AMOUNT = 60_000_000_000  # crosses one initialized tick


def _signed(blockhash: str, cu_limit: int, cu_price: int, limit: int | None = None) -> bytes:
    return sign_orca(blockhash, AMOUNT, limit=limit, cu_limit=cu_limit, cu_price=cu_price).tx_bytes


async def test_measured_units_size_the_limit_and_a_swap_sized_so_lands(
    orca_nodes: list[SolanaStandIn],
) -> None:
    node = orca_nodes[0]
    rpc = rpc_for(node)
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()
        sample = _signed(blockhash, MAX_CU_LIMIT, 0)
        measured = await measure_cu_units(rpc.simulate_transaction, {"orca": sample})
        # what the stand-in charges: two budget instructions, the token account creation, the
        # swap and its one tick crossing
        units = 2 * CU_COMPUTE_BUDGET + CU_CREATE_ATA + CU_SWAP_BASE + CU_PER_TICK_CROSSED
        assert measured == {"orca": units}
        limit = cu_limit_for("orca", SETTINGS, measured)
        assert limit == -(-units * 12_000 // 10_000)
        price = cu_price_micro_lamports(10_000, limit)
        # one unit under what it needs: the runtime stops it
        with pytest.raises(ExecutionError, match="ComputationalBudgetExceeded"):
            await rpc.send_transaction(_signed(blockhash, units - 1, price))
        signed = _signed(blockhash, limit, price)
        waiter = asyncio.create_task(rpc.confirm_signature(_sig(signed), timeout_s=5.0))
        await asyncio.sleep(0.05)
        await rpc.send_transaction(signed)
        done = await waiter
        assert done.err is None
        # the priority fee charged is the fee the price was derived from (limit < 10^6: exact)
        assert node.fees_charged[_sig(signed)] == 5_000 + 10_000
    finally:
        await rpc.close()


async def test_a_failing_sample_stops_the_measurement_with_the_programs_error(
    orca_nodes: list[SolanaStandIn],
) -> None:
    rpc = rpc_for(orca_nodes[1])
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()
        # a sample asking for more than the pool pays: the program's slippage check refuses it
        sample = _signed(blockhash, MAX_CU_LIMIT, 0, limit=10**15)
        with pytest.raises(ExecutionError, match=r"orca: .*AmountOutBelowMinimum \(6036\)"):
            await measure_cu_units(rpc.simulate_transaction, {"orca": sample})
    finally:
        await rpc.close()


def _sig(tx_bytes: bytes) -> str:
    return str(VersionedTransaction.from_bytes(tx_bytes).signatures[0])
