"""Orca Whirlpool integer math (tick <-> Q64.64 sqrt price, token deltas, one swap step).

Every function reproduces the Whirlpool program's arithmetic to the unit: Python ints stand in
for u64/u128/U256, and every place where the program would overflow or error raises
`QuoteError` instead. Q64.64 means an int scaled by 2**64. Fee rates are per 1e6 (hundredths
of a basis point). The generic helpers (`mul_div_floor`, `mul_div_ceil`, `check_u64`,
`check_u128`) are venue-neutral and may be used by other CLMM venues.
"""

from __future__ import annotations

from math import floor, log
from typing import NamedTuple

from operators.clmm.types import QuoteError

__all__ = [
    "FEE_RATE_DENOMINATOR",
    "MAX_SQRT_PRICE_X64",
    "MAX_TICK_INDEX",
    "MIN_SQRT_PRICE_X64",
    "MIN_TICK_INDEX",
    "PROTOCOL_FEE_RATE_DENOMINATOR",
    "Q64",
    "U64_MAX",
    "U128_MAX",
    "SwapStep",
    "amount_delta_a",
    "amount_delta_b",
    "apply_swap_fee",
    "check_u64",
    "check_u128",
    "compute_swap_step",
    "mul_div_ceil",
    "mul_div_floor",
    "next_sqrt_price_from_a",
    "next_sqrt_price_from_b",
    "sqrt_price_from_tick_index",
    "swap_fee_on_input",
    "swap_step_tuple",
    "tick_index_from_sqrt_price",
    "tick_index_from_sqrt_price_log2",
]

Q64 = 1 << 64
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
_U256_LIMIT = 1 << 256

MIN_TICK_INDEX = -443636
MAX_TICK_INDEX = 443636
MIN_SQRT_PRICE_X64 = 4295048016
MAX_SQRT_PRICE_X64 = 79226673515401279992447579055
FEE_RATE_DENOMINATOR = 1_000_000
PROTOCOL_FEE_RATE_DENOMINATOR = 10_000

# The program's sqrt(1.0001)^(±2^i) factors. They are fixed constants of the on-chain program
# (not recomputed here) because any other rounding of them would change prices by a unit.
# Positive ticks: Q96 factors, product shifted right by 96 each time, result >> 32.
_POS_BASE_EVEN = 79228162514264337593543950336
_POS_BASE_ODD = 79232123823359799118286999567
_POS_FACTORS = (
    (2, 79236085330515764027303304731),
    (4, 79244008939048815603706035061),
    (8, 79259858533276714757314932305),
    (16, 79291567232598584799939703904),
    (32, 79355022692464371645785046466),
    (64, 79482085999252804386437311141),
    (128, 79736823300114093921829183326),
    (256, 80248749790819932309965073892),
    (512, 81282483887344747381513967011),
    (1024, 83390072131320151908154831281),
    (2048, 87770609709833776024991924138),
    (4096, 97234110755111693312479820773),
    (8192, 119332217159966728226237229890),
    (16384, 179736315981702064433883588727),
    (32768, 407748233172238350107850275304),
    (65536, 2098478828474011932436660412517),
    (131072, 55581415166113811149459800483533),
    (262144, 38992368544603139932233054999993551),
)
# Negative ticks: Q64 factors of 1/sqrt(1.0001)^(2^i), product shifted right by 64 each time.
_NEG_BASE_EVEN = 18446744073709551616
_NEG_BASE_ODD = 18445821805675392311
_NEG_FACTORS = (
    (2, 18444899583751176498),
    (4, 18443055278223354162),
    (8, 18439367220385604838),
    (16, 18431993317065449817),
    (32, 18417254355718160513),
    (64, 18387811781193591352),
    (128, 18329067761203520168),
    (256, 18212142134806087854),
    (512, 17980523815641551639),
    (1024, 17526086738831147013),
    (2048, 16651378430235024244),
    (4096, 15030750278693429944),
    (8192, 12247334978882834399),
    (16384, 8131365268884726200),
    (32768, 3584323654723342297),
    (65536, 696457651847595233),
    (131072, 26294789957452057),
    (262144, 37481735321082),
)
# log_b(2) in Q32 with b = sqrt(1.0001), and the program's error margins of its 14-bit log2.
_LOG_B_2_X32 = 59543866431248
_LOG2_BIT_PRECISION = 14
_LOG_B_P_ERR_MARGIN_LOWER_X64 = 184467440737095516
_LOG_B_P_ERR_MARGIN_UPPER_X64 = 15793534762490258745

