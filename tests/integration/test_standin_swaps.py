"""The stand-in executes our signed swap transactions: balances and pools move, limits bite.

Two stand-in RPCs hold the same Orca / Raydium CLMM pool; a leg is built with
`build_swap_transaction`, sent with the project's RPC client, confirmed via signatureSubscribe,
and the accounts read back must equal what our exact quote promised. Faults: stale blockhash,
bad signature, unfunded fee payer, slippage breach (preflight and skipPreflight).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from connectors import venues
from connectors.solana import openbook as ob_codec
from connectors.solana import orca, raydium_clmm
from connectors.solana import phoenix as ph_codec
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.rpc import SolanaRpc
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import build_swap_transaction
from operators.clmm import quote_swap
from operators.clob import (
    OpenBookLeaf,
    clob_buy_cost,
    clob_sell_proceeds,
    openbook_view,
    phoenix_view,
)
from operators.errors import ExecutionError
from operators.slippage import min_out_after_give_up
from sim.dex_exec import encode_token_account, token_amount
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
    VAULT_A,
    VAULT_B,
    orca_leg,
    read_data,
    rpc_for,
    sign_orca,
    whirlpool,
)
from tests.unit.orca_helpers import SOL_MINT, USDC_MINT
from tests.unit.raydium_pools import CONFIG, make_pool

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

async def test_orca_swap_lands_on_two_rpcs_and_moves_the_pool_as_quoted(
    orca_nodes: list[SolanaStandIn],
) -> None:
    pool, arrays = whirlpool()
    amount = 60_000_000_000  # crosses tick -704 (net +10^11) on the way down
    quote = quote_swap(pool, arrays, amount, a_to_b=True)
    assert (quote.ticks_crossed, quote.tick_after) == (1, -1108)
    for node in orca_nodes:
        rpc = rpc_for(node)
        await rpc.start()
        try:
            blockhash, _ = await rpc.get_latest_blockhash()
            signed = sign_orca(blockhash, amount)
            waiter = asyncio.create_task(rpc.confirm_signature(signed.signature, timeout_s=5.0))
            await asyncio.sleep(0.05)  # let signatureSubscribe reach the node first
            assert await rpc.send_transaction(signed.tx_bytes) == signed.signature
            done = await waiter
            assert (done.err, done.slot) == (None, node.slot - 1)
            raw_pool, usdc, sol, vault_a, vault_b = await read_data(
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
    orca_nodes: list[SolanaStandIn],
) -> None:
    node = orca_nodes[0]
    pool, arrays = whirlpool()
    rpc = rpc_for(node)
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()
        first = sign_orca(blockhash, 50_000_000)
        await rpc.send_transaction(first.tx_bytes)
        # the next quote sees the trade: the same size now pays out less
        (raw_pool,) = await read_data(rpc, [POOL])
        moved = orca.decode_whirlpool(raw_pool, POOL)
        before = quote_swap(pool, arrays, 1_000_000, a_to_b=True).amount_out
        after = quote_swap(moved, arrays, 1_000_000, a_to_b=True).amount_out
        assert after < before
        # threshold from the old pool
        signed = sign_orca(blockhash, 1_000_000, limit=before, create_usdc=False)
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
        (again,) = await read_data(rpc, [POOL])
        assert again == raw_pool
    finally:
        await rpc.close()


async def test_expired_blockhash_bad_signature_and_unfunded_payer_are_refused(
    orca_nodes: list[SolanaStandIn],
) -> None:
    node = orca_nodes[1]
    pool, _ = whirlpool()
    rpc = rpc_for(node)
    await rpc.start()
    try:
        blockhash, _ = await rpc.get_latest_blockhash()

        def leg(payer: Keypair = PAYER) -> bytes:
            req = replace(orca_leg(pool, 1_000_000), owner=str(payer.pubkey()))
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
    rpc = rpc_for(node)
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
        raw_pool, usdc, sol = await read_data(rpc, [POOL, USDC_ATA, SOL_ATA])
        moved = raydium_clmm.decode_pool_state(raw_pool)
        assert (moved.sqrt_price_x64, moved.tick_current) == (
            quote.sqrt_price_after,
            quote.tick_after,
        )
        assert moved.liquidity == 10**12  # the (-70, 25) position is left behind
        assert (token_amount(usdc), token_amount(sol)) == (quote.amount_out, 10**12 - amount)
        # a leg whose threshold was quoted on the pool before that trade is breached now, and
        # the program says so with its own number (error.rs at 03b44b7: 6018)
        before = quote_swap(pool, accounts, 10**6, a_to_b=True, amm_config=CONFIG)
        now = quote_swap(moved, accounts, 10**6, a_to_b=True, amm_config=CONFIG)
        assert now.amount_out < before.amount_out
        stale = replace(
            req, market=moved, amount=10**6, limit=before.amount_out, tick_after=now.tick_after
        )
        with pytest.raises(ExecutionError, match=r"TooLittleOutputReceived \(6018\)"):
            await _land(rpc, "raydium_clmm", stale)
    finally:
        await rpc.close()
        await node.stop()


# ------------------------------------------------------------------------------ CLOBs


async def _clob_node(accounts: dict[str, tuple[bytes, str]]) -> tuple[SolanaStandIn, SolanaRpc]:
    node = SolanaStandIn(start_slot=11_000)
    await node.start()
    for key, (data, owner) in accounts.items():
        node.set_account(key, data, owner, 10**8)
    node.svm.airdrop(PAYER.pubkey(), 10**9)
    rpc = rpc_for(node)
    await rpc.start()
    return node, rpc


def _wallet(base_vault: str, quote_vault: str, market: str) -> dict[str, tuple[bytes, str]]:
    return {
        base_vault: (encode_token_account(SOL_MINT, market, 10**13), TOKEN),
        quote_vault: (encode_token_account(USDC_MINT, market, 10**13), TOKEN),
        SOL_ATA: (encode_token_account(SOL_MINT, OWNER, 10**9), TOKEN),
        USDC_ATA: (encode_token_account(USDC_MINT, OWNER, 10**9), TOKEN),
    }


async def _land(rpc: SolanaRpc, adapter_id: str, req: SwapRequest) -> str:
    blockhash, _ = await rpc.get_latest_blockhash()
    signed = build_swap_transaction(
        venues.dex(adapter_id),
        req,
        payer=PAYER,
        recent_blockhash=blockhash,
        cu_limit=CU_LIMIT,
        cu_price_micro_lamports=CU_PRICE,
    )
    return await rpc.send_transaction(signed.tx_bytes)


async def test_phoenix_swaps_fill_the_book_as_our_clob_walk_prices_them() -> None:
    raw = ph_codec.encode_market(
        bids=[(15_000, 40), (14_990, 100)],
        asks=[(15_010, 30), (15_020, 50)],
        base_lot_size=1_000,
        quote_lot_size=1,
        taker_fee_bps=2,
        base_mint=bytes(Pubkey.from_string(SOL_MINT)),
        quote_mint=bytes(Pubkey.from_string(USDC_MINT)),
    )
    market = ph_codec.decode_market(raw)
    accounts = {
        POOL: (raw, PHOENIX_PROGRAM_ID),
        **_wallet(market.base_vault, market.quote_vault, POOL),
    }
    node, rpc = await _clob_node(accounts)
    try:
        view = phoenix_view(
            market, venue="phoenix", market_id="m", pair="SOL-USDC", quote_currency="USDC",
            slot=0, ts_event_ns=0, ts_recv_ns=0,
        )  # fmt: skip
        sell = clob_sell_proceeds(view, 60_000)  # 40 lots at 15_000 + 20 at 14_990
        out = sell.quote_amount - sell.fee_quote
        assert (sell.quote_amount, sell.fee_quote) == (899_800, 180)
        req = SwapRequest(
            "phoenix", POOL, market, OWNER, SOL_MINT, True, 60_000,
            min_out_after_give_up(out, 100, 500_000), 60_000, out,
        )  # fmt: skip
        await _land(rpc, "phoenix", req)
        raw_market, sol, usdc = await read_data(rpc, [POOL, SOL_ATA, USDC_ATA])
        assert (token_amount(sol), token_amount(usdc)) == (10**9 - 60_000, 10**9 + out)
        after = ph_codec.decode_market(raw_market)
        assert (after.bids, after.asks) == ([(14_990, 80)], [(15_010, 30), (15_020, 50)])
        # a buy with 500_000 quote units: 30 lots at 15_010 and 3 at 15_020 fit with the fee
        buy = clob_buy_cost(view, 33_000)
        assert buy.quote_amount + buy.fee_quote == 495_460
        req = SwapRequest(
            "phoenix", POOL, after, OWNER, USDC_MINT, True, 500_000, 33_000, 495_460, 33_000
        )
        await _land(rpc, "phoenix", req)
        raw_market, sol, usdc = await read_data(rpc, [POOL, SOL_ATA, USDC_ATA])
        assert token_amount(sol) == 10**9 - 60_000 + 33_000
        assert token_amount(usdc) == 10**9 + out - 495_460
        assert ph_codec.decode_market(raw_market).asks == [(15_020, 47)]
        # the same buy now needs more than the book offers at that budget: voided
        with pytest.raises(ExecutionError, match=r"NewOrderError \(15\)"):
            await _land(rpc, "phoenix", replace(req, market=after, limit=34_000))
    finally:
        await rpc.close()
        await node.stop()


async def test_openbook_fill_or_kill_takes_the_quoted_levels_or_nothing() -> None:
    bids_key = str(Keypair.from_seed(bytes([21]) * 32).pubkey())
    asks_key = str(Keypair.from_seed(bytes([22]) * 32).pubkey())
    raw = ob_codec.encode_market(
        bids=bytes(Pubkey.from_string(bids_key)),
        asks=bytes(Pubkey.from_string(asks_key)),
        base_mint=bytes(Pubkey.from_string(SOL_MINT)),
        quote_mint=bytes(Pubkey.from_string(USDC_MINT)),
        base_lot_size=1_000_000,
        quote_lot_size=10,
        taker_fee=400,
    )
    market = ob_codec.decode_market(raw)
    leaves = [
        OpenBookLeaf(ob_codec.fixed_key("bids", p, i), q, 0)
        for i, (p, q) in enumerate([(100, 2), (99, 5)])
    ]
    bids = ob_codec.encode_book_side("bids", leaves)
    accounts = {
        POOL: (raw, OPENBOOK_PROGRAM_ID),
        bids_key: (bids, OPENBOOK_PROGRAM_ID),
        asks_key: (ob_codec.encode_book_side("asks"), OPENBOOK_PROGRAM_ID),
        **_wallet(market.market_base_vault, market.market_quote_vault, POOL),
    }
    node, rpc = await _clob_node(accounts)
    try:
        side = ob_codec.decode_book_side(bids)
        view = openbook_view(
            market, side, ob_codec.decode_book_side(accounts[asks_key][0]), 0, venue="openbook",
            market_id="m", pair="SOL-USDC", quote_currency="USDC", slot=0, ts_event_ns=0,
            ts_recv_ns=0,
        )  # fmt: skip
        sell = clob_sell_proceeds(view, 3_000_000)  # 2 lots at 100 + 1 at 99
        out = sell.quote_amount - sell.fee_quote
        assert (out, sell.worst_price_ticks) == (2_988, 99)
        req = SwapRequest(
            "openbook", POOL, market, OWNER, SOL_MINT, True, 3_000_000,
            min_out_after_give_up(out, 20, 500_000), 3_000_000, out,
            book_side=side, worst_price=sell.worst_price_ticks,
        )  # fmt: skip
        plan = venues.dex("openbook").plan_swap(req)  # type: ignore[misc]
        assert plan.limits["price_lots"] == 99  # the min-out price (100) capped at the worst level
        await _land(rpc, "openbook", req)
        raw_bids, sol, usdc = await read_data(rpc, [bids_key, SOL_ATA, USDC_ATA])
        assert (token_amount(sol), token_amount(usdc)) == (10**9 - 3_000_000, 10**9 + out)
        assert ob_codec.decode_book_side(raw_bids).levels() == [(99, 4)]
        # 5 lots against 4 left: fill-or-kill refuses the partial fill
        with pytest.raises(ExecutionError, match=r"WouldExecutePartially \(6043\)"):
            await _land(rpc, "openbook", replace(req, amount=5_000_000, limit=1, worst_price=None))
    finally:
        await rpc.close()
        await node.stop()
