"""Orca Whirlpool exact quotes: hand-derived cases on the real SOL/USDC pool, invariants, edges."""

from __future__ import annotations

from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.solana import orca
from operators.clmm import InsufficientLiquidity, QuoteError, SwapQuote, quote_curve, quote_swap
from operators.clmm.accounts import TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index, tick_index_from_sqrt_price
from tests.conftest import FIXTURES
from tests.unit.orca_helpers import SOL_USDC, load_pool, synth_arrays, synth_pool

Q64 = 1 << 64
L0 = 179999872843830  # SOL/USDC pool liquidity (expected.json)
P0 = 3706015876595606636  # SOL/USDC pool sqrt price Q64.64 (expected.json)
FEE = 2000  # per 1e6


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


@pytest.fixture
def sol_usdc(fixtures: Path) -> tuple[Whirlpool, list[TickArray], dict[str, int]]:
    return load_pool(fixtures / SOL_USDC)


_POOL_CACHE: dict[str, tuple[Whirlpool, list[TickArray], dict[str, int]]] = {}


def _cached_pool() -> tuple[Whirlpool, list[TickArray], dict[str, int]]:
    """The SOL/USDC pool for Hypothesis tests (fixtures cannot be function-scoped there)."""
    if not (FIXTURES / SOL_USDC).is_dir():
        pytest.skip(f"real venue fixtures not found at {FIXTURES} (../shared is absent here)")
    if "p" not in _POOL_CACHE:
        _POOL_CACHE["p"] = load_pool(FIXTURES / SOL_USDC)
    return _POOL_CACHE["p"]


# ---------------------------------------------------------------- hand-derived cases


def test_exact_in_one_sol_within_one_range_matches_hand_formulas(sol_usdc) -> None:  # type: ignore[no-untyped-def]
    pool, arrays, _ = sol_usdc
    assert (pool.liquidity, pool.sqrt_price) == (L0, P0)
    amount = 1_000_000_000
    net_in = amount * (1_000_000 - FEE) // 1_000_000  # fee taken off the input first
    # new price from a token A input: L*P / (L + x*P) in Q64, rounded up
    p1 = _ceil_div(L0 * P0 * Q64, L0 * Q64 + net_in * P0)
    a_used = _ceil_div(L0 * (P0 - p1) * Q64, P0 * p1)  # token A actually taken, rounded up
    b_out = L0 * (P0 - p1) // Q64  # token B paid out, rounded down
    assert (net_in, p1, a_used, b_out) == (
        998_000_000,
        3706011748472047223,
        998_000_000,
        40_281_456,
    )
    q = quote_swap(pool, arrays, amount, a_to_b=True)
    assert q == SwapQuote(amount, b_out, amount - a_used, p1, -32101, 0)


def test_exact_in_crossing_tick_minus_32128_matches_hand_formulas(sol_usdc) -> None:  # type: ignore[no-untyped-def]
    pool, arrays, _ = sol_usdc
    t1, net1 = -32128, 288954795835  # first initialized tick below -32101 (ta_n33792)
    p1 = sqrt_price_from_tick_index(t1)
    assert p1 == 3700870997177468019
    assert abs(p1 - 1.0001 ** (t1 / 2) * Q64) < p1 * 1e-12
    # step 1: the whole range [P0 -> p1] at L0
    in1 = _ceil_div(L0 * (P0 - p1) * Q64, P0 * p1)
    fee1 = _ceil_div(in1 * FEE, 1_000_000 - FEE)
    out1 = L0 * (P0 - p1) // Q64
    # crossing a->b subtracts liquidity_net
    l1 = L0 - net1
    # step 2: 10 SOL more, partial range at l1
    rest = 10_000_000_000
    net2 = rest * (1_000_000 - FEE) // 1_000_000
    p2 = _ceil_div(l1 * p1 * Q64, l1 * Q64 + net2 * p1)
    in2 = _ceil_div(l1 * (p1 - p2) * Q64, p1 * p2)
    out2 = l1 * (p1 - p2) // Q64
    fee2 = rest - in2
    amount = in1 + fee1 + rest
    q = quote_swap(pool, arrays, amount, a_to_b=True)
    assert sqrt_price_from_tick_index(-32192) < p2 < p1
    assert q == SwapQuote(amount, out1 + out2, fee1 + fee2, p2, tick_index_from_sqrt_price(p2), 1)
    assert (in1, fee1, out1, out2, p2, q.tick_after) == (
        1245534893849,
        2496061912,
        50202769516,
        401692896,
        3700829764701802571,
        -32129,
    )


