"""`quote_curve_amounts` (what sizing prices with) gives `quote_curve`'s integers exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.clmm import QuoteError, SwapQuote, quote_curve, quote_curve_amounts
from operators.clmm.math import sqrt_price_from_tick_index
from operators.clmm.swap import OrcaCurveWalk
from tests.unit.orca_helpers import synth_arrays, synth_pool
from tests.unit.test_clmm_quote import _cached_pool


def _same(
    curve: list[SwapQuote | QuoteError], amounts: list[tuple[int, int, int, int] | QuoteError]
) -> None:
    assert len(curve) == len(amounts)
    for want, got in zip(curve, amounts, strict=True):
        if isinstance(want, QuoteError):
            assert type(got) is type(want) and str(got) == str(want)
        else:
            assert got == (want.amount_in, want.amount_out, want.fee_amount, want.ticks_crossed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4 * 10**12), min_size=1, max_size=24), st.booleans(), st.booleans())
def test_amounts_equal_the_curve_quotes_on_the_real_pool_in_any_order(
    sizes: list[int], a_to_b: bool, exact_in: bool
) -> None:
    pool, arrays, _ = _cached_pool()
    _same(
        quote_curve(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
        quote_curve_amounts(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3 * 10**11), min_size=1, max_size=12), st.booleans(), st.booleans())
def test_amounts_equal_the_curve_quotes_across_many_crossed_ticks(
    sizes: list[int], a_to_b: bool, exact_in: bool
) -> None:
    # liquidity steps every 8 ticks: sizes end inside ranges after crossing several ticks (the
    # walk's lazily worked-out tick must be the same one the next range starts from)
    net = {t: (10**11 if t < 704 else -(10**10)) for t in range(576, 832, 8)}
    pool = synth_pool(703, 10**12, sqrt_price=sqrt_price_from_tick_index(704) - 12345)
    arrays = synth_arrays(net, [0, 704])
    _same(
        quote_curve(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
        quote_curve_amounts(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 3 * 10**11), min_size=1, max_size=8), min_size=1, max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_a_kept_walk_gives_each_batch_what_a_fresh_walk_gives(
    batches: list[list[int]], a_to_b: bool, exact_in: bool
) -> None:
    # the spread engine keeps one OrcaCurveWalk per pool state and side and asks it for a grid,
    # then for exact-size batches above and below it: every batch must equal a fresh walk
    net = {t: (10**11 if t < 704 else -(10**10)) for t in range(576, 832, 8)}
    pool = synth_pool(703, 10**12, sqrt_price=sqrt_price_from_tick_index(704) - 12345)
    arrays = synth_arrays(net, [0, 704])
    walk = OrcaCurveWalk(pool, arrays, a_to_b=a_to_b, exact_in=exact_in)
    for sizes in batches:
        _same(
            quote_curve(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
            quote_curve_amounts(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in, walk=walk),
        )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 4 * 10**12), min_size=1, max_size=12), min_size=1, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_a_kept_walk_on_the_real_pool_matches_fresh_walks(
    batches: list[list[int]], a_to_b: bool, exact_in: bool
) -> None:
    pool, arrays, _ = _cached_pool()
    walk = OrcaCurveWalk(pool, arrays, a_to_b=a_to_b, exact_in=exact_in)
    for sizes in batches:
        _same(
            quote_curve(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in),
            quote_curve_amounts(pool, arrays, sizes, a_to_b=a_to_b, exact_in=exact_in, walk=walk),
        )
