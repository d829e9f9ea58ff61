"""Markets for the send-and-confirm bench: one synthetic market per DEX venue, seeded alike on
every stand-in (so the same signed bytes execute on each), deep enough for hundreds of trades.

`legs()` gives, per venue, the accounts to seed and a `SwapRequest` selling SOL for USDC with
a minimum output of 1 (the market moves as the bench trades; the bench measures latency, not
slippage) and the exact quote of a first trade as `quoted_in` / `quoted_out`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from bench import bench_raydium
from connectors.solana import openbook as ob_codec
from connectors.solana import orca, raydium_clmm
from connectors.solana import phoenix as ph_codec
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.programs import TOKEN_PROGRAM_ID, associated_token_address
from connectors.solana.swap_plan import SwapRequest
from operators.clmm import quote_swap
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.clob import OpenBookLeaf, clob_sell_proceeds, openbook_view, phoenix_view

__all__ = ["SOL", "USDC", "BenchLeg", "legs"]

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
_TOKEN = str(TOKEN_PROGRAM_ID)
_RENT = 2_039_280
_DEEP = 10**15


def _key(i: int) -> str:
    return str(Keypair.from_seed(bytes([100 + i]) * 32).pubkey())


def _token(mint: str, owner: str, amount: int) -> tuple[bytes, str, int]:
    from sim.dex_exec import encode_token_account  # the bench seeds a stand-in: sim is fine here

    return encode_token_account(mint, owner, amount), _TOKEN, _RENT


@dataclass(frozen=True, slots=True)
class BenchLeg:
    """Accounts to seed (address -> data, owner, lamports) and the request to trade."""

    venue: str
    accounts: dict[str, tuple[bytes, str, int]]
    request: SwapRequest


def _wallet(owner: str) -> dict[str, tuple[bytes, str, int]]:
    return {
        str(associated_token_address(owner, SOL)): _token(SOL, owner, _DEEP),
        str(associated_token_address(owner, USDC)): _token(USDC, owner, _DEEP),
    }


def _orca(owner: str) -> BenchLeg:
    address, vault_a, vault_b = _key(1), _key(2), _key(3)
    pool = Whirlpool.simulated(
        whirlpools_config=_key(4), tick_spacing=64, fee_rate=3000, liquidity=10**13,
        sqrt_price=sqrt_price_from_tick_index(-20_000), tick_current_index=-20_000,
        token_mint_a=SOL, token_mint_b=USDC, token_vault_a=vault_a, token_vault_b=vault_b,
        address=address,
    )  # fmt: skip
    accounts = {address: (orca.encode_whirlpool(pool), orca.WHIRLPOOL_PROGRAM_ID, 10**7)}
    arrays = []
    for start in (-28_160, -22_528, -16_896):
        ticks = tuple(
            Tick.initialized_with(10**11, 10**11) if i % 11 == 0 else Tick.empty()
            for i in range(88)
        )
        ta = TickArray(start, ticks, address)
        arrays.append(ta)
        key = orca.tick_array_address(address, start)
        accounts[key] = (orca.encode_tick_array(ta), orca.WHIRLPOOL_PROGRAM_ID, 10**8)
    accounts[vault_a] = _token(SOL, address, _DEEP)
    accounts[vault_b] = _token(USDC, address, _DEEP)
    q = quote_swap(pool, arrays, 10**7, a_to_b=True)
    req = SwapRequest(
        "orca", address, pool, owner, SOL, True, 10**7, 1, q.amount_in, q.amount_out,
        tick_after=q.tick_after,
    )  # fmt: skip
    return BenchLeg("orca", accounts, req)


def _raydium(owner: str) -> BenchLeg:
    pool, extra = bench_raydium._pool()
    address, config = _key(5), _key(6)
    pool = replace(
        pool, token_mint_0=SOL, token_mint_1=USDC, amm_config=config,
        token_vault_0=_key(7), token_vault_1=_key(8), observation_key=_key(9),
    )  # fmt: skip
    program = raydium_clmm.RAYDIUM_CLMM_PROGRAM_ID
    accounts = {
        address: (raydium_clmm.encode_pool_state(pool), program, 10**7),
        config: (raydium_clmm.encode_amm_config(bench_raydium.CONFIG), program, 10**6),
        pool.token_vault_0: _token(SOL, address, _DEEP),
        pool.token_vault_1: _token(USDC, address, _DEEP),
    }
    arrays = [replace(a, pool_id=address) for a in extra[:-1]]  # type: ignore[type-var]
    for ta in arrays:
        key = raydium_clmm.tick_array_address(address, ta.start_tick_index)
        accounts[key] = (raydium_clmm.encode_tick_array(ta), program, 10**8)
    ext = replace(extra[-1], pool_id=address)  # type: ignore[type-var]
    accounts[raydium_clmm.bitmap_extension_address(address)] = (
        raydium_clmm.encode_tick_array_bitmap_extension(ext), program, 10**6,
    )  # fmt: skip
    q = quote_swap(pool, extra, 10**7, a_to_b=True, amm_config=bench_raydium.CONFIG)
    req = SwapRequest(
        "raydium_clmm", address, pool, owner, SOL, True, 10**7, 1, q.amount_in, q.amount_out,
        tick_after=q.tick_after, bitmap_extension=ext,
    )  # fmt: skip
    return BenchLeg("raydium_clmm", accounts, req)


def _phoenix(owner: str) -> BenchLeg:
    address = _key(10)
    raw = ph_codec.encode_market(
        bids=[(15_000, 10**9), (14_990, 10**9)], asks=[(15_010, 10**9)],
        base_mint=bytes(Pubkey.from_string(SOL)), quote_mint=bytes(Pubkey.from_string(USDC)),
    )  # fmt: skip
    market = ph_codec.decode_market(raw)
    accounts = {
        address: (raw, PHOENIX_PROGRAM_ID, 10**8),
        market.base_vault: _token(SOL, address, _DEEP),
        market.quote_vault: _token(USDC, address, _DEEP),
    }
    view = phoenix_view(
        market, venue="phoenix", market_id=address, pair="SOL-USDC", quote_currency="USDC",
        slot=0, ts_event_ns=0, ts_recv_ns=0,
    )  # fmt: skip
    fill = clob_sell_proceeds(view, 60_000)
    out = fill.quote_amount - fill.fee_quote
    req = SwapRequest("phoenix", address, market, owner, SOL, True, 60_000, 1, 60_000, out)
    return BenchLeg("phoenix", accounts, req)


def _openbook(owner: str) -> BenchLeg:
    address, bids_key, asks_key = _key(11), _key(12), _key(13)
    raw = ob_codec.encode_market(
        bids=bytes(Pubkey.from_string(bids_key)), asks=bytes(Pubkey.from_string(asks_key)),
        base_mint=bytes(Pubkey.from_string(SOL)), quote_mint=bytes(Pubkey.from_string(USDC)),
    )  # fmt: skip
    market = ob_codec.decode_market(raw)
    leaves = [OpenBookLeaf(ob_codec.fixed_key("bids", 100, 0), 10**9, 0)]
    bids = ob_codec.encode_book_side("bids", leaves)
    accounts = {
        address: (raw, OPENBOOK_PROGRAM_ID, 10**8),
        bids_key: (bids, OPENBOOK_PROGRAM_ID, 10**8),
        asks_key: (ob_codec.encode_book_side("asks"), OPENBOOK_PROGRAM_ID, 10**8),
        market.market_base_vault: _token(SOL, address, _DEEP),
        market.market_quote_vault: _token(USDC, address, _DEEP),
    }
    side = ob_codec.decode_book_side(bids)
    view = openbook_view(
        market, side, ob_codec.decode_book_side(accounts[asks_key][0]), 0, venue="openbook",
        market_id=address, pair="SOL-USDC", quote_currency="USDC", slot=0, ts_event_ns=0,
        ts_recv_ns=0,
    )  # fmt: skip
    fill = clob_sell_proceeds(view, 3_000_000)
    req = SwapRequest(
        "openbook", address, market, owner, SOL, True, 3_000_000, 1, 3_000_000,
        fill.quote_amount - fill.fee_quote, book_side=side, worst_price=fill.worst_price_ticks,
    )  # fmt: skip
    return BenchLeg("openbook", accounts, req)


def legs(owner: str) -> list[BenchLeg]:
    """One leg per DEX venue, each with the owner's SOL and USDC accounts funded."""
    out = []
    for make in (_orca, _raydium, _phoenix, _openbook):
        leg = make(owner)
        out.append(BenchLeg(leg.venue, {**leg.accounts, **_wallet(owner)}, leg.request))
    return out
