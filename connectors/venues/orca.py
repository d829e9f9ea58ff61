"""Orca Whirlpools: a CLMM pool account plus fixed or dynamic tick arrays.

Decoders and PDAs: connectors/solana/orca.py; quote math: operators/clmm. The live feed derives
the tick arrays around the current tick unless the markets file lists them.
"""

from __future__ import annotations

from typing import Any

from connectors.solana import orca as codec
from connectors.solana import orca_swap
from connectors.venues._clmm import tick_arrays_around
from connectors.venues.base import AccountDecoder, DexAdapter, TokenPair


def _wanted(address: str, pool: Any, derive: bool) -> list[str]:
    return tick_arrays_around("orca", address, pool, codec.tick_array_address) if derive else []


def _tokens(pool: Any) -> TokenPair:
    return TokenPair(pool.token_mint_a, pool.token_mint_b)


ORCA = DexAdapter(
    id="orca",
    kind="clmm",
    program_id=codec.WHIRLPOOL_PROGRAM_ID,
    decoders={
        codec.DISC_WHIRLPOOL: AccountDecoder("pool", codec.decode_whirlpool),
        codec.DISC_TICK_ARRAY: AccountDecoder("tick_array", codec.decode_tick_array),
        codec.DISC_DYNAMIC_TICK_ARRAY: AccountDecoder("tick_array", codec.decode_tick_array),
    },
    decode_main=codec.decode_whirlpool,
    wanted_accounts=_wanted,
    watch_main=lambda derive: derive,
    tokens=_tokens,
    plan_swap=orca_swap.plan_swap,
)
