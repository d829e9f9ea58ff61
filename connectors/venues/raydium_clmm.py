"""Raydium CLMM: PoolState + AmmConfig (the trade fee) + tick arrays + the bitmap extension.

Decoders and PDAs: connectors/solana/raydium_clmm.py. The live feed always reads the pool first:
its AmmConfig address is in it, and the bitmap extension is a PDA of the pool.
"""

from __future__ import annotations

from typing import Any

from connectors.solana import raydium_clmm as codec
from connectors.solana import raydium_swap
from connectors.venues._clmm import tick_arrays_around
from connectors.venues.base import AccountDecoder, DexAdapter, TokenPair


def _wanted(address: str, pool: Any, derive: bool) -> list[str]:
    arrays = (
        tick_arrays_around("raydium_clmm", address, pool, codec.tick_array_address)
        if derive
        else []
    )
    return [*arrays, str(pool.amm_config), codec.bitmap_extension_address(address)]


def _tokens(pool: Any) -> TokenPair:
    return TokenPair(
        pool.token_mint_0, pool.token_mint_1, pool.mint_decimals_0, pool.mint_decimals_1
    )


RAYDIUM_CLMM = DexAdapter(
    id="raydium_clmm",
    kind="clmm",
    program_id=codec.RAYDIUM_CLMM_PROGRAM_ID,
    decoders={
        codec.DISC_POOL_STATE: AccountDecoder("pool", codec.decode_pool_state),
        codec.DISC_AMM_CONFIG: AccountDecoder("amm_config", codec.decode_amm_config),
        codec.DISC_TICK_ARRAY: AccountDecoder("tick_array", codec.decode_tick_array),
        codec.DISC_BITMAP_EXTENSION: AccountDecoder(
            "bitmap_extension", codec.decode_tick_array_bitmap_extension
        ),
    },
    decode_main=codec.decode_pool_state,
    wanted_accounts=_wanted,
    watch_main=lambda _derive: True,
    tokens=_tokens,
    plan_swap=raydium_swap.plan_swap,
)
