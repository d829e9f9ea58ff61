"""The fast tick search returns exactly the Whirlpool program's tick for every sqrt price.

`tick_index_from_sqrt_price` guesses with a float log and settles the guess with the exact
integer `sqrt_price_from_tick_index`; `tick_index_from_sqrt_price_log2` is the program's own
14-bit log2 search. They must agree on every input. (An exhaustive check of every tick boundary
in [MIN_TICK_INDEX, MAX_TICK_INDEX] was run once when the fast path was written: the program's
error margins bracket the true tick everywhere; here a stride of boundaries and random prices.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.clmm.math import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK_INDEX,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    U128_MAX,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
    tick_index_from_sqrt_price_log2,
)
from operators.clmm.types import QuoteError


def test_every_101st_tick_boundary_maps_like_the_program() -> None:
    for tick in range(MIN_TICK_INDEX, MAX_TICK_INDEX + 1, 101):
        p = sqrt_price_from_tick_index(tick)
        for price in (p - 1, p, p + 1):
            if MIN_SQRT_PRICE_X64 <= price <= MAX_SQRT_PRICE_X64:
                assert tick_index_from_sqrt_price(price) == tick_index_from_sqrt_price_log2(price)
        assert tick_index_from_sqrt_price(p) == tick
        if tick > MIN_TICK_INDEX:
            assert tick_index_from_sqrt_price(p - 1) == tick - 1


def test_price_bounds_map_to_the_extreme_ticks() -> None:
    assert tick_index_from_sqrt_price(MIN_SQRT_PRICE_X64) == MIN_TICK_INDEX
    assert tick_index_from_sqrt_price(MAX_SQRT_PRICE_X64) == MAX_TICK_INDEX
    assert tick_index_from_sqrt_price(MAX_SQRT_PRICE_X64 - 1) == MAX_TICK_INDEX - 1


def _outcome(fn: Callable[[int], int], price: int) -> int | str:
    try:
        return fn(price)
    except QuoteError as exc:
        return f"QuoteError: {exc}"


def test_prices_outside_the_bounds_keep_the_programs_answer() -> None:
    for price in (1, 2**40, MIN_SQRT_PRICE_X64 - 1, MAX_SQRT_PRICE_X64 + 1, U128_MAX):
        fast = _outcome(tick_index_from_sqrt_price, price)
        assert fast == _outcome(tick_index_from_sqrt_price_log2, price)
    assert _outcome(tick_index_from_sqrt_price, MIN_SQRT_PRICE_X64 - 1) == MIN_TICK_INDEX - 1
    for bad in (0, -5, U128_MAX + 1):
        with pytest.raises(QuoteError):
            tick_index_from_sqrt_price(bad)


@settings(max_examples=3000, deadline=None)
@given(st.integers(min_value=MIN_SQRT_PRICE_X64, max_value=MAX_SQRT_PRICE_X64))
def test_fast_tick_search_equals_program_for_any_price(price: int) -> None:
    assert tick_index_from_sqrt_price(price) == tick_index_from_sqrt_price_log2(price)


@settings(max_examples=2000, deadline=None)
@given(
    st.integers(min_value=MIN_TICK_INDEX + 1, max_value=MAX_TICK_INDEX),
    st.integers(min_value=-3, max_value=3),
)
def test_fast_tick_search_equals_program_next_to_a_boundary(tick: int, delta: int) -> None:
    price = sqrt_price_from_tick_index(tick) + delta
    assert tick_index_from_sqrt_price(price) == tick_index_from_sqrt_price_log2(price)