def test_exact_out_one_sol_b_to_a_matches_hand_formulas(sol_usdc) -> None:  # type: ignore[no-untyped-def]
    pool, arrays, _ = sol_usdc
    want_a = 1_000_000_000
    # removing token A raises the price: L*P / (L - y*P), rounded up
    p1 = _ceil_div(L0 * P0 * Q64, L0 * Q64 - want_a * P0)
    b_in = _ceil_div(L0 * (p1 - P0), Q64)  # token B needed, rounded up
    fee = _ceil_div(b_in * FEE, 1_000_000 - FEE)
    a_out = L0 * (p1 - P0) * Q64 // (P0 * p1)  # rounded down, then capped at the request
    assert a_out >= want_a
    q = quote_swap(pool, arrays, want_a, a_to_b=False, exact_in=False)
    assert q == SwapQuote(b_in + fee, want_a, fee, p1, tick_index_from_sqrt_price(p1), 0)
    assert (b_in, fee) == (40362271, 80887)


# ---------------------------------------------------------------- tick math


@given(st.integers(-443636, 443636))
def test_sqrt_price_of_tick_is_close_to_exact_and_inverts(tick: int) -> None:
    p = sqrt_price_from_tick_index(tick)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal("1.0001") ** (Decimal(tick) / 2) * Q64
        # the program's fixed-point factors: ~1e-15 relative, plus truncation near tiny prices
        assert abs(p - exact) <= exact * Decimal("1e-15") + 20
    assert tick_index_from_sqrt_price(p) == tick


@given(st.integers(4295048016, 79226673515401279992447579055))
def test_tick_of_any_sqrt_price_brackets_it(p: int) -> None:
    t = tick_index_from_sqrt_price(p)
    assert sqrt_price_from_tick_index(t) <= p
    assert t == 443636 or p < sqrt_price_from_tick_index(t + 1)


def test_price_bounds_are_the_extreme_ticks() -> None:
    assert sqrt_price_from_tick_index(-443636) == 4295048016
    assert sqrt_price_from_tick_index(443636) == 79226673515401279992447579055
    assert sqrt_price_from_tick_index(0) == Q64
    with pytest.raises(QuoteError, match="outside"):
        sqrt_price_from_tick_index(443637)


# ---------------------------------------------------------------- invariants on the real pool

_sizes = st.integers(1, 3 * 10**12)


@settings(max_examples=60, deadline=None)
@given(_sizes, _sizes, st.booleans(), st.booleans())
def test_quotes_are_monotonic_in_size(x: int, y: int, a_to_b: bool, exact_in: bool) -> None:
    pool, arrays, _ = _cached_pool()
    lo, hi = sorted((x, y))
    try:
        q_hi = quote_swap(pool, arrays, hi, a_to_b=a_to_b, exact_in=exact_in)
    except InsufficientLiquidity:
        return
    q_lo = quote_swap(pool, arrays, lo, a_to_b=a_to_b, exact_in=exact_in)
    assert q_lo.amount_in <= q_hi.amount_in
    assert q_lo.amount_out <= q_hi.amount_out
    assert q_lo.fee_amount <= q_hi.fee_amount
    assert q_lo.ticks_crossed <= q_hi.ticks_crossed


