"""Orca Whirlpool account codec (sans-I/O): bytes <-> operators.clmm.accounts types.

Layouts from orca-so/whirlpools programs/whirlpool/src/state (Anchor, little-endian, packed).
Each account starts with the Anchor discriminator sha256("account:<Name>")[:8]:
`Whirlpool` (653 bytes), fixed `TickArray` (9988 bytes: start i32, 88 x 113-byte ticks,
whirlpool), `DynamicTickArray` (start i32, whirlpool, u128 bitmap, then 88 Borsh enum ticks:
tag 0 = uninitialized, tag 1 + 112 data bytes = initialized; 148..9944 bytes).
Tick array PDA seeds: ["tick_array", whirlpool, str(start_tick_index)].
"""

from __future__ import annotations

import struct

from solders.pubkey import Pubkey

from connectors.solana.anchor import account_discriminator
from connectors.solana.keys import b58, key_bytes
from operators.clmm.accounts import (
    NUM_REWARDS,
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    Whirlpool,
    WhirlpoolRewardInfo,
)
from operators.clmm.invariants import check_orca_tick_array, check_whirlpool
from operators.errors import DecodeError

__all__ = [
    "DISC_DYNAMIC_TICK_ARRAY",
    "DISC_TICK_ARRAY",
    "DISC_WHIRLPOOL",
    "DYNAMIC_TICK_ARRAY_MAX_LEN",
    "DYNAMIC_TICK_ARRAY_MIN_LEN",
    "TICK_ARRAY_LEN",
    "WHIRLPOOL_LEN",
    "WHIRLPOOL_PROGRAM_ID",
    "decode_tick_array",
    "decode_whirlpool",
    "encode_tick_array",
    "encode_whirlpool",
    "tick_array_address",
    "tick_array_start_index",
]

WHIRLPOOL_PROGRAM_ID = "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc"
_PROGRAM = Pubkey.from_string(WHIRLPOOL_PROGRAM_ID)


DISC_WHIRLPOOL = account_discriminator("Whirlpool")
DISC_TICK_ARRAY = account_discriminator("TickArray")
DISC_DYNAMIC_TICK_ARRAY = account_discriminator("DynamicTickArray")

WHIRLPOOL_LEN = 653
_TICK_LEN = 113
_DYN_TICK_DATA_LEN = 112
_FIXED_TICKS_OFFSET = 12
TICK_ARRAY_LEN = 8 + 4 + TICK_ARRAY_SIZE * _TICK_LEN + 32
_DYN_HEADER_LEN = 8 + 4 + 32 + 16
DYNAMIC_TICK_ARRAY_MIN_LEN = _DYN_HEADER_LEN + TICK_ARRAY_SIZE
DYNAMIC_TICK_ARRAY_MAX_LEN = _DYN_HEADER_LEN + TICK_ARRAY_SIZE * (1 + _DYN_TICK_DATA_LEN)

_M64 = (1 << 64) - 1
# u128/i128 are read as (low u64, high u64|i64) pairs: struct has no 128-bit codes.
_WHIRLPOOL = struct.Struct("<8s32sBH2sHHQQQQiQQ32s32sQQ32s32sQQQ")
_REWARD = struct.Struct("<32s32s32sQQQQ")
_TICK = struct.Struct("<BQqQQQQQQQQQQQQ")
_DYN_TICK_DATA = struct.Struct("<QqQQQQQQQQQQQQ")
_ZERO_TICK = bytes(_TICK_LEN)
_EMPTY_TICK = Tick.empty()


def _lohi(value: int) -> tuple[int, int]:
    return value & _M64, value >> 64


# ---------------------------------------------------------------- Whirlpool


def decode_whirlpool(data: bytes, address: str = "") -> Whirlpool:
    """Decode a Whirlpool account's raw bytes (653 bytes, Anchor discriminator checked)."""
    where = address or "Whirlpool"
    if len(data) != WHIRLPOOL_LEN:
        raise DecodeError(f"Whirlpool size {len(data)} != {WHIRLPOOL_LEN}", account=where)
    if data[:8] != DISC_WHIRLPOOL:
        raise DecodeError(f"Whirlpool discriminator {data[:8].hex()} mismatch", account=where)
    (
        _,
        config,
        bump,
        tick_spacing,
        seed,
        fee_rate,
        protocol_fee_rate,
        liq_lo,
        liq_hi,
        sp_lo,
        sp_hi,
        tick_current,
        fee_owed_a,
        fee_owed_b,
        mint_a,
        vault_a,
        fga_lo,
        fga_hi,
        mint_b,
        vault_b,
        fgb_lo,
        fgb_hi,
        reward_ts,
    ) = _WHIRLPOOL.unpack_from(data, 0)
    rewards = []
    offset = _WHIRLPOOL.size
    for _ in range(NUM_REWARDS):
        mint, vault, ext, eps_lo, eps_hi, gg_lo, gg_hi = _REWARD.unpack_from(data, offset)
        offset += _REWARD.size
        rewards.append(
            WhirlpoolRewardInfo(
                b58(mint), b58(vault), b58(ext), eps_lo | eps_hi << 64, gg_lo | gg_hi << 64
            )
        )
    pool = Whirlpool(
        whirlpools_config=b58(config),
        whirlpool_bump=bump,
        tick_spacing=tick_spacing,
        fee_tier_index_seed=int.from_bytes(seed, "little"),
        fee_rate=fee_rate,
        protocol_fee_rate=protocol_fee_rate,
        liquidity=liq_lo | liq_hi << 64,
        sqrt_price=sp_lo | sp_hi << 64,
        tick_current_index=tick_current,
        protocol_fee_owed_a=fee_owed_a,
        protocol_fee_owed_b=fee_owed_b,
        token_mint_a=b58(mint_a),
        token_vault_a=b58(vault_a),
        fee_growth_global_a=fga_lo | fga_hi << 64,
        token_mint_b=b58(mint_b),
        token_vault_b=b58(vault_b),
        fee_growth_global_b=fgb_lo | fgb_hi << 64,
        reward_last_updated_timestamp=reward_ts,
        reward_infos=tuple(rewards),
        address=address,
    )
    # a size-correct account can still hold a state the program never writes (doubled price)
    check_whirlpool(pool, where)
    return pool


