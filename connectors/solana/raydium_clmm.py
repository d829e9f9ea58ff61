"""Raydium CLMM account codec (sans-I/O): bytes <-> operators.clmm.raydium_accounts types.

Layouts from raydium-io/raydium-clmm programs/amm/src/states (classic field names, Anchor
zero-copy, little-endian, packed). Each account starts with the Anchor discriminator
sha256("account:<Name>")[:8]. PDAs: tick array = ["tick_array", pool, start_index as i32 BE],
bitmap extension = ["pool_tick_array_bitmap_extension", pool].
"""

from __future__ import annotations

import struct
from typing import Any

from solders.pubkey import Pubkey

from connectors.solana.anchor import account_discriminator
from connectors.solana.keys import b58, key_bytes
from operators.clmm.invariants import (
    check_amm_config,
    check_raydium_pool,
    check_raydium_tick_array,
)
from operators.clmm.raydium_accounts import (
    EXTENSION_TICKARRAY_BITMAP_SIZE,
    REWARD_NUM,
    TICK_ARRAY_SIZE,
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    RewardInfo,
    TickArrayBitmapExtension,
    TickState,
)
from operators.errors import DecodeError

__all__ = [
    "AMM_CONFIG_LEN",
    "BITMAP_EXTENSION_LEN",
    "POOL_STATE_LEN",
    "RAYDIUM_CLMM_PROGRAM_ID",
    "TICK_ARRAY_LEN",
    "bitmap_extension_address",
    "decode_amm_config",
    "decode_pool_state",
    "decode_tick_array",
    "decode_tick_array_bitmap_extension",
    "encode_amm_config",
    "encode_pool_state",
    "encode_tick_array",
    "encode_tick_array_bitmap_extension",
    "tick_array_address",
]

RAYDIUM_CLMM_PROGRAM_ID = "CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK"
_PROGRAM = Pubkey.from_string(RAYDIUM_CLMM_PROGRAM_ID)


DISC_POOL_STATE = account_discriminator("PoolState")
DISC_AMM_CONFIG = account_discriminator("AmmConfig")
DISC_TICK_ARRAY = account_discriminator("TickArrayState")
DISC_BITMAP_EXTENSION = account_discriminator("TickArrayBitmapExtension")

# u128 fields are read as two u64 halves (lo, hi); "q" hi makes an i128.
_REWARD = struct.Struct("<B3Q2Q2Q32s32s32s2Q")  # 169 bytes
_POOL_HEAD = struct.Struct("<8sB32s32s32s32s32s32s32sBBH2Q2QiHH2Q2Q2Q2Q2Q2Q2QB7s")
_POOL_TAIL = struct.Struct("<16Q4Q2Q2Q24Q32Q")
_AMM_CONFIG = struct.Struct("<8sBH32sIIHII32s3Q")
_TICK = struct.Struct("<iQq2Q2Q2Q6Q13I")  # 168 bytes
_TA_HEAD = struct.Struct("<8s32si")
_TA_TAIL = struct.Struct("<BQ107s")
_EXT = struct.Struct("<8s32s224Q")

POOL_STATE_LEN = _POOL_HEAD.size + REWARD_NUM * _REWARD.size + _POOL_TAIL.size
AMM_CONFIG_LEN = _AMM_CONFIG.size
TICK_ARRAY_LEN = _TA_HEAD.size + TICK_ARRAY_SIZE * _TICK.size + _TA_TAIL.size
BITMAP_EXTENSION_LEN = _EXT.size

assert POOL_STATE_LEN == 1544 and AMM_CONFIG_LEN == 117
assert TICK_ARRAY_LEN == 10240 and BITMAP_EXTENSION_LEN == 1832 and _TICK.size == 168


def _check(data: bytes, name: str, disc: bytes, size: int) -> None:
    if len(data) != size:
        raise DecodeError(f"size {len(data)} != {size}", account=f"raydium {name}")
    if data[:8] != disc:
        raise DecodeError(
            f"discriminator {data[:8].hex()} != {disc.hex()}", account=f"raydium {name}"
        )