_LOG2_FRACTION_BITS = tuple(1 << (63 - i) for i in range(_LOG2_BIT_PRECISION))
_INV_Q64_FLOAT = 2.0**-64
_INV_LOG_SQRT_BASE = 2.0 / log(1.0001)
"""1 / ln(sqrt(1.0001)): a tick estimate from a price (an estimate only, see the tick search)."""

_SQRT_PRICE_CACHE: dict[int, int] = {}


# ---------------------------------------------------------------- generic helpers


def check_u64(value: int, what: str) -> int:
    """`value` if it fits in u64 (base units), else QuoteError naming `what`."""
    if value < 0 or value > U64_MAX:
        raise QuoteError(f"{what} = {value} does not fit in u64")
    return value


def check_u128(value: int, what: str) -> int:
    """`value` if it fits in u128 (e.g. Q64.64 or liquidity), else QuoteError naming `what`."""
    if value < 0 or value > U128_MAX:
        raise QuoteError(f"{what} = {value} does not fit in u128")
    return value


def mul_div_floor(n0: int, n1: int, d: int) -> int:
    """floor(n0 * n1 / d) with the program's u128 product check (plain integers)."""
    if d == 0:
        raise QuoteError("mul_div: division by zero")
    p = n0 * n1
    if p > U128_MAX:
        raise QuoteError("mul_div: product overflows u128")
    return p // d