@settings(max_examples=60, deadline=None)
@given(_sizes, st.booleans(), st.booleans())
def test_price_moves_the_right_way_and_output_stays_within_vaults(
    amount: int, a_to_b: bool, exact_in: bool
) -> None:
    pool, arrays, balances = _cached_pool()
    try:
        q = quote_swap(pool, arrays, amount, a_to_b=a_to_b, exact_in=exact_in)
    except InsufficientLiquidity:
        return
    vault_out = pool.token_vault_b if a_to_b else pool.token_vault_a
    assert q.amount_out <= balances[vault_out]
    assert q.fee_amount <= q.amount_in
    if a_to_b:
        assert q.sqrt_price_after <= pool.sqrt_price and q.tick_after <= pool.tick_current_index
    else:
        assert q.sqrt_price_after >= pool.sqrt_price and q.tick_after >= pool.tick_current_index
    assert sqrt_price_from_tick_index(q.tick_after) <= q.sqrt_price_after


@settings(max_examples=60, deadline=None)
@given(st.integers(1000, 3 * 10**12), st.booleans())
def test_exact_out_of_an_exact_in_output_needs_no_more_input(amount: int, a_to_b: bool) -> None:
    pool, arrays, _ = _cached_pool()
    try:
        q_in = quote_swap(pool, arrays, amount, a_to_b=a_to_b)
    except InsufficientLiquidity:
        return
    if q_in.amount_out == 0:
        return
    q_out = quote_swap(pool, arrays, q_in.amount_out, a_to_b=a_to_b, exact_in=False)
    assert q_out.amount_out == q_in.amount_out
    assert q_out.amount_in <= amount
    # the gap is rounding: about one output unit's worth of input per step
    per_unit = -(-amount // q_in.amount_out)
    assert amount - q_out.amount_in <= 2 * per_unit + 2 * (q_in.ticks_crossed + 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4 * 10**12), min_size=1, max_size=16), st.booleans(), st.booleans())
def test_curve_equals_one_quote_per_size_in_any_order(
    sizes: list[int], a_to_b: bool, exact_in: bool
) -> None:
    pool, arrays, _ = _cached_pool()
    curve = quote_curve(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in)
    assert len(curve) == len(sizes)
    for size, got in zip(sizes, curve, strict=True):
        try:
            want: SwapQuote | QuoteError = quote_swap(
                pool, arrays, size, a_to_b=a_to_b, exact_in=exact_in
            )
        except QuoteError as exc:
            want = exc
        if isinstance(want, QuoteError):
            assert type(got) is type(want) and str(got) == str(want)
        else:
            assert got == want


# ---------------------------------------------------------------- edges (synthetic pools)


def test_b_to_a_from_the_minus_one_shift_needs_only_the_next_array() -> None:
    # after an a->b swap that ended exactly on tick 704, the pool sits at tick 703, price(704)
    pool = synth_pool(703, 10**12, sqrt_price=sqrt_price_from_tick_index(704))
    arrays = synth_arrays({704: 10**11, 800: -(10**11)}, [704])
    q = quote_swap(pool, arrays, 10**6, a_to_b=False)
    assert q.ticks_crossed == 1  # tick 704 is crossed first, at no cost
    assert q.sqrt_price_after > pool.sqrt_price
    with pytest.raises(InsufficientLiquidity, match="no tick array covers tick 703"):
        quote_swap(pool, arrays, 10**6, a_to_b=True)


def test_walk_crosses_a_zero_liquidity_gap_without_charging() -> None:
    pool = synth_pool(4, 10**12)
    # liquidity ends at 64 and resumes at 128: the gap costs and yields nothing
    arrays = synth_arrays({0: 10**12, 64: -(10**12), 128: 10**12, 600: -(10**12)}, [0])
    q = quote_swap(pool, arrays, 10**10, a_to_b=False)
    p64, p128 = sqrt_price_from_tick_index(64), sqrt_price_from_tick_index(128)
    b_to_64 = _ceil_div(10**12 * (p64 - pool.sqrt_price), Q64)
    fee_to_64 = _ceil_div(b_to_64 * 3000, 1_000_000 - 3000)
    rest = 10**10 - b_to_64 - fee_to_64
    net = rest * (1_000_000 - 3000) // 1_000_000
    p_end = p128 + (net << 64) // 10**12
    assert q.sqrt_price_after == p_end
    assert q.ticks_crossed == 2