def encode_whirlpool(w: Whirlpool) -> bytes:
    """Encode a Whirlpool to its 653 account bytes (inverse of `decode_whirlpool`)."""
    if len(w.reward_infos) != NUM_REWARDS:
        raise DecodeError(f"cannot encode Whirlpool: {len(w.reward_infos)} reward_infos != 3")
    try:
        head = _WHIRLPOOL.pack(
            DISC_WHIRLPOOL,
            key_bytes(w.whirlpools_config, "whirlpools_config"),
            w.whirlpool_bump,
            w.tick_spacing,
            w.fee_tier_index_seed.to_bytes(2, "little"),
            w.fee_rate,
            w.protocol_fee_rate,
            *_lohi(w.liquidity),
            *_lohi(w.sqrt_price),
            w.tick_current_index,
            w.protocol_fee_owed_a,
            w.protocol_fee_owed_b,
            key_bytes(w.token_mint_a, "token_mint_a"),
            key_bytes(w.token_vault_a, "token_vault_a"),
            *_lohi(w.fee_growth_global_a),
            key_bytes(w.token_mint_b, "token_mint_b"),
            key_bytes(w.token_vault_b, "token_vault_b"),
            *_lohi(w.fee_growth_global_b),
            w.reward_last_updated_timestamp,
        )
        parts = [head]
        for r in w.reward_infos:
            parts.append(
                _REWARD.pack(
                    key_bytes(r.mint, "reward mint"),
                    key_bytes(r.vault, "reward vault"),
                    key_bytes(r.authority, "reward authority"),
                    *_lohi(r.emissions_per_second_x64),
                    *_lohi(r.growth_global_x64),
                )
            )
    except (struct.error, OverflowError) as exc:
        raise DecodeError(f"cannot encode Whirlpool: a field is out of range ({exc})") from exc
    return b"".join(parts)


# ---------------------------------------------------------------- tick arrays


def _tick_from_fields(initialized: bool, f: tuple[int, ...]) -> Tick:
    # f = net lo, net hi (signed), gross lo/hi, fga lo/hi, fgb lo/hi, 3 x reward lo/hi
    return Tick(
        initialized,
        f[0] | f[1] << 64,
        f[2] | f[3] << 64,
        f[4] | f[5] << 64,
        f[6] | f[7] << 64,
        (f[8] | f[9] << 64, f[10] | f[11] << 64, f[12] | f[13] << 64),
    )


def decode_tick_array(data: bytes, address: str = "") -> TickArray:
    """Decode a fixed `TickArray` or a `DynamicTickArray` account (discriminator decides)."""
    disc = data[:8]
    if disc == DISC_TICK_ARRAY:
        return _decode_fixed(data, address)
    if disc == DISC_DYNAMIC_TICK_ARRAY:
        return _decode_dynamic(data, address)
    raise DecodeError(
        f"TickArray discriminator {disc.hex()} is neither TickArray nor DynamicTickArray",
        account=address or "TickArray",
    )


def _decode_fixed(data: bytes, address: str) -> TickArray:
    where = address or "TickArray"
    if len(data) != TICK_ARRAY_LEN:
        raise DecodeError(f"TickArray size {len(data)} != {TICK_ARRAY_LEN}", account=where)
    (start,) = struct.unpack_from("<i", data, 8)
    ticks: list[Tick] = []
    unpack = _TICK.unpack_from
    offset = _FIXED_TICKS_OFFSET
    for i in range(TICK_ARRAY_SIZE):
        if data[offset : offset + _TICK_LEN] == _ZERO_TICK:
            ticks.append(_EMPTY_TICK)
        else:
            fields = unpack(data, offset)
            if fields[0] > 1:
                raise DecodeError(
                    f"TickArray ticks[{i}].initialized byte is {fields[0]}", account=where
                )
            ticks.append(_tick_from_fields(fields[0] == 1, fields[1:]))
        offset += _TICK_LEN
    whirlpool = b58(data[offset : offset + 32])
    ta = TickArray(start, tuple(ticks), whirlpool, False, address)
    check_orca_tick_array(ta, where)
    return ta


