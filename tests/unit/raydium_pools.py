"""Synthetic Raydium CLMM pools for tests: positions in, every account a swap may need out."""

from __future__ import annotations

from dataclasses import replace

from operators.clmm import raydium_math as rm
from operators.clmm.raydium_accounts import (
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    RewardInfo,
    TickArrayBitmapExtension,
    TickState,
)

Q64 = 1 << 64
Z = "11111111111111111111111111111111"
CONFIG_OWNER = "9iFER3bpjf1PTTCQCfTRu17EJgvsxo9pVyA9QWwEuX4x"
CARBON = "solana/raydium_clmm/carbon_decoder_fixtures"
CARBON_POOL = "pool_state.AcPS8SrzXDwPxk6LLz2tykwFEsSeD5LtctMLVeh2shq8.json"
CARBON_CONFIG = "amm_config.9iFER3bpjf1PTTCQCfTRu17EJgvsxo9pVyA9QWwEuX4x.json"
CONFIG = AmmConfig(1, 0, Z, 120000, 2500, 10, 40000, 0, Z, (0, 0, 0))


def tick_state(
    t: int, net: int = 0, gross: int = 0, padding: tuple[int, ...] = (0,) * 13
) -> TickState:
    return TickState(t, net, gross, 0, 0, (0, 0, 0), padding)


def make_pool(
    spacing: int,
    tick_current: int,
    positions: list[tuple[int, int, int]],
    *,
    sqrt_price_x64: int | None = None,
    fee_on: int = 0,
    base: PoolState | None = None,
) -> tuple[PoolState, list[object]]:
    """A pool with liquidity positions (lower, upper, L) and every account a swap may need."""
    nets: dict[int, list[int]] = {}
    for lo, hi, liq in positions:
        nets.setdefault(lo, [0, 0])
        nets.setdefault(hi, [0, 0])
        nets[lo][0] += liq
        nets[lo][1] += liq
        nets[hi][0] -= liq
        nets[hi][1] += liq
    by_start: dict[int, dict[int, TickState]] = {}
    for t, (net, gross) in nets.items():
        start = rm.array_start_index(t, spacing)
        by_start.setdefault(start, {})[(t - start) // spacing] = tick_state(t, net, gross)
    accounts: list[object] = []
    bitmap = 0
    pos = [[0] * 8 for _ in range(14)]
    neg = [[0] * 8 for _ in range(14)]
    for start, slots in sorted(by_start.items()):
        ticks = tuple(slots.get(i, tick_state(start + i * spacing)) for i in range(60))
        accounts.append(RaydiumTickArray(Z, start, ticks, len(slots), 0, bytes(107)))
        if rm.overflows_default_bitmap(start, spacing):
            bit = rm.extension_offset_in_bitmap(start, spacing)
            limbs = (neg if start < 0 else pos)[rm.extension_bitmap_offset(start, spacing)]
            limbs[bit // 64] |= 1 << (bit % 64)
        else:
            bitmap |= 1 << ((start // rm.tick_count(spacing)) + 512)
    accounts.append(TickArrayBitmapExtension(Z, tuple(map(tuple, pos)), tuple(map(tuple, neg))))
    liquidity = sum(liq for lo, hi, liq in positions if lo <= tick_current < hi)
    reward = RewardInfo(0, 0, 0, 0, 0, 0, 0, Z, Z, Z, 0)
    pool = base or PoolState(
        1,
        Z,
        Z,
        Z,
        Z,
        Z,
        Z,
        Z,
        9,
        6,
        spacing,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        bytes(7),
        (reward,) * 3,
        (0,) * 16,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        (0,) * 24,
        (0,) * 32,
    )
    pool = replace(
        pool,
        tick_spacing=spacing,
        tick_current=tick_current,
        liquidity=liquidity,
        sqrt_price_x64=sqrt_price_x64 or rm.sqrt_price_at_tick(tick_current),
        tick_array_bitmap=tuple((bitmap >> (64 * i)) & (Q64 - 1) for i in range(16)),
        padding=bytes([fee_on]) + pool.padding[1:],
    )
    return pool, accounts


# A pool with three overlapping positions over four tick arrays (spacing 1: 60 ticks per array).
POSITIONS = [(-150, 130, 4 * 10**12), (-70, 25, 6 * 10**12), (-20, 95, 10**13), (-240, 250, 10**12)]
POOL, ACCOUNTS = make_pool(1, 3, POSITIONS)