def mul_div_ceil(n0: int, n1: int, d: int) -> int:
    """ceil(n0 * n1 / d) with the program's u128 product check (plain integers)."""
    if d == 0:
        raise QuoteError("mul_div: division by zero")
    p = n0 * n1
    if p > U128_MAX:
        raise QuoteError("mul_div: product overflows u128")
    return -(-p // d)


# ---------------------------------------------------------------- ticks and prices


def sqrt_price_from_tick_index(tick: int) -> int:
    """Q64.64 sqrt price of a tick index, exactly as the program computes it."""
    cached = _SQRT_PRICE_CACHE.get(tick)
    if cached is not None:
        return cached
    if tick < MIN_TICK_INDEX or tick > MAX_TICK_INDEX:
        raise QuoteError(f"tick index {tick} outside [{MIN_TICK_INDEX}, {MAX_TICK_INDEX}]")
    if tick >= 0:
        ratio = _POS_BASE_ODD if tick & 1 else _POS_BASE_EVEN
        for bit, factor in _POS_FACTORS:
            if tick & bit:
                ratio = (ratio * factor) >> 96
        result = ratio >> 32
    else:
        abs_tick = -tick
        ratio = _NEG_BASE_ODD if abs_tick & 1 else _NEG_BASE_EVEN
        for bit, factor in _NEG_FACTORS:
            if abs_tick & bit:
                ratio = (ratio * factor) >> 64
        result = ratio
    if len(_SQRT_PRICE_CACHE) < 65536:  # bounded memo: a pure function of the tick
        _SQRT_PRICE_CACHE[tick] = result
    return result


def tick_index_from_sqrt_price(sqrt_price_x64: int) -> int:
    """Greatest tick whose sqrt price is <= the Q64.64 sqrt price (program's result, exactly).

    Why not the program's log2 loop on the hot path: inside the program's price bounds its
    result IS the greatest tick t with `sqrt_price_from_tick_index(t) <= sqrt_price_x64`
    (its error margins bracket that tick and are less than one tick apart; checked for every
    tick boundary, see `tests/unit/test_clmm_tick_search.py`). So a float estimate, corrected
    against the exact integer `sqrt_price_from_tick_index` until it brackets the price, gives
    the same int several times cheaper. Outside the bounds the program's loop decides.
    """
    if MIN_SQRT_PRICE_X64 <= sqrt_price_x64 <= MAX_SQRT_PRICE_X64:
        # The float only guesses; the integer comparisons below make the answer exact.
        tick = floor(log(sqrt_price_x64 * _INV_Q64_FLOAT) * _INV_LOG_SQRT_BASE)
        if tick < MIN_TICK_INDEX:
            tick = MIN_TICK_INDEX
        elif tick > MAX_TICK_INDEX:
            tick = MAX_TICK_INDEX
        price_of = sqrt_price_from_tick_index
        while price_of(tick) > sqrt_price_x64:
            tick -= 1
        while tick < MAX_TICK_INDEX and price_of(tick + 1) <= sqrt_price_x64:
            tick += 1
        return tick
    return tick_index_from_sqrt_price_log2(sqrt_price_x64)


def tick_index_from_sqrt_price_log2(sqrt_price_x64: int) -> int:
    """The program's own tick search (14-bit log2 with error margins) for a Q64.64 sqrt price."""
    if sqrt_price_x64 <= 0 or sqrt_price_x64 > U128_MAX:
        raise QuoteError(f"sqrt price {sqrt_price_x64} is not a positive u128")
    msb = sqrt_price_x64.bit_length() - 1
    log2p_integer_x32 = (msb - 64) << 32
    r = sqrt_price_x64 >> (msb - 63) if msb >= 64 else sqrt_price_x64 << (63 - msb)
    # 14 fraction bits of log2: square r (Q1.63); a result >= 2 yields a 1 bit and halves
    log2p_fraction_x64 = 0
    for bit in _LOG2_FRACTION_BITS:
        r *= r
        if r >> 127:
            r >>= 64
            log2p_fraction_x64 |= bit
        else:
            r >>= 63
    log2p_x32 = log2p_integer_x32 + (log2p_fraction_x64 >> 32)
    logbp_x64 = log2p_x32 * _LOG_B_2_X32
    tick_low = (logbp_x64 - _LOG_B_P_ERR_MARGIN_LOWER_X64) >> 64
    tick_high = (logbp_x64 + _LOG_B_P_ERR_MARGIN_UPPER_X64) >> 64
    if tick_low == tick_high:
        return tick_low
    if sqrt_price_from_tick_index(tick_high) <= sqrt_price_x64:
        return tick_high
    return tick_low


# ---------------------------------------------------------------- token amounts


def amount_delta_a(
    sqrt_price_0_x64: int, sqrt_price_1_x64: int, liquidity: int, round_up: bool
) -> int:
    """Token A (base units) between two Q64.64 sqrt prices; may exceed u64 (caller checks).

    Raises QuoteError where the program's U256 numerator would overflow.
    """
    lower, upper = (
        (sqrt_price_0_x64, sqrt_price_1_x64)
        if sqrt_price_0_x64 <= sqrt_price_1_x64
        else (sqrt_price_1_x64, sqrt_price_0_x64)
    )
    numerator = (liquidity * (upper - lower)) << 64
    if numerator >= _U256_LIMIT:
        raise QuoteError("amount_delta_a: liquidity * price diff << 64 overflows U256")
    denominator = upper * lower
    quotient, remainder = divmod(numerator, denominator)
    if round_up and remainder:
        quotient += 1
    return quotient


def amount_delta_b(
    sqrt_price_0_x64: int, sqrt_price_1_x64: int, liquidity: int, round_up: bool
) -> int:
    """Token B (base units) between two Q64.64 sqrt prices; may exceed u64 (caller checks)."""
    diff = sqrt_price_1_x64 - sqrt_price_0_x64
    if diff < 0:
        diff = -diff
    p = liquidity * diff
    result = p >> 64
    if round_up and p & U64_MAX:
        result += 1
    return result


def next_sqrt_price_from_a(sqrt_price_x64: int, liquidity: int, amount: int, is_input: bool) -> int:
    """Q64.64 sqrt price after adding (input) / removing (output) `amount` of token A; rounds up."""
    if amount == 0:
        return sqrt_price_x64
    product = sqrt_price_x64 * amount
    numerator = (liquidity * sqrt_price_x64) << 64
    if numerator >= _U256_LIMIT:
        raise QuoteError("next_sqrt_price_from_a: liquidity * sqrt price << 64 overflows U256")
    liquidity_x64 = liquidity << 64
    if is_input:
        denominator = liquidity_x64 + product
    else:
        if liquidity_x64 <= product:
            raise QuoteError("next_sqrt_price_from_a: output exceeds what the liquidity holds")
        denominator = liquidity_x64 - product
    price = -(-numerator // denominator)
    if price > U128_MAX:
        raise QuoteError("next_sqrt_price_from_a: price overflows u128")
    if price < MIN_SQRT_PRICE_X64 or price > MAX_SQRT_PRICE_X64:
        raise QuoteError(f"next_sqrt_price_from_a: price {price} outside the program's bounds")
    return price


def next_sqrt_price_from_b(sqrt_price_x64: int, liquidity: int, amount: int, is_input: bool) -> int:
    """Q64.64 sqrt price after adding (input) / removing (output) `amount` of token B; floor."""
    if liquidity == 0:
        raise QuoteError("next_sqrt_price_from_b: zero liquidity")
    amount_x64 = amount << 64
    delta, remainder = divmod(amount_x64, liquidity)
    if not is_input and remainder:
        delta += 1
    price = sqrt_price_x64 + delta if is_input else sqrt_price_x64 - delta
    if price < 0 or price > U128_MAX:
        raise QuoteError("next_sqrt_price_from_b: sqrt price out of u128 bounds")
    return price


# ---------------------------------------------------------------- fees and one step


def apply_swap_fee(amount: int, fee_rate: int) -> int:
    """Part of an input `amount` (base units) left after the fee at `fee_rate` per 1e6, floor."""
    return amount * (FEE_RATE_DENOMINATOR - fee_rate) // FEE_RATE_DENOMINATOR


def swap_fee_on_input(amount_in: int, fee_rate: int) -> int:
    """Fee (base units) charged on a net input `amount_in`, rounded up, at `fee_rate` per 1e6."""
    return -(-(amount_in * fee_rate) // (FEE_RATE_DENOMINATOR - fee_rate))


class SwapStep(NamedTuple):
    """One swap step toward a target sqrt price (amounts in base units, price Q64.64)."""

    amount_in: int
    amount_out: int
    next_sqrt_price: int
    fee_amount: int


def compute_swap_step(
    amount_remaining: int,
    fee_rate: int,
    liquidity: int,
    sqrt_price_current: int,
    sqrt_price_target: int,
    is_input: bool,
    a_to_b: bool,
    known_fixed: int = -1,
) -> SwapStep:
    """The program's `compute_swap`: one step of at most `amount_remaining` toward the target.

    `known_fixed`, when >= 0, is the already computed amount of the specified token needed to
    reach the target from the current price (saves recomputing it; same value).
    """
    return SwapStep._make(
        swap_step_tuple(
            amount_remaining,
            fee_rate,
            liquidity,
            sqrt_price_current,
            sqrt_price_target,
            is_input,
            a_to_b,
            known_fixed,
        )
    )


def swap_step_tuple(
    amount_remaining: int,
    fee_rate: int,
    liquidity: int,
    sqrt_price_current: int,
    sqrt_price_target: int,
    is_input: bool,
    a_to_b: bool,
    known_fixed: int = -1,
) -> tuple[int, int, int, int]:
    """`compute_swap_step` as a plain (amount_in, amount_out, next_sqrt_price, fee) tuple.

    The swap loop runs one step per tick range per size; a plain tuple spares it building a
    `SwapStep` it unpacks at once.
    """
    fixed_is_a = a_to_b == is_input
    # amount of the "specified" token needed to reach the target (input rounds up, output down)
    if known_fixed >= 0:
        initial_fixed = known_fixed
    elif fixed_is_a:
        initial_fixed = amount_delta_a(sqrt_price_current, sqrt_price_target, liquidity, is_input)
    else:
        initial_fixed = amount_delta_b(sqrt_price_current, sqrt_price_target, liquidity, is_input)
    fixed_exceeds = initial_fixed > U64_MAX

    amount_calc = apply_swap_fee(amount_remaining, fee_rate) if is_input else amount_remaining

    if not fixed_exceeds and initial_fixed <= amount_calc:
        next_price = sqrt_price_target
    elif fixed_is_a:
        next_price = next_sqrt_price_from_a(sqrt_price_current, liquidity, amount_calc, is_input)
    else:
        next_price = next_sqrt_price_from_b(sqrt_price_current, liquidity, amount_calc, is_input)
    is_max_swap = next_price == sqrt_price_target

    if fixed_is_a:
        unfixed = amount_delta_b(sqrt_price_current, next_price, liquidity, not is_input)
    else:
        unfixed = amount_delta_a(sqrt_price_current, next_price, liquidity, not is_input)
    if unfixed > U64_MAX:
        raise QuoteError("swap step: unspecified token amount exceeds u64")

    if not is_max_swap or fixed_exceeds:
        if fixed_is_a:
            fixed = amount_delta_a(sqrt_price_current, next_price, liquidity, is_input)
        else:
            fixed = amount_delta_b(sqrt_price_current, next_price, liquidity, is_input)
        if fixed > U64_MAX:
            raise QuoteError("swap step: specified token amount exceeds u64")
    else:
        fixed = initial_fixed

    if is_input:
        amount_in, amount_out = fixed, unfixed
    else:
        amount_in, amount_out = unfixed, fixed
        if amount_out > amount_remaining:
            amount_out = amount_remaining

    if is_input and not is_max_swap:
        fee_amount = amount_remaining - amount_in
    else:
        fee_amount = swap_fee_on_input(amount_in, fee_rate)
        if fee_amount > U64_MAX:
            raise QuoteError("swap step: fee exceeds u64")
    return amount_in, amount_out, next_price, fee_amount
