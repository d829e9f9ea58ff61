"""The stand-in executes our signed swap transactions: balances and pools move, limits bite.

Two stand-in RPCs hold the same Orca / Raydium CLMM pool; a leg is built with
`build_swap_transaction`, sent with the project's RPC client, confirmed via signatureSubscribe,
and the accounts read back must equal what our exact quote promised. Faults: stale blockhash,
bad signature, unfunded fee payer, slippage breach (preflight and skipPreflight).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from types import SimpleNamespace

import pytest
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from connectors import venues
from connectors.solana import orca, raydium_clmm
from connectors.solana.programs import TOKEN_PROGRAM_ID, associated_token_address
from connectors.solana.rpc import SolanaRpc
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import build_swap_transaction
from operators.clmm import quote_swap
from operators.clmm.accounts import TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.errors import ExecutionError
from operators.slippage import min_out_after_give_up
from sim.dex_exec import encode_token_account, token_amount
from sim.standin import SolanaStandIn
from tests.unit.orca_helpers import SOL_MINT, USDC_MINT, synth_arrays
from tests.unit.raydium_pools import CONFIG, make_pool

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

PAYER = Keypair.from_seed(bytes([42]) * 32)
OWNER = str(PAYER.pubkey())
POOL = str(Keypair.from_seed(bytes([1]) * 32).pubkey())
VAULT_A = str(Keypair.from_seed(bytes([2]) * 32).pubkey())
VAULT_B = str(Keypair.from_seed(bytes([3]) * 32).pubkey())
TOKEN = str(TOKEN_PROGRAM_ID)
SOL_ATA = str(associated_token_address(OWNER, SOL_MINT))
USDC_ATA = str(associated_token_address(OWNER, USDC_MINT))
RENT = 2_039_280
CU_LIMIT, CU_PRICE = 200_000, 50_000
FEE = 5_000 + CU_LIMIT * CU_PRICE // 1_000_000


def _whirlpool() -> tuple[Whirlpool, list[TickArray]]:
    pool = Whirlpool.simulated(
        whirlpools_config=str(Keypair.from_seed(bytes([4]) * 32).pubkey()),
        tick_spacing=8,
        fee_rate=3000,
        liquidity=10**12,
        sqrt_price=sqrt_price_from_tick_index(100),
        tick_current_index=100,
        token_mint_a=SOL_MINT,
        token_mint_b=USDC_MINT,
        token_vault_a=VAULT_A,
        token_vault_b=VAULT_B,
        address=POOL,
    )
    arrays = synth_arrays({-704: 10**11, 704: -(10**11)}, [-1408, -704, 0, 704], pool=POOL)
    return pool, arrays


def _seed_orca(node: SolanaStandIn, sol_balance: int = 10**12) -> None:
    pool, arrays = _whirlpool()
    node.set_account(POOL, orca.encode_whirlpool(pool), orca.WHIRLPOOL_PROGRAM_ID, 10**7)
    for ta in arrays:
        address = orca.tick_array_address(POOL, ta.start_tick_index)
        data = orca.encode_tick_array(ta)
        node.set_account(address, data, orca.WHIRLPOOL_PROGRAM_ID, 10**8)
    node.set_account(VAULT_A, encode_token_account(SOL_MINT, POOL, 10**13), TOKEN, RENT)
    node.set_account(VAULT_B, encode_token_account(USDC_MINT, POOL, 10**13), TOKEN, RENT)
    node.set_account(SOL_ATA, encode_token_account(SOL_MINT, OWNER, sol_balance), TOKEN, RENT)
    node.svm.airdrop(PAYER.pubkey(), 10**9)


@pytest.fixture
async def nodes() -> AsyncIterator[list[SolanaStandIn]]:
    pair = [SolanaStandIn(start_slot=7000, name=f"rpc{i}") for i in range(2)]
    for n in pair:
        await n.start()
        _seed_orca(n)
    yield pair
    for n in pair:
        await n.stop()


def _rpc(node: SolanaStandIn) -> SolanaRpc:
    settings = SimpleNamespace(
        http=[node.http_url],
        ws=[node.ws_url],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=2000,
    )
    return SolanaRpc(settings, heartbeat_timeout_s=5.0)


async def _read(rpc: SolanaRpc, keys: list[str]) -> list[bytes]:
    got = await rpc.get_multiple_accounts(keys)
    assert all(g is not None for g in got)
    return [bytes(g.data) for g in got if g is not None]


def _orca_leg(pool: Whirlpool, amount: int, limit: int | None = None) -> SwapRequest:
    _, arrays = _whirlpool()
    q = quote_swap(pool, arrays, amount, a_to_b=True)
    return SwapRequest(
        venue="orca",
        market_address=POOL,
        market=pool,
        owner=OWNER,
        input_mint=SOL_MINT,
        exact_in=True,
        amount=amount,
        limit=min_out_after_give_up(q.amount_out, 2_000, 500_000) if limit is None else limit,
        quoted_in=q.amount_in,
        quoted_out=q.amount_out,
        tick_after=q.tick_after,
    )


async def test_orca_swap_lands_on_two_rpcs_and_moves_the_pool_as_quoted(
    nodes: list[SolanaStandIn],
) -> None:
    pool, arrays = _whirlpool()
    amount = 60_000_000_000  # crosses tick -704 (net +10^11) on the way down
    quote = quote_swap(pool, arrays, amount, a_to_b=True)
    assert (quote.ticks_crossed, quote.tick_after) == (1, -1108)
    for node in nodes:
        rpc = _rpc(node)
        await rpc.start()
        try:
            blockhash, _ = await rpc.get_latest_blockhash()
            signed = build_swap_transaction(
                venues.dex("orca"),
                _orca_leg(pool, amount),
                payer=PAYER,
                recent_blockhash=blockhash,
                cu_limit=CU_LIMIT,
                cu_price_micro_lamports=CU_PRICE,
                missing_token_accounts={USDC_ATA},
            )
            waiter = asyncio.create_task(rpc.confirm_signature(signed.signature, timeout_s=5.0))
            await asyncio.sleep(0.05)  # let signatureSubscribe reach the node first
            assert await rpc.send_transaction(signed.tx_bytes) == signed.signature
            done = await waiter
            assert (done.err, done.slot) == (None, node.slot - 1)
            raw_pool, usdc, sol, vault_a, vault_b = await _read(
                rpc, [POOL, USDC_ATA, SOL_ATA, VAULT_A, VAULT_B]
            )
            moved = orca.decode_whirlpool(raw_pool, POOL)
            assert (moved.sqrt_price, moved.tick_current_index) == (
                quote.sqrt_price_after,
                quote.tick_after,
            )
            assert moved.liquidity == 9 * 10**11
            assert token_amount(usdc) == quote.amount_out
            assert token_amount(sol) == 10**12 - quote.amount_in
            assert token_amount(vault_a) == 10**13 + quote.amount_in
            assert token_amount(vault_b) == 10**13 - quote.amount_out
            assert node.fees_charged[signed.signature] == FEE
            payer = node.svm.get_account(PAYER.pubkey())
            assert payer is not None and payer.lamports == 10**9 - FEE - RENT
        finally:
            await rpc.close()


async def test_a_stale_quote_breaches_its_threshold_with_the_programs_error(
    nodes: list[SolanaStandIn],
) -> None:
    node = nodes[0]
    pool, arrays = _whirlpool()
    rpc = _rpc(node)
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()
        first = build_swap_transaction(
            venues.dex("orca"),
            _orca_leg(pool, 50_000_000),
            payer=PAYER,
            recent_blockhash=blockhash,
            cu_limit=CU_LIMIT,
            cu_price_micro_lamports=CU_PRICE,
            missing_token_accounts={USDC_ATA},
        )
        await rpc.send_transaction(first.tx_bytes)
        # the next quote sees the trade: the same size now pays out less
        (raw_pool,) = await _read(rpc, [POOL])
        moved = orca.decode_whirlpool(raw_pool, POOL)
        before = quote_swap(pool, arrays, 1_000_000, a_to_b=True).amount_out
        after = quote_swap(moved, arrays, 1_000_000, a_to_b=True).amount_out
        assert after < before
        stale = _orca_leg(pool, 1_000_000, limit=before)  # threshold from the old pool
        signed = build_swap_transaction(
            venues.dex("orca"),
            stale,
            payer=PAYER,
            recent_blockhash=blockhash,
            cu_limit=CU_LIMIT,
            cu_price_micro_lamports=CU_PRICE,
        )
        with pytest.raises(ExecutionError, match=r"AmountOutBelowMinimum \(6036\)") as info:
            await rpc.send_transaction(signed.tx_bytes)
        assert info.value.retryable is False
        assert not node.signature_known(signed.signature)
        # skipPreflight: it lands as a failure, pays its fee, and moves nothing
        waiter = asyncio.create_task(rpc.confirm_signature(signed.signature, timeout_s=5.0))
        await asyncio.sleep(0.05)
        await rpc.send_transaction(signed.tx_bytes, skip_preflight=True)
        done = await waiter
        assert done.err == {"InstructionError": [2, {"Custom": 6036}]}
        assert node.fees_charged[signed.signature] == FEE
        (again,) = await _read(rpc, [POOL])
        assert again == raw_pool
    finally:
        await rpc.close()


async def test_expired_blockhash_bad_signature_and_unfunded_payer_are_refused(
    nodes: list[SolanaStandIn],
) -> None:
    node = nodes[1]
    pool, _ = _whirlpool()
    rpc = _rpc(node)
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()

        def leg(payer: Keypair = PAYER) -> bytes:
            req = replace(_orca_leg(pool, 1_000_000), owner=str(payer.pubkey()))
            return build_swap_transaction(
                venues.dex("orca"),
                req,
                payer=payer,
                recent_blockhash=blockhash,
                cu_limit=CU_LIMIT,
                cu_price_micro_lamports=CU_PRICE,
            ).tx_bytes

        tx = VersionedTransaction.from_bytes(leg())
        forged = VersionedTransaction.populate(tx.message, [Signature.new_unique()])
        with pytest.raises(ExecutionError, match="signature verification failure"):
            await rpc.send_transaction(bytes(forged))
        with pytest.raises(ExecutionError, match="Insufficient funds for fee"):
            await rpc.send_transaction(leg(Keypair.from_seed(bytes([77]) * 32)))
        node.expire_blockhash()
        with pytest.raises(ExecutionError, match="Blockhash not found") as info:
            await rpc.send_transaction(leg())
        assert info.value.retryable is False
    finally:
        await rpc.close()


async def test_raydium_swap_moves_pool_and_balances_as_quoted() -> None:
    pool, accounts = make_pool(1, 3, [(-70, 25, 4 * 10**12), (-150, 130, 10**12)])
    config_key = str(Keypair.from_seed(bytes([5]) * 32).pubkey())
    pool = replace(
        pool,
        token_mint_0=SOL_MINT,
        token_mint_1=USDC_MINT,
        token_vault_0=VAULT_A,
        token_vault_1=VAULT_B,
        amm_config=config_key,
        observation_key=str(Keypair.from_seed(bytes([6]) * 32).pubkey()),
    )
    program = raydium_clmm.RAYDIUM_CLMM_PROGRAM_ID
    node = SolanaStandIn(start_slot=9000)
    await node.start()
    rpc = _rpc(node)
    await rpc.start()
    try:
        node.set_account(POOL, raydium_clmm.encode_pool_state(pool), program, 10**7)
        node.set_account(config_key, raydium_clmm.encode_amm_config(CONFIG), program, 10**6)
        for acc in accounts[:-1]:
            ta = replace(acc, pool_id=POOL)  # type: ignore[type-var]
            address = raydium_clmm.tick_array_address(POOL, ta.start_tick_index)
            node.set_account(address, raydium_clmm.encode_tick_array(ta), program, 10**8)
        ext = replace(accounts[-1], pool_id=POOL)  # type: ignore[type-var]
        node.set_account(
            raydium_clmm.bitmap_extension_address(POOL),
            raydium_clmm.encode_tick_array_bitmap_extension(ext),
            program,
            10**6,
        )
        node.set_account(VAULT_A, encode_token_account(SOL_MINT, POOL, 10**13), TOKEN, RENT)
        node.set_account(VAULT_B, encode_token_account(USDC_MINT, POOL, 10**13), TOKEN, RENT)
        node.set_account(SOL_ATA, encode_token_account(SOL_MINT, OWNER, 10**12), TOKEN, RENT)
        node.set_account(USDC_ATA, encode_token_account(USDC_MINT, OWNER, 0), TOKEN, RENT)
        node.svm.airdrop(PAYER.pubkey(), 10**9)
        amount = 20_000_000_000  # from tick 3 down across -70 (net +4 * 10^12) to -104
        quote = quote_swap(pool, accounts, amount, a_to_b=True, amm_config=CONFIG)
        assert (quote.ticks_crossed, quote.tick_after) == (1, -104)
        req = SwapRequest(
            venue="raydium_clmm",
            market_address=POOL,
            market=pool,
            owner=OWNER,
            input_mint=SOL_MINT,
            exact_in=True,
            amount=amount,
            limit=quote.amount_out,
            quoted_in=quote.amount_in,
            quoted_out=quote.amount_out,
            tick_after=quote.tick_after,
            bitmap_extension=ext,
        )
        blockhash, _ = await rpc.get_latest_blockhash()
        signed = build_swap_transaction(
            venues.dex("raydium_clmm"),
            req,
            payer=PAYER,
            recent_blockhash=blockhash,
            cu_limit=CU_LIMIT,
            cu_price_micro_lamports=CU_PRICE,
        )
        await rpc.send_transaction(signed.tx_bytes)
        raw_pool, usdc, sol = await _read(rpc, [POOL, USDC_ATA, SOL_ATA])
        moved = raydium_clmm.decode_pool_state(raw_pool)
        assert (moved.sqrt_price_x64, moved.tick_current) == (
            quote.sqrt_price_after,
            quote.tick_after,
        )
        assert moved.liquidity == 10**12  # the (-70, 25) position is left behind
        assert (token_amount(usdc), token_amount(sol)) == (quote.amount_out, 10**12 - amount)
    finally:
        await rpc.close()
        await node.stop()