def _u128(lo: int, hi: int) -> int:
    return lo | (hi << 64)


def _split(v: int, field: str) -> tuple[int, int]:
    if not 0 <= v < 1 << 128:
        raise DecodeError(f"{field}={v} does not fit u128", account="raydium encode")
    return v & 0xFFFF_FFFF_FFFF_FFFF, v >> 64


def decode_pool_state(data: bytes) -> PoolState:
    """Decode a PoolState account's data (1544 bytes) into PoolState."""
    _check(data, "PoolState", DISC_POOL_STATE, POOL_STATE_LEN)
    h = _POOL_HEAD.unpack_from(data, 0)
    rewards = []
    off = _POOL_HEAD.size
    for _ in range(REWARD_NUM):
        r = _REWARD.unpack_from(data, off)
        off += _REWARD.size
        rewards.append(
            RewardInfo(
                r[0],
                r[1],
                r[2],
                r[3],
                _u128(r[4], r[5]),
                r[6],
                r[7],
                b58(r[8]),
                b58(r[9]),
                b58(r[10]),
                _u128(r[11], r[12]),
            )
        )
    t = _POOL_TAIL.unpack_from(data, off)
    pool = PoolState(
        bump=h[1],
        amm_config=b58(h[2]),
        owner=b58(h[3]),
        token_mint_0=b58(h[4]),
        token_mint_1=b58(h[5]),
        token_vault_0=b58(h[6]),
        token_vault_1=b58(h[7]),
        observation_key=b58(h[8]),
        mint_decimals_0=h[9],
        mint_decimals_1=h[10],
        tick_spacing=h[11],
        liquidity=_u128(h[12], h[13]),
        sqrt_price_x64=_u128(h[14], h[15]),
        tick_current=h[16],
        padding3=h[17],
        padding4=h[18],
        fee_growth_global_0_x64=_u128(h[19], h[20]),
        fee_growth_global_1_x64=_u128(h[21], h[22]),
        protocol_fees_token_0=h[23],
        protocol_fees_token_1=h[24],
        swap_in_amount_token_0=_u128(h[25], h[26]),
        swap_out_amount_token_1=_u128(h[27], h[28]),
        swap_in_amount_token_1=_u128(h[29], h[30]),
        swap_out_amount_token_0=_u128(h[31], h[32]),
        status=h[33],
        padding=h[34],
        reward_infos=tuple(rewards),
        tick_array_bitmap=tuple(t[0:16]),
        total_fees_token_0=t[16],
        total_fees_claimed_token_0=t[17],
        total_fees_token_1=t[18],
        total_fees_claimed_token_1=t[19],
        fund_fees_token_0=t[20],
        fund_fees_token_1=t[21],
        open_time=t[22],
        recent_epoch=t[23],
        padding1=tuple(t[24:48]),
        padding2=tuple(t[48:80]),
    )
    # a size-correct account can still hold a state the program never writes (doubled price)
    check_raydium_pool(pool, "raydium PoolState")
    return pool