def test_explicit_price_limit_stops_the_swap_with_a_partial_fill() -> None:
    pool = synth_pool(4, 10**12)
    arrays = synth_arrays({0: 10**12}, [0, 704])
    limit = sqrt_price_from_tick_index(40)
    q = quote_swap(pool, arrays, 10**15, a_to_b=False, sqrt_price_limit=limit)
    assert q.sqrt_price_after == limit and q.tick_after == 40
    need = _ceil_div(10**12 * (limit - pool.sqrt_price), Q64)
    assert q.amount_in == need + _ceil_div(need * 3000, 997000)
    with pytest.raises(InsufficientLiquidity, match="supply the next higher tick array"):
        quote_swap(pool, arrays, 10**15, a_to_b=False)


def test_exact_out_beyond_the_supplied_arrays_is_insufficient_liquidity(sol_usdc) -> None:  # type: ignore[no-untyped-def]
    pool, arrays, _ = sol_usdc
    with pytest.raises(InsufficientLiquidity, match="needs ticks below -50688"):
        quote_swap(pool, arrays, 10**13, a_to_b=True, exact_in=False)
    curve = quote_curve(pool, arrays, [10**13, 10**6], a_to_b=True, exact_in=False)
    assert isinstance(curve[0], InsufficientLiquidity)
    assert curve[1] == quote_swap(pool, arrays, 10**6, a_to_b=True, exact_in=False)


def test_adaptive_fee_pools_are_refused() -> None:
    pool = synth_pool(4, 10**12, fee_tier_index=1024)
    with pytest.raises(QuoteError, match=r"adaptive-fee pool .* needs its Oracle account"):
        quote_swap(pool, synth_arrays({}, [0]), 10**6, a_to_b=True)


@pytest.mark.parametrize(
    ("amount", "limit", "match"),
    [
        (0, None, "amount must be positive"),
        (1 << 64, None, "exceeds u64"),
        (10, 1, "outside the program's bounds"),
        (10, 1 << 80, "wrong side of the pool price"),
    ],
)
def test_invalid_requests_raise_quote_error(amount: int, limit: int | None, match: str) -> None:
    pool = synth_pool(4, 10**12)
    with pytest.raises(QuoteError, match=match):
        quote_swap(pool, synth_arrays({}, [0]), amount, a_to_b=True, sqrt_price_limit=limit)


def test_tick_arrays_of_another_pool_are_refused() -> None:
    pool = synth_pool(4, 10**12)
    other = synth_arrays({}, [0], pool="2LecshUwdy9xi7meFgHtFJQNSKk4KdTrcpvaB56dP2NQ")
    with pytest.raises(QuoteError, match="belongs to 2Lecsh"):
        quote_swap(pool, other, 10, a_to_b=True)


def test_curve_reports_bad_sizes_as_values_and_keeps_order() -> None:
    pool = synth_pool(4, 10**12)
    arrays = synth_arrays({-640: 10**12, 640: -(10**12)}, [-704, 0, 704])
    sizes = [10**9, 0, 10**6, 10**9]
    curve = quote_curve(pool, arrays, sizes, a_to_b=True)
    assert isinstance(curve[1], QuoteError) and "amount must be positive" in str(curve[1])
    assert curve[0] == curve[3] == quote_swap(pool, arrays, 10**9, a_to_b=True)
    assert curve[2] == quote_swap(pool, arrays, 10**6, a_to_b=True)


def test_dynamic_tick_arrays_quote_like_their_fixed_twins(sol_usdc) -> None:  # type: ignore[no-untyped-def]
    pool, arrays, _ = sol_usdc
    dynamic = [
        orca.decode_tick_array(
            orca.encode_tick_array(
                TickArray(a.start_tick_index, a.ticks, a.whirlpool, is_dynamic=True)
            )
        )
        for a in arrays
    ]
    assert all(a.is_dynamic for a in dynamic)
    for amount, a_to_b in ((10**12, True), (10**11, False)):
        assert quote_swap(pool, dynamic, amount, a_to_b=a_to_b) == quote_swap(
            pool, arrays, amount, a_to_b=a_to_b
        )
