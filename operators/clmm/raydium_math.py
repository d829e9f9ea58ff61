"""Raydium CLMM integer math, unit for unit as the on-chain program computes it.

Facts from raydium-io/raydium-clmm programs/amm/src/libraries (tick_math, sqrt_price_math,
liquidity_math, swap_math, tick_array_bit_map) and states/tickarray_bitmap_extension.rs.
Prices are Q64.64 ints (`sqrt_price_x64`), amounts are u64 token base units, fee rates are per
1e6. Where the program would fail (checked arithmetic, u64 overflow, bad range) a QuoteError is
raised naming what failed. Rust integer division truncates toward zero; helpers below keep that.
"""

from __future__ import annotations

from operators.clmm.types import QuoteError

MIN_TICK = -443636
MAX_TICK = 443636
MIN_SQRT_PRICE_X64 = 4295048016
MAX_SQRT_PRICE_X64 = 79226673521066979257578248091
FEE_RATE_DENOMINATOR = 1_000_000
TICK_ARRAY_SIZE = 60
TICK_ARRAY_BITMAP_SIZE = 512
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
_U1024_MASK = (1 << 1024) - 1
_U512_MASK = (1 << 512) - 1

# 2^64 / sqrt(1.0001)^(2^i) factors for bit i of |tick| (Q64), bit 0 first.
_TICK_FACTORS = (
    0xFFFCB933BD6FB800,
    0xFFF97272373D4000,
    0xFFF2E50F5F657000,
    0xFFE5CACA7E10F000,
    0xFFCB9843D60F7000,
    0xFF973B41FA98E800,
    0xFF2EA16466C9B000,
    0xFE5DEE046A9A3800,
    0xFCBE86C7900BB000,
    0xF987A7253AC65800,
    0xF3392B0822BB6000,
    0xE7159475A2CAF000,
    0xD097F3BDFD2F2000,
    0xA9F746462D9F8000,
    0x70D869A156F31C00,
    0x31BE135F97ED3200,
    0x9AA508B5B85A500,
    0x5D6AF8DEDC582C,
    0x2216E584F5FA,
)


class TokenAmountOverflow(QuoteError):
    """An amount delta does not fit in u64 (the program's MaxTokenOverflow)."""


def tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Rust's i32 `/`."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def trem(a: int, b: int) -> int:
    """Remainder with the dividend's sign, as Rust's i32 `%`."""
    return a - b * tdiv(a, b)