def encode_pool_state(p: PoolState) -> bytes:
    """Encode a PoolState back to its exact account bytes (for tests and simulation)."""
    head = _POOL_HEAD.pack(
        DISC_POOL_STATE,
        p.bump,
        key_bytes(p.amm_config, "amm_config"),
        key_bytes(p.owner, "owner"),
        key_bytes(p.token_mint_0, "token_mint_0"),
        key_bytes(p.token_mint_1, "token_mint_1"),
        key_bytes(p.token_vault_0, "token_vault_0"),
        key_bytes(p.token_vault_1, "token_vault_1"),
        key_bytes(p.observation_key, "observation_key"),
        p.mint_decimals_0,
        p.mint_decimals_1,
        p.tick_spacing,
        *_split(p.liquidity, "liquidity"),
        *_split(p.sqrt_price_x64, "sqrt_price_x64"),
        p.tick_current,
        p.padding3,
        p.padding4,
        *_split(p.fee_growth_global_0_x64, "fee_growth_global_0_x64"),
        *_split(p.fee_growth_global_1_x64, "fee_growth_global_1_x64"),
        p.protocol_fees_token_0,
        p.protocol_fees_token_1,
        *_split(p.swap_in_amount_token_0, "swap_in_amount_token_0"),
        *_split(p.swap_out_amount_token_1, "swap_out_amount_token_1"),
        *_split(p.swap_in_amount_token_1, "swap_in_amount_token_1"),
        *_split(p.swap_out_amount_token_0, "swap_out_amount_token_0"),
        p.status,
        p.padding,
    )
    rewards = b"".join(
        _REWARD.pack(
            r.reward_state,
            r.open_time,
            r.end_time,
            r.last_update_time,
            *_split(r.emissions_per_second_x64, "emissions_per_second_x64"),
            r.reward_total_emissioned,
            r.reward_claimed,
            key_bytes(r.token_mint, "token_mint"),
            key_bytes(r.token_vault, "token_vault"),
            key_bytes(r.authority, "authority"),
            *_split(r.reward_growth_global_x64, "reward_growth_global_x64"),
        )
        for r in p.reward_infos
    )
    tail = _POOL_TAIL.pack(
        *p.tick_array_bitmap,
        p.total_fees_token_0,
        p.total_fees_claimed_token_0,
        p.total_fees_token_1,
        p.total_fees_claimed_token_1,
        p.fund_fees_token_0,
        p.fund_fees_token_1,
        p.open_time,
        p.recent_epoch,
        *p.padding1,
        *p.padding2,
    )
    return head + rewards + tail


def decode_amm_config(data: bytes) -> AmmConfig:
    """Decode an AmmConfig account's data (117 bytes); fee rates per 1e6."""
    _check(data, "AmmConfig", DISC_AMM_CONFIG, AMM_CONFIG_LEN)
    c = _AMM_CONFIG.unpack(data)
    config = AmmConfig(
        bump=c[1],
        index=c[2],
        owner=b58(c[3]),
        protocol_fee_rate=c[4],
        trade_fee_rate=c[5],
        tick_spacing=c[6],
        fund_fee_rate=c[7],
        padding_u32=c[8],
        fund_owner=b58(c[9]),
        padding=tuple(c[10:13]),
    )
    check_amm_config(config, "raydium AmmConfig")
    return config


def encode_amm_config(c: AmmConfig) -> bytes:
    """Encode an AmmConfig back to its exact account bytes."""
    return _AMM_CONFIG.pack(
        DISC_AMM_CONFIG,
        c.bump,
        c.index,
        key_bytes(c.owner, "owner"),
        c.protocol_fee_rate,
        c.trade_fee_rate,
        c.tick_spacing,
        c.fund_fee_rate,
        c.padding_u32,
        key_bytes(c.fund_owner, "fund_owner"),
        *c.padding,
    )


def _tick(v: tuple[Any, ...]) -> TickState:
    return TickState(
        tick=v[0],
        liquidity_net=v[1] | (v[2] << 64),
        liquidity_gross=_u128(v[3], v[4]),
        fee_growth_outside_0_x64=_u128(v[5], v[6]),
        fee_growth_outside_1_x64=_u128(v[7], v[8]),
        reward_growths_outside_x64=(_u128(v[9], v[10]), _u128(v[11], v[12]), _u128(v[13], v[14])),
        padding=tuple(v[15:28]),
    )


