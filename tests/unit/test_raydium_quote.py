"""Exact Raydium CLMM quotes: hand-derived cases, the real carbon pool, invariants."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, getcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.solana import raydium_clmm as rc
from operators.clmm import raydium_math as rm
from operators.clmm.raydium import (
    next_initialized_tick_array_start,
    quote_curve_raydium,
    quote_swap_raydium,
)
from operators.clmm.raydium_accounts import (
    RaydiumTickArray,
    TickArrayBitmapExtension,
)
from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote
from tests.conftest import load_account
from tests.unit.raydium_pools import (
    ACCOUNTS,
    CARBON,
    CARBON_CONFIG,
    CARBON_POOL,
    CONFIG,
    CONFIG_OWNER,
    POOL,
    POSITIONS,
    Q64,
    make_pool,
    tick_state,
)

getcontext().prec = 50
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _quote(amount: int, a_to_b: bool, exact_in: bool = True) -> SwapQuote:
    return quote_swap_raydium(
        POOL, ACCOUNTS, amount, a_to_b=a_to_b, exact_in=exact_in, amm_config=CONFIG
    )


# ---- tick math -----------------------------------------------------------------------


def test_sqrt_price_at_tick_hits_the_program_constants() -> None:
    assert rm.sqrt_price_at_tick(0) == Q64
    assert rm.sqrt_price_at_tick(rm.MIN_TICK) == rm.MIN_SQRT_PRICE_X64
    assert rm.sqrt_price_at_tick(rm.MAX_TICK) == rm.MAX_SQRT_PRICE_X64
    # Raydium's Q64 factors are truncated, so these sit a few units under Uniswap's values.
    assert rm.sqrt_price_at_tick(1) == 18447666387855957090
    assert rm.sqrt_price_at_tick(-1) == 18445821805675395072
    with pytest.raises(QuoteError):
        rm.sqrt_price_at_tick(rm.MAX_TICK + 1)


@FAST
@given(st.integers(rm.MIN_TICK, rm.MAX_TICK - 1))
def test_tick_at_sqrt_price_inverts_sqrt_price_at_tick(tick: int) -> None:
    sqrt = rm.sqrt_price_at_tick(tick)
    exact = Decimal("1.0001") ** (Decimal(tick) / 2) * Q64
    # Raydium's truncated constants: identical to the SDK, within 1e-10 of the true value. For
    # positive ticks the program inverts a Q64.64 ratio of ~exact/2^128 units, so near MAX_TICK
    # the result is only good to about 2 * exact / 2^128 relative (1.7e-10 at tick 438,362).
    # Near MIN_TICK the Q64.64 result is a few billion units, so its truncation to an integer
    # alone is ~1e-10 relative (1.16e-10 at tick -430,434): one unit is allowed on top.
    tolerance = Decimal("1e-10") + 2 * exact / Decimal(2**128) + 1 / exact
    assert abs(Decimal(sqrt) - exact) / exact < tolerance
    assert rm.tick_at_sqrt_price(sqrt) == tick
    assert rm.tick_at_sqrt_price(rm.sqrt_price_at_tick(tick + 1) - 1) == tick


# ---- hand-derived single-step cases ---------------------------------------------------


def test_exact_in_token1_within_one_range_matches_the_closed_form() -> None:
    pool, accounts = make_pool(10, 0, [(-600, 600, 10**12)])
    q = quote_swap_raydium(pool, accounts, 1_000_000, a_to_b=False, amm_config=CONFIG)
    less_fee = 1_000_000 * (10**6 - 2500) // 10**6  # 997500
    step = less_fee * Q64 // 10**12  # sqrt price rise, rounded down
    after = Q64 + step
    amount_in = -(-(10**12) * step // Q64)
    assert (after, amount_in) == (18446762474336765141, 997500)
    assert q == SwapQuote(
        amount_in=1_000_000,
        amount_out=10**12 * step // after,  # 997499
        fee_amount=1_000_000 - amount_in,  # 2500
        sqrt_price_after=after,
        tick_after=0,
        ticks_crossed=0,
    )
    assert q.amount_out == 997499


def test_exact_out_token1_within_one_range_matches_the_closed_form() -> None:
    pool, accounts = make_pool(10, 0, [(-600, 600, 10**12)])
    q = quote_swap_raydium(pool, accounts, 500_000, a_to_b=True, exact_in=False, amm_config=CONFIG)
    drop = -(-500_000 * Q64 // 10**12)  # sqrt price fall, rounded up
    after = Q64 - drop
    amount_in = -(-(10**12) * drop * Q64 // (after * Q64))  # 500001
    fee = -(-amount_in * 2500 // (10**6 - 2500))  # 1254
    assert q == SwapQuote(501_255, 500_000, 1254, after, -1, 0)
    assert (amount_in, fee, after) == (500_001, 1254, 18446734850337514761)


def test_swaps_crossing_ticks_and_arrays_have_fixed_expected_values() -> None:
    # Regression values; the SDK oracle test below checks the same walk to the unit.
    assert _quote(6 * 10**10, a_to_b=True) == SwapQuote(
        60_000_000_000, 59_635_964_409, 150_000_002, 18352558182796029209, -103, 2
    )
    assert _quote(8 * 10**10, a_to_b=False) == SwapQuote(
        80_000_000_000, 79_411_394_186, 200_000_002, 18549437686613386978, 111, 2
    )
    assert _quote(5 * 10**10, a_to_b=True, exact_in=False) == SwapQuote(
        50_259_073_166, 50_000_000_000, 125_647_684, 18384938393438147509, -68, 1
    )


def test_real_carbon_pool_quote_within_its_tick_array(fixtures: Path) -> None:
    raw = load_account(fixtures / CARBON / CARBON_POOL)[1]
    cfg = rc.decode_amm_config(load_account(fixtures / CARBON / CARBON_CONFIG)[1])
    real = rc.decode_pool_state(raw)
    # The real pool's tick 71168 lies past the default bitmap: its array (71160) is found through
    # the bitmap extension. One position spanning the array carries the pool's real liquidity.
    pool, accounts = make_pool(
        1,
        real.tick_current,
        [(71160, 71219, real.liquidity)],
        sqrt_price_x64=real.sqrt_price_x64,
        base=real,
    )
    assert (pool.liquidity, pool.sqrt_price_x64) == (3464101788356, 647525941329892376628)
    q = quote_swap_raydium(pool, accounts, 10**7, a_to_b=True, amm_config=cfg)
    sqrt, liq = real.sqrt_price_x64, real.liquidity
    less_fee = 10**7 * (10**6 - cfg.trade_fee_rate) // 10**6
    after = -(-(liq * Q64 * sqrt) // (liq * Q64 + less_fee * sqrt))
    amount_in = -(-(liq * (sqrt - after) * Q64) // (after * sqrt))
    expected_out = liq * (sqrt - after) // Q64
    assert q == SwapQuote(
        10**7, expected_out, 10**7 - amount_in, after, rm.tick_at_sqrt_price(after), 0
    )
    assert (q.amount_out, q.fee_amount, q.tick_after) == (12_319_340_693, 1000, 71166)


def test_missing_tick_array_raises_insufficient_liquidity_naming_its_start() -> None:
    accounts = [a for a in ACCOUNTS if getattr(a, "start_tick_index", None) != -120]
    with pytest.raises(InsufficientLiquidity, match="start_index=-120"):
        quote_swap_raydium(POOL, accounts, 6 * 10**10, a_to_b=True, amm_config=CONFIG)


def test_running_out_of_liquidity_without_limit_is_refused() -> None:
    with pytest.raises(InsufficientLiquidity):
        _quote(10**15, a_to_b=False)


def test_price_limit_allows_a_partial_fill_that_stops_at_the_limit() -> None:
    limit = rm.sqrt_price_at_tick(-50)
    q = quote_swap_raydium(
        POOL, ACCOUNTS, 10**12, a_to_b=True, sqrt_price_limit=limit, amm_config=CONFIG
    )
    assert q.sqrt_price_after == limit and q.tick_after == -50 and q.amount_in < 10**12
    assert q == SwapQuote(40_789_105_576, 40_608_863_100, 101_972_765, limit, -50, 1)


def test_bad_inputs_raise_quote_error() -> None:
    with pytest.raises(QuoteError, match="AmmConfig"):
        quote_swap_raydium(POOL, ACCOUNTS, 10, a_to_b=True)
    with pytest.raises(QuoteError, match="TooSmall"):
        _quote(1, a_to_b=True)
    with pytest.raises(QuoteError, match="u64"):
        _quote(0, a_to_b=True)
    with pytest.raises(QuoteError, match="SqrtPriceLimitOverflow"):
        quote_swap_raydium(
            POOL, ACCOUNTS, 10, a_to_b=True, sqrt_price_limit=Q64 * 2, amm_config=CONFIG
        )
    with pytest.raises(QuoteError, match="disables swaps"):
        quote_swap_raydium(
            replace(POOL, status=16), ACCOUNTS, 10**6, a_to_b=True, amm_config=CONFIG
        )
    dyn = replace(POOL, padding1=(1, *POOL.padding1[1:]))
    with pytest.raises(QuoteError, match="dynamic fee"):
        quote_swap_raydium(dyn, ACCOUNTS, 10**6, a_to_b=True, amm_config=CONFIG)


def test_shared_clmm_entry_points_delegate_raydium_pools_here() -> None:
    from operators.clmm import quote_curve, quote_swap

    got = quote_swap(POOL, ACCOUNTS, 10**9, a_to_b=False, amm_config=CONFIG)
    assert got == _quote(10**9, a_to_b=False)
    curve = quote_curve(POOL, ACCOUNTS, [10**6, 10**9], a_to_b=True, amm_config=CONFIG)
    assert curve == [_quote(10**6, True), _quote(10**9, True)]
    with pytest.raises(QuoteError, match="unsupported pool type"):
        quote_swap_raydium(object(), ACCOUNTS, 10, a_to_b=True, amm_config=CONFIG)  # type: ignore[arg-type]


def test_tick_arrays_from_two_pools_are_refused() -> None:
    first = ACCOUNTS[0]
    assert isinstance(first, RaydiumTickArray)
    other = replace(first, pool_id=CONFIG_OWNER)
    with pytest.raises(QuoteError, match="several pools"):
        quote_swap_raydium(POOL, [other, *ACCOUNTS[1:]], 10**6, a_to_b=True, amm_config=CONFIG)


def test_curve_keeps_order_and_reports_errors_per_size() -> None:
    amounts = [10**9, 0, 10**15, 10**6]
    curve = quote_curve_raydium(POOL, ACCOUNTS, amounts, a_to_b=True, amm_config=CONFIG)
    assert curve[0] == _quote(10**9, True) and curve[3] == _quote(10**6, True)
    assert type(curve[1]) is QuoteError and "u64" in str(curve[1])
    assert isinstance(curve[2], InsufficientLiquidity)


def test_tick_with_limit_orders_is_refused_when_the_swap_reaches_it() -> None:
    pool, accounts = make_pool(1, 3, [(-20, 95, 10**10)])
    arr = next(a for a in accounts if isinstance(a, RaydiumTickArray) and a.start_tick_index == -60)
    ticks = list(arr.ticks)
    ticks[40] = tick_state(-20, 10**10, 10**10, (0, 0, 5, 0) + (0,) * 9)  # orders_amount = 5
    accounts = [a for a in accounts if a is not arr] + [replace(arr, ticks=tuple(ticks))]
    small = quote_swap_raydium(pool, accounts, 10**6, a_to_b=True, amm_config=CONFIG)
    assert small.ticks_crossed == 0
    with pytest.raises(QuoteError, match="limit orders"):
        quote_swap_raydium(pool, accounts, 10**9, a_to_b=True, amm_config=CONFIG)


# ---- tick array navigation -------------------------------------------------------------


def test_next_initialized_tick_array_start_walks_bitmap_and_extension() -> None:
    pool, accounts = make_pool(1, 100, [(-40000, 35000, 10**9), (-120, 300, 10**9)])
    ext = next(a for a in accounts if isinstance(a, TickArrayBitmapExtension))
    assert next_initialized_tick_array_start(pool, ext, 60, True) == -120
    assert next_initialized_tick_array_start(pool, ext, -120, True) == -40020
    assert next_initialized_tick_array_start(pool, ext, -40020, True) is None
    assert next_initialized_tick_array_start(pool, ext, 60, False) == 300
    assert next_initialized_tick_array_start(pool, ext, 300, False) == 34980
    assert next_initialized_tick_array_start(pool, ext, 34980, False) is None
    with pytest.raises(InsufficientLiquidity, match="TickArrayBitmapExtension"):
        next_initialized_tick_array_start(pool, None, -120, True)
    wide, _ = make_pool(60, 0, [(-443580, 3600, 10**9)])
    assert next_initialized_tick_array_start(wide, None, 0, False) == 3600
    assert next_initialized_tick_array_start(wide, None, 3600, False) is None


# ---- invariants -------------------------------------------------------------------------

_AMOUNT = st.integers(1_000, 75 * 10**9)


@FAST
@given(_AMOUNT, _AMOUNT, st.booleans())
def test_more_in_never_gives_less_out_and_price_moves_with_the_trade(
    a: int, b: int, a_to_b: bool
) -> None:
    small, large = sorted((a, b))
    try:
        q_large = _quote(large, a_to_b)
    except InsufficientLiquidity:
        return
    q_small = _quote(small, a_to_b)
    assert q_small.amount_out <= q_large.amount_out
    assert q_small.amount_in == small and q_large.amount_in == large
    if a_to_b:
        assert q_large.sqrt_price_after <= q_small.sqrt_price_after <= POOL.sqrt_price_x64
        assert q_large.tick_after <= POOL.tick_current
    else:
        assert q_large.sqrt_price_after >= q_small.sqrt_price_after >= POOL.sqrt_price_x64
        assert q_large.tick_after >= POOL.tick_current


def _max_out(a_to_b: bool) -> int:
    """Every unit of the output token the positions hold on the far side of the price."""
    total = 0
    for lo, hi, liq in POSITIONS:
        sa, sb, sp = rm.sqrt_price_at_tick(lo), rm.sqrt_price_at_tick(hi), POOL.sqrt_price_x64
        if a_to_b:  # token1 below the price
            top = min(sp, sb)
            total += liq * (top - sa) // Q64 if top > sa else 0
        else:  # token0 above the price
            low = max(sp, sa)
            total += liq * (sb - low) * Q64 // (low * sb) if sb > low else 0
    return total


@FAST
@given(st.integers(1_000, 10**14), st.booleans())
def test_output_never_exceeds_what_the_positions_hold(amount: int, a_to_b: bool) -> None:
    try:
        q = _quote(amount, a_to_b)
    except InsufficientLiquidity:
        return
    assert q.amount_out <= _max_out(a_to_b)
    # fee is 0.25 % of the input, rounded up once per step (at most one unit per step off)
    assert (
        amount * 2500 // 10**6 <= q.fee_amount <= amount * 2500 // 10**6 + 2 * (q.ticks_crossed + 2)
    )


@FAST
@given(_AMOUNT, st.booleans())
def test_exact_out_of_an_exact_in_result_costs_no_more_input(amount: int, a_to_b: bool) -> None:
    try:
        q_in = _quote(amount, a_to_b)
    except InsufficientLiquidity:
        return
    q_out = _quote(q_in.amount_out, a_to_b, exact_in=False)
    assert q_out.amount_out == q_in.amount_out
    assert q_out.amount_in <= q_in.amount_in
    assert _quote(q_out.amount_in, a_to_b).amount_out >= q_in.amount_out


@FAST
@given(st.lists(st.integers(1, 95 * 10**9), min_size=1, max_size=16), st.booleans(), st.booleans())
def test_curve_equals_one_quote_per_size(amounts: list[int], a_to_b: bool, exact_in: bool) -> None:
    curve = quote_curve_raydium(
        POOL, ACCOUNTS, amounts, a_to_b=a_to_b, exact_in=exact_in, amm_config=CONFIG
    )
    for amount, got in zip(amounts, curve, strict=True):
        try:
            want: SwapQuote | QuoteError = _quote(amount, a_to_b, exact_in)
        except QuoteError as exc:
            want = exc
        if isinstance(want, QuoteError):
            assert type(got) is type(want) and str(got) == str(want)
        else:
            assert got == want


@pytest.mark.parametrize("fee_on", [1, 2])
@pytest.mark.parametrize("a_to_b", [True, False])
def test_fee_on_one_token_charges_the_output_when_it_is_the_output(
    fee_on: int, a_to_b: bool
) -> None:
    pool, accounts = make_pool(1, 3, POSITIONS, fee_on=fee_on)
    q = quote_swap_raydium(pool, accounts, 10**9, a_to_b=a_to_b, amm_config=CONFIG)
    fee_on_input = (fee_on == 1) == a_to_b
    plain = _quote(10**9, a_to_b)
    assert q.amount_in == 10**9
    if fee_on_input:
        assert q == plain
    else:  # the whole input moves the price; the fee comes out of the output
        assert (
            q.amount_out < plain.amount_out * 1.01 and q.sqrt_price_after != plain.sqrt_price_after
        )
        assert q.fee_amount == -(-(q.amount_out + q.fee_amount) * 2500 // 10**6)