def sqrt_price_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick) as Q64.64, bit-exact with tick_math::get_sqrt_price_at_tick."""
    if tick < MIN_TICK or tick > MAX_TICK:
        raise QuoteError(f"raydium tick {tick} outside [{MIN_TICK}, {MAX_TICK}]")
    abs_tick = -tick if tick < 0 else tick
    ratio = _TICK_FACTORS[0] if abs_tick & 1 else 1 << 64
    bit = 1
    for factor in _TICK_FACTORS[1:]:
        bit <<= 1
        if abs_tick & bit:
            ratio = (ratio * factor) >> 64
    if tick > 0:
        ratio = U128_MAX // ratio
    return ratio


def tick_at_sqrt_price(sqrt_price_x64: int) -> int:
    """Greatest tick whose sqrt price is <= sqrt_price_x64 (tick_math::get_tick_at_sqrt_price)."""
    if not MIN_SQRT_PRICE_X64 <= sqrt_price_x64 < MAX_SQRT_PRICE_X64:
        raise QuoteError(f"raydium sqrt_price_x64 {sqrt_price_x64} outside the program's range")
    msb = sqrt_price_x64.bit_length() - 1
    log2p_integer_x32 = (msb - 64) << 32
    r = sqrt_price_x64 >> (msb - 63) if msb >= 64 else sqrt_price_x64 << (63 - msb)
    bit = 0x8000_0000_0000_0000
    log2p_fraction_x64 = 0
    for _ in range(16):  # BIT_PRECISION
        r *= r
        more = r >> 127
        r >>= 63 + more
        log2p_fraction_x64 += bit * more
        bit >>= 1
    log2p_x32 = log2p_integer_x32 + (log2p_fraction_x64 >> 32)
    log_sqrt_10001_x64 = log2p_x32 * 59543866431248
    tick_low = (log_sqrt_10001_x64 - 184467440737095516) >> 64
    tick_high = (log_sqrt_10001_x64 + 15793534762490258745) >> 64
    if tick_low == tick_high:
        return tick_low
    return tick_high if sqrt_price_at_tick(tick_high) <= sqrt_price_x64 else tick_low


def delta_amounts_for_swap(
    sqrt_price_a_x64: int, sqrt_price_b_x64: int, liquidity: int, zero_for_one: bool
) -> tuple[int, int]:
    """(amount_in rounded up, amount_out rounded down) to move between two prices, base units."""
    if sqrt_price_a_x64 > sqrt_price_b_x64:
        sqrt_price_a_x64, sqrt_price_b_x64 = sqrt_price_b_x64, sqrt_price_a_x64
    if sqrt_price_a_x64 <= 0:
        raise QuoteError("raydium: zero sqrt price in amount delta")
    amount_1_x64 = liquidity * (sqrt_price_b_x64 - sqrt_price_a_x64)
    product = sqrt_price_a_x64 * sqrt_price_b_x64
    if zero_for_one:
        amount_in = -((-(amount_1_x64 << 64)) // product)
        amount_out = amount_1_x64 >> 64
    else:
        amount_in = (amount_1_x64 + U64_MAX) >> 64
        amount_out = (amount_1_x64 << 64) // product
    if amount_in > U64_MAX or amount_out > U64_MAX:
        raise TokenAmountOverflow("raydium: amount delta exceeds u64 (MaxTokenOverflow)")
    return amount_in, amount_out


def _next_sqrt_price_amount_0(sqrt_price_x64: int, liquidity: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_price_x64
    numerator_1 = liquidity << 64
    product = amount * sqrt_price_x64
    if add:
        denominator = numerator_1 + product
    else:
        denominator = numerator_1 - product
        if denominator <= 0:
            raise QuoteError("raydium: output exceeds token0 reserve in range (CalculateOverflow)")
    result = -((-(numerator_1 * sqrt_price_x64)) // denominator)
    if result > U128_MAX:
        raise QuoteError("raydium: next sqrt price overflows u128")
    return result


def _next_sqrt_price_amount_1(sqrt_price_x64: int, liquidity: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_price_x64
    if add:
        result = sqrt_price_x64 + (amount << 64) // liquidity
        if result > U128_MAX:
            raise QuoteError("raydium: next sqrt price overflows u128 (CalculateOverflow)")
        return result
    result = sqrt_price_x64 - (-((-(amount << 64)) // liquidity))
    if result < 0:
        raise QuoteError("raydium: output exceeds token1 reserve in range (CalculateOverflow)")
    return result


def next_sqrt_price_from_input(
    sqrt_price_x64: int, liquidity: int, amount_in: int, zero_for_one: bool
) -> int:
    """Q64.64 price after adding amount_in (base units) at constant liquidity."""
    if not MIN_SQRT_PRICE_X64 <= sqrt_price_x64 < MAX_SQRT_PRICE_X64:
        raise QuoteError(f"raydium sqrt_price_x64 {sqrt_price_x64} outside the program's range")
    if liquidity <= 0:
        raise QuoteError("raydium: zero liquidity in price step")
    if zero_for_one:
        return _next_sqrt_price_amount_0(sqrt_price_x64, liquidity, amount_in, True)
    return _next_sqrt_price_amount_1(sqrt_price_x64, liquidity, amount_in, True)


def next_sqrt_price_from_output(
    sqrt_price_x64: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """Q64.64 price after removing amount_out (base units) at constant liquidity."""
    if not MIN_SQRT_PRICE_X64 <= sqrt_price_x64 < MAX_SQRT_PRICE_X64:
        raise QuoteError(f"raydium sqrt_price_x64 {sqrt_price_x64} outside the program's range")
    if liquidity <= 0:
        raise QuoteError("raydium: zero liquidity in price step")
    if zero_for_one:
        return _next_sqrt_price_amount_1(sqrt_price_x64, liquidity, amount_out, False)
    return _next_sqrt_price_amount_0(sqrt_price_x64, liquidity, amount_out, False)


def _mul_div_ceil_u64(x: int, num: int, den: int) -> int:
    r = (x * num + den - 1) // den
    if r > U64_MAX:
        raise QuoteError("raydium: fee arithmetic overflows u64 (CalculateOverflow)")
    return r


def amount_for_price_calc(
    amount_remaining: int, fee_rate_ppm: int, exact_in: bool, fee_on_input: bool
) -> int:
    """The part of amount_remaining (base units) that moves the price, fee stripped/grossed."""
    if exact_in:
        if fee_on_input:
            return amount_remaining * (FEE_RATE_DENOMINATOR - fee_rate_ppm) // FEE_RATE_DENOMINATOR
        return amount_remaining
    if fee_on_input:
        return amount_remaining
    return _mul_div_ceil_u64(
        amount_remaining, FEE_RATE_DENOMINATOR, FEE_RATE_DENOMINATOR - fee_rate_ppm
    )


def compute_swap_step(
    sqrt_price_current_x64: int,
    sqrt_price_target_x64: int,
    liquidity: int,
    amount_remaining: int,
    fee_rate_ppm: int,
    exact_in: bool,
    zero_for_one: bool,
    fee_on_input: bool = True,
) -> tuple[int, int, int, int]:
    """One swap step toward a target: (sqrt_price_next_x64, amount_in, amount_out, fee_amount)."""
    calc = amount_for_price_calc(amount_remaining, fee_rate_ppm, exact_in, fee_on_input)
    reached = False
    try:
        in_at_target, out_at_target = delta_amounts_for_swap(
            sqrt_price_target_x64, sqrt_price_current_x64, liquidity, zero_for_one
        )
        reached = calc >= (in_at_target if exact_in else out_at_target)
    except TokenAmountOverflow:
        reached = False
    if reached:
        sqrt_next = sqrt_price_target_x64
        amount_in, amount_out = in_at_target, out_at_target
    else:
        if exact_in:
            sqrt_next = next_sqrt_price_from_input(
                sqrt_price_current_x64, liquidity, calc, zero_for_one
            )
        else:
            sqrt_next = next_sqrt_price_from_output(
                sqrt_price_current_x64, liquidity, calc, zero_for_one
            )
        amount_in, amount_out = delta_amounts_for_swap(
            sqrt_next, sqrt_price_current_x64, liquidity, zero_for_one
        )
    if (zero_for_one and sqrt_next < sqrt_price_target_x64) or (
        not zero_for_one and sqrt_next > sqrt_price_target_x64
    ):
        raise QuoteError("raydium: step overshot its target price")
    fee_complement = FEE_RATE_DENOMINATOR - fee_rate_ppm
    if exact_in:
        if fee_on_input:
            if sqrt_next != sqrt_price_target_x64:
                fee = amount_remaining - amount_in
                if fee < 0:
                    raise QuoteError("raydium: step input exceeds remaining (CalculateOverflow)")
            else:
                fee = _mul_div_ceil_u64(amount_in, fee_rate_ppm, fee_complement)
        else:
            fee = _mul_div_ceil_u64(amount_out, fee_rate_ppm, FEE_RATE_DENOMINATOR)
            amount_out -= fee
            if sqrt_next != sqrt_price_target_x64:
                amount_in = amount_remaining
    elif fee_on_input:
        amount_out = min(amount_out, amount_remaining)
        fee = _mul_div_ceil_u64(amount_in, fee_rate_ppm, fee_complement)
    else:
        fee = _mul_div_ceil_u64(amount_out, fee_rate_ppm, FEE_RATE_DENOMINATOR)
        net_output = amount_out - fee
        if net_output > amount_remaining:
            fee = amount_out - amount_remaining
            amount_out = amount_remaining
        else:
            amount_out = net_output
    return sqrt_next, amount_in, amount_out, fee


# ---- tick arrays and bitmaps ------------------------------------------------------------


def tick_count(tick_spacing: int) -> int:
    """Ticks covered by one tick array (60 slots x spacing)."""
    return TICK_ARRAY_SIZE * tick_spacing


def array_start_index(tick: int, tick_spacing: int) -> int:
    """Start tick of the array holding `tick` (floor to a multiple of 60*spacing)."""
    ticks = TICK_ARRAY_SIZE * tick_spacing
    return (tick // ticks) * ticks


def max_tick_in_bitmap(tick_spacing: int) -> int:
    """Ticks spanned on each side of 0 by the pool's own 1024-bit array bitmap."""
    return tick_spacing * TICK_ARRAY_SIZE * TICK_ARRAY_BITMAP_SIZE