def decode_tick_array(data: bytes) -> RaydiumTickArray:
    """Decode a TickArrayState account's data (10240 bytes, 60 ticks)."""
    _check(data, "TickArrayState", DISC_TICK_ARRAY, TICK_ARRAY_LEN)
    _, pool_id, start = _TA_HEAD.unpack_from(data, 0)
    ticks = tuple(
        _tick(v) for v in _TICK.iter_unpack(data[_TA_HEAD.size : TICK_ARRAY_LEN - _TA_TAIL.size])
    )
    count, epoch, padding = _TA_TAIL.unpack_from(data, TICK_ARRAY_LEN - _TA_TAIL.size)
    array = RaydiumTickArray(
        pool_id=b58(pool_id),
        start_tick_index=start,
        ticks=ticks,
        initialized_tick_count=count,
        recent_epoch=epoch,
        padding=padding,
    )
    check_raydium_tick_array(array, "raydium TickArrayState")
    return array


def encode_tick_array(a: RaydiumTickArray) -> bytes:
    """Encode a tick array back to its exact account bytes."""
    if len(a.ticks) != TICK_ARRAY_SIZE:
        raise DecodeError(f"{len(a.ticks)} ticks != {TICK_ARRAY_SIZE}", account="raydium encode")
    parts = [_TA_HEAD.pack(DISC_TICK_ARRAY, key_bytes(a.pool_id, "pool_id"), a.start_tick_index)]
    for t in a.ticks:
        if not -(1 << 127) <= t.liquidity_net < 1 << 127:
            raise DecodeError(f"liquidity_net={t.liquidity_net} not i128", account="raydium encode")
        r = t.reward_growths_outside_x64
        parts.append(
            _TICK.pack(
                t.tick,
                t.liquidity_net & 0xFFFF_FFFF_FFFF_FFFF,
                t.liquidity_net >> 64,
                *_split(t.liquidity_gross, "liquidity_gross"),
                *_split(t.fee_growth_outside_0_x64, "fee_growth_outside_0_x64"),
                *_split(t.fee_growth_outside_1_x64, "fee_growth_outside_1_x64"),
                *_split(r[0], "reward_growths_outside_x64"),
                *_split(r[1], "reward"),
                *_split(r[2], "reward"),
                *t.padding,
            )
        )
    parts.append(_TA_TAIL.pack(a.initialized_tick_count, a.recent_epoch, a.padding))
    return b"".join(parts)


def decode_tick_array_bitmap_extension(data: bytes) -> TickArrayBitmapExtension:
    """Decode a TickArrayBitmapExtension account's data (1832 bytes)."""
    _check(data, "TickArrayBitmapExtension", DISC_BITMAP_EXTENSION, BITMAP_EXTENSION_LEN)
    v = _EXT.unpack(data)
    words = v[2:]
    n = EXTENSION_TICKARRAY_BITMAP_SIZE
    pos = tuple(tuple(words[8 * i : 8 * i + 8]) for i in range(n))
    neg = tuple(tuple(words[8 * (n + i) : 8 * (n + i) + 8]) for i in range(n))
    return TickArrayBitmapExtension(b58(v[1]), pos, neg)


def encode_tick_array_bitmap_extension(e: TickArrayBitmapExtension) -> bytes:
    """Encode a bitmap extension back to its exact account bytes."""
    words = [w for bm in e.positive_tick_array_bitmap for w in bm]
    words += [w for bm in e.negative_tick_array_bitmap for w in bm]
    return _EXT.pack(DISC_BITMAP_EXTENSION, key_bytes(e.pool_id, "pool_id"), *words)


def tick_array_address(pool: str, start_index: int) -> str:
    """PDA of the tick array starting at start_index (tick units) for `pool`."""
    seeds = [b"tick_array", key_bytes(pool, "pool"), struct.pack(">i", start_index)]
    return str(Pubkey.find_program_address(seeds, _PROGRAM)[0])


def bitmap_extension_address(pool: str) -> str:
    """PDA of the pool's TickArrayBitmapExtension account."""
    seeds = [b"pool_tick_array_bitmap_extension", key_bytes(pool, "pool")]
    return str(Pubkey.find_program_address(seeds, _PROGRAM)[0])