def _decode_dynamic(data: bytes, address: str) -> TickArray:
    where = address or "DynamicTickArray"
    size = len(data)
    if not DYNAMIC_TICK_ARRAY_MIN_LEN <= size <= DYNAMIC_TICK_ARRAY_MAX_LEN:
        raise DecodeError(
            f"DynamicTickArray size {size} outside "
            f"[{DYNAMIC_TICK_ARRAY_MIN_LEN}, {DYNAMIC_TICK_ARRAY_MAX_LEN}]",
            account=where,
        )
    (start,) = struct.unpack_from("<i", data, 8)
    whirlpool = b58(data[12:44])
    bitmap = int.from_bytes(data[44:60], "little")
    ticks: list[Tick] = []
    offset = _DYN_HEADER_LEN
    for i in range(TICK_ARRAY_SIZE):
        if offset >= size:
            raise DecodeError(f"DynamicTickArray truncated at ticks[{i}]", account=where)
        tag = data[offset]
        offset += 1
        if tag == 0:
            ticks.append(_EMPTY_TICK)
        elif tag == 1:
            if offset + _DYN_TICK_DATA_LEN > size:
                raise DecodeError(f"DynamicTickArray truncated in ticks[{i}]", account=where)
            ticks.append(_tick_from_fields(True, _DYN_TICK_DATA.unpack_from(data, offset)))
            offset += _DYN_TICK_DATA_LEN
        else:
            raise DecodeError(f"DynamicTickArray ticks[{i}] has enum tag {tag}", account=where)
        if bool(bitmap >> i & 1) != (tag == 1):
            raise DecodeError(
                f"DynamicTickArray tick_bitmap bit {i} disagrees with ticks[{i}]", account=where
            )
    if bitmap >> TICK_ARRAY_SIZE:
        raise DecodeError("DynamicTickArray tick_bitmap has bits above 87", account=where)
    if any(data[offset:]):
        raise DecodeError(f"DynamicTickArray has {size - offset} trailing bytes", account=where)
    ta = TickArray(start, tuple(ticks), whirlpool, True, address)
    check_orca_tick_array(ta, where)
    return ta


def _tick_words(t: Tick) -> tuple[int, ...]:
    r = t.reward_growths_outside
    return (
        *_lohi(t.liquidity_net),
        *_lohi(t.liquidity_gross),
        *_lohi(t.fee_growth_outside_a),
        *_lohi(t.fee_growth_outside_b),
        *_lohi(r[0]),
        *_lohi(r[1]),
        *_lohi(r[2]),
    )


def encode_tick_array(ta: TickArray) -> bytes:
    """Encode a TickArray to account bytes: fixed layout, or dynamic when `ta.is_dynamic`."""
    if len(ta.ticks) != TICK_ARRAY_SIZE:
        raise DecodeError(f"cannot encode TickArray: {len(ta.ticks)} ticks != {TICK_ARRAY_SIZE}")
    whirlpool = key_bytes(ta.whirlpool, "TickArray whirlpool")
    try:
        if not ta.is_dynamic:
            parts = [DISC_TICK_ARRAY, struct.pack("<i", ta.start_tick_index)]
            for t in ta.ticks:
                if t == _EMPTY_TICK:
                    parts.append(_ZERO_TICK)
                else:
                    parts.append(_TICK.pack(int(t.initialized), *_tick_words(t)))
            parts.append(whirlpool)
            return b"".join(parts)
        bitmap = 0
        body = []
        for i, t in enumerate(ta.ticks):
            if t.initialized:
                bitmap |= 1 << i
                body.append(b"\x01" + _DYN_TICK_DATA.pack(*_tick_words(t)))
            elif t == _EMPTY_TICK:
                body.append(b"\x00")
            else:
                raise DecodeError(
                    f"cannot encode DynamicTickArray: ticks[{i}] is uninitialized but not zero"
                )
        head = DISC_DYNAMIC_TICK_ARRAY + struct.pack("<i", ta.start_tick_index) + whirlpool
        return head + bitmap.to_bytes(16, "little") + b"".join(body)
    except (struct.error, OverflowError) as exc:
        raise DecodeError(f"cannot encode TickArray: a tick field is out of range ({exc})") from exc


# ---------------------------------------------------------------- addresses


def tick_array_start_index(tick: int, tick_spacing: int) -> int:
    """Start tick index of the tick array holding `tick` (floor to 88 * tick_spacing ticks)."""
    span = TICK_ARRAY_SIZE * tick_spacing
    return (tick // tick_spacing // TICK_ARRAY_SIZE) * span


def tick_array_address(whirlpool: str, start_tick_index: int) -> str:
    """The tick array PDA (base58) for a whirlpool and a start tick index."""
    seeds = [b"tick_array", bytes(Pubkey.from_string(whirlpool)), str(start_tick_index).encode()]
    return str(Pubkey.find_program_address(seeds, _PROGRAM)[0])