def is_valid_start_index(start: int, tick_spacing: int) -> bool:
    """The program's TickArrayState::check_is_valid_start_index."""
    if start < MIN_TICK or start > MAX_TICK:
        if start > MAX_TICK:
            return False
        return start == array_start_index(MIN_TICK, tick_spacing)
    return trem(start, tick_count(tick_spacing)) == 0


def overflows_default_bitmap(tick: int, tick_spacing: int) -> bool:
    """Whether the array holding `tick` lies outside the pool's own bitmap (needs the extension)."""
    max_b = max_tick_in_bitmap(tick_spacing)
    min_b = -max_b
    if max_b > MAX_TICK:
        max_b = array_start_index(MAX_TICK, tick_spacing) + tick_count(tick_spacing)
    if min_b < MIN_TICK:
        min_b = array_start_index(MIN_TICK, tick_spacing)
    start = array_start_index(tick, tick_spacing)
    return start >= max_b or start < min_b


def _compressed(start: int, tick_spacing: int) -> int:
    mult = tick_count(tick_spacing)
    c = tdiv(start, mult) + TICK_ARRAY_BITMAP_SIZE
    if start < 0 and trem(start, mult) != 0:
        c -= 1
    return c


def default_bitmap_is_set(bitmap_u1024: int, tick: int, tick_spacing: int) -> tuple[bool, int]:
    """(is the array holding `tick` initialized, its start index) from the pool's own bitmap."""
    if tick < MIN_TICK or tick > MAX_TICK:
        raise QuoteError(f"raydium tick {tick} out of range (InvalidTickIndex)")
    c = _compressed(tick, tick_spacing)
    return bool((bitmap_u1024 >> abs(c)) & 1), (c - TICK_ARRAY_BITMAP_SIZE) * tick_count(
        tick_spacing
    )


