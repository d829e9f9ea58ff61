"""Depth at a limit, its rolling quantile over recent views, and the slice plan of a CEX leg."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.book import fixed_levels
from operators.depth import (
    DepthTracker,
    Slicer,
    depth_at_limit,
    nearest_rank,
    plan_slices,
    quantile_ppm,
    split_even,
)
from operators.events import OrderIntent
from tests.unit.test_pricing import cex_view

SOL = 10**9
BD, QD = 9, 6
ASKS = fixed_levels([("150.10", "2"), ("150.20", "3"), ("150.40", "10")])
BIDS = fixed_levels([("150.00", "1"), ("149.90", "4"), ("149.50", "8")])
MARKET = "binance:SOLUSDC"


def _limit(price_micro: int, size_base: int) -> int:
    """The limit in quote base units of `size_base` at `price_micro` USDC micro-units per SOL."""
    return price_micro * size_base // SOL


def test_a_buy_takes_asks_up_to_its_limit_price_and_a_sell_bids_down_to_it() -> None:
    size = 10 * SOL
    assert depth_at_limit(ASKS, "buy", _limit(150_200_000, size), size, BD, QD) == 5 * SOL
    assert depth_at_limit(ASKS, "buy", _limit(150_050_000, size), size, BD, QD) == 0
    assert depth_at_limit(BIDS, "sell", _limit(149_900_000, size), size, BD, QD) == 5 * SOL
    assert depth_at_limit(BIDS, "sell", _limit(149_000_000, size), size, BD, QD) == 13 * SOL
    # one quote unit under 150.20 for the whole size: the 150.20 level is past the limit
    assert depth_at_limit(ASKS, "buy", _limit(150_200_000, size) - 1, size, BD, QD) == 2 * SOL


def test_the_quantile_is_nearest_rank_in_integer_parts_per_million() -> None:
    assert quantile_ppm(0.95) == 950_000
    assert nearest_rank(list(range(11, 31)), 950_000) == 29  # ceil(0.95 * 20) = 19th smallest
    assert nearest_rank(list(range(11, 31)), 1_000_000) == 30
    assert nearest_rank([7], 10) == 7
    with pytest.raises(ValueError, match="quantile must be in"):
        quantile_ppm(0.0)


def _book(ts: int, ask_qty: str, in_sync: bool = True) -> object:
    v = cex_view([("149", "1")], [("150", ask_qty)])
    return replace(v, ts_recv_ns=ts, in_sync=in_sync)


def test_the_depth_quantile_counts_the_last_window_views_up_to_the_order_time() -> None:
    t = DepthTracker(window=4, quantile_ppm=1_000_000, min_samples=3, lookahead=2)
    size = 50 * SOL
    limit = _limit(150_000_000, size)

    def q(until: int) -> int | None:
        return t.depth_quantile(MARKET, "buy", limit, size, BD, QD, until)

    for ts, qty in ((1, "1"), (2, "9")):
        t.observe(_book(ts, qty))  # type: ignore[arg-type]
    assert q(10) is None  # two views: fewer than min_samples
    t.observe(_book(3, "99", in_sync=False))  # type: ignore[arg-type]  # not the book's depth
    for ts, qty in ((4, "2"), (5, "3"), (6, "4"), (7, "40")):
        t.observe(_book(ts, qty))  # type: ignore[arg-type]
    t.observe(_book(8, "5"))  # type: ignore[arg-type]
    # held: the last window + lookahead = 6 in-sync views (ts 1 dropped)
    assert [v.ts_recv_ns for v in t.books[MARKET]] == [2, 4, 5, 6, 7, 8]
    assert q(6) == 9 * SOL  # views 2, 4, 5, 6 (the newer views 7, 8 came after the order)
    assert q(7) == 40 * SOL  # views 4..7: view 2 left the window
    assert q(4) is None  # views 2 and 4 only


def test_equal_slices_on_the_lot_grid_with_the_rest_below_a_lot_in_the_last() -> None:
    assert split_even(10_037, 4, 10) == [2510, 2510, 2510, 2507]
    plan = plan_slices(10 * SOL + 7, _limit(150_000_000, 10 * SOL), 3 * SOL, lot_base=10**7)
    assert plan is not None
    assert plan.sizes_base == (2_500_000_000, 2_500_000_000, 2_500_000_000, 2_500_000_007)
    assert (plan.depth_base, plan.note) == (3 * SOL, "")


def test_a_leg_within_the_depth_or_a_depth_under_one_lot_goes_whole() -> None:
    limit = _limit(150_000_000, 10 * SOL)
    assert plan_slices(10 * SOL, limit, 10 * SOL) is None
    assert plan_slices(10 * SOL, limit, 0) is None  # the book rarely reached this limit
    assert plan_slices(10 * SOL, limit, 10**6, lot_base=10**7) is None


def test_slices_under_min_notional_become_fewer_larger_slices_or_the_leg_goes_whole() -> None:
    size = SOL  # 1 SOL at 150 USDC; min notional 5 USDC
    limit = _limit(150_000_000, size)
    plan = plan_slices(size, limit, 30_000_000, lot_base=10**6, min_notional_quote=5_000_000)
    assert plan is not None  # 34 slices of ~4.4 USDC would be dust: 29 slices of >= 5 USDC
    assert len(plan.sizes_base) == 29 and sum(plan.sizes_base) == size
    assert min(plan.sizes_base) * limit >= 5_000_000 * size
    assert plan.note == "34 slices would be under min notional 5000000: 29 slices"
    assert plan_slices(size, limit, SOL // 2, min_notional_quote=100_000_000) is None


def test_at_most_35_slices_one_client_id_digit_each() -> None:
    plan = plan_slices(100 * SOL, _limit(150_000_000, 100 * SOL), SOL)
    assert plan is not None and len(plan.sizes_base) == 35
    assert plan.note == "100 slices capped at 35"


@given(
    st.integers(min_value=2, max_value=10**12),
    st.integers(min_value=1, max_value=10**11),
    st.integers(min_value=1, max_value=10**7),
)
def test_slices_sum_to_the_leg_are_whole_lots_but_the_last_and_never_exceed_the_depth(
    size: int, depth: int, lot: int
) -> None:
    plan = plan_slices(size, size * 150, depth, lot_base=lot)
    if plan is None:
        assert size <= depth or depth < lot or size < 2 * lot
        return
    sizes = plan.sizes_base
    assert sum(sizes) == size and 2 <= len(sizes) <= 35
    assert all(s % lot == 0 and s > 0 for s in sizes[:-1])
    if len(sizes) < 35:
        assert max(sizes[:-1]) <= depth // lot * lot


def _intent(tif: str = "ioc", size: int = 10 * SOL) -> OrderIntent:
    return OrderIntent("o/buy", "o", MARKET, MARKET, "buy", size, _limit(150_000_000, size),
                       0, 0, 100, "SOL/USDC", time_in_force=tif)  # type: ignore[arg-type]  # fmt: skip


def test_the_slicer_plans_from_the_depth_at_the_leg_limit_and_never_slices_fok() -> None:
    s = Slicer(DepthTracker(window=5, min_samples=2), BD, QD, lot_base={MARKET: 10**7})
    for ts in range(5):
        s.observe(_book(ts, "3"))  # type: ignore[arg-type]
    plan = s.plan(_intent(), 100)
    assert plan is not None and plan.sizes_base == (2_500_000_000,) * 4
    assert (plan.depth_base, s.label) == (3 * SOL, "p95")
    assert s.plan(_intent("fok"), 100) is None
    assert s.plan(_intent(size=3 * SOL), 100) is None


def test_tracker_state_pickles_for_bytewax_snapshots() -> None:
    t = DepthTracker(window=3, quantile_ppm=500_000, min_samples=1)
    t.observe(_book(1, "1.5"))  # type: ignore[arg-type]
    back = pickle.loads(pickle.dumps(t))
    size = 10 * SOL
    args = (MARKET, "buy", _limit(150_000_000, size), size, BD, QD, 5)
    assert back.depth_quantile(*args) == t.depth_quantile(*args) == 1_500_000_000  # type: ignore[arg-type]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="quantile_ppm must be in"):
        DepthTracker(quantile_ppm=0)
    with pytest.raises(ValueError, match="window and min_samples"):
        DepthTracker(window=0)


def test_the_slicing_config_is_on_by_default_and_validated() -> None:
    from config import load_settings
    from operators.errors import ConfigError

    x = load_settings(env={}).execution
    assert (x.slice_by_depth, x.slice_depth_quantile, x.slice_window, x.slice_min_samples) == (
        True, 0.95, 200, 20)  # fmt: skip
    with pytest.raises(ConfigError, match="slice_min_samples"):
        load_settings(env={"SOLARB__EXECUTION__SLICE_MIN_SAMPLES": "300"})
    with pytest.raises(ConfigError, match="slice_depth_quantile"):
        load_settings(env={"SOLARB__EXECUTION__SLICE_DEPTH_QUANTILE": "1.5"})