def default_bitmap_next(
    bitmap_u1024: int, last_start: int, tick_spacing: int, zero_for_one: bool
) -> tuple[bool, int]:
    """Next initialized array start in the pool's own bitmap: (found, start or resume index)."""
    if not is_valid_start_index(last_start, tick_spacing):
        raise QuoteError(
            f"raydium tick array start {last_start} invalid (InvalidTickArrayBoundary)"
        )
    boundary = max_tick_in_bitmap(tick_spacing)
    mult = tick_count(tick_spacing)
    nxt = last_start - mult if zero_for_one else last_start + mult
    if nxt < -boundary or nxt >= boundary:
        return False, last_start
    bit_pos = abs(_compressed(nxt, tick_spacing))
    if zero_for_one:
        shifted = (bitmap_u1024 << (1024 - bit_pos - 1)) & _U1024_MASK
        if shifted == 0:
            return False, -boundary
        leading_zeros = 1024 - shifted.bit_length()
        return True, (bit_pos - leading_zeros - TICK_ARRAY_BITMAP_SIZE) * mult
    shifted = bitmap_u1024 >> bit_pos
    if shifted == 0:
        return False, boundary - mult
    trailing_zeros = (shifted & -shifted).bit_length() - 1
    return True, (bit_pos + trailing_zeros - TICK_ARRAY_BITMAP_SIZE) * mult


def extension_bitmap_offset(start: int, tick_spacing: int) -> int:
    """Which of the 14 extension bitmaps holds array `start` (raises inside the default range)."""
    if not is_valid_start_index(start, tick_spacing):
        raise QuoteError(f"raydium tick array start {start} invalid (InvalidTickIndex)")
    per_bitmap = max_tick_in_bitmap(tick_spacing)
    if not (per_bitmap < MAX_TICK and -per_bitmap > MIN_TICK):
        raise QuoteError(f"raydium: tick spacing {tick_spacing} has no bitmap extension")
    if -per_bitmap <= start < per_bitmap:
        raise QuoteError(f"raydium tick array start {start} is inside the default bitmap")
    offset = abs(start) // per_bitmap - 1
    if start < 0 and abs(start) % per_bitmap == 0:
        offset -= 1
    return offset


def extension_offset_in_bitmap(start: int, tick_spacing: int) -> int:
    """Bit position of array `start` inside its 512-bit extension bitmap."""
    m = abs(start) % max_tick_in_bitmap(tick_spacing)
    off = m // tick_count(tick_spacing)
    if start < 0 and m != 0:
        off = TICK_ARRAY_BITMAP_SIZE - off
    return off


def bitmap_tick_boundary(start: int, tick_spacing: int) -> tuple[int, int]:
    """[min, max) tick range of the 512-array bitmap holding array `start`."""
    per_bitmap = max_tick_in_bitmap(tick_spacing)
    m = abs(start) // per_bitmap
    if start < 0 and abs(start) % per_bitmap != 0:
        m += 1
    lo = per_bitmap * m
    return (-lo, -lo + per_bitmap) if start < 0 else (lo, lo + per_bitmap)


def extension_next_in_bitmap(
    bitmap_u512: int, next_start: int, tick_spacing: int, zero_for_one: bool
) -> tuple[bool, int]:
    """Search one 512-bit extension bitmap from next_start: (found, start or resume index)."""
    lo, hi = bitmap_tick_boundary(next_start, tick_spacing)
    off = extension_offset_in_bitmap(next_start, tick_spacing)
    mult = tick_count(tick_spacing)
    if zero_for_one:
        shifted = (bitmap_u512 << (TICK_ARRAY_BITMAP_SIZE - 1 - off)) & _U512_MASK
        if shifted == 0:
            return False, lo
        return True, next_start - (512 - shifted.bit_length()) * mult
    shifted = bitmap_u512 >> off
    if shifted == 0:
        return False, hi - mult
    return True, next_start + ((shifted & -shifted).bit_length() - 1) * mult
