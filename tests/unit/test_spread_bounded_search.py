"""The exact-size search settled from its rounding bounds picks what the fan search picks.

`PairEngine._bounded_argmax` skips `_Probe.argmax` where two sizes beside a grid pick or a
window end prove the outcome (`_leg_slack`: each leg within E of a convex / concave curve).
These tests run the same candidates with the bounds on and off (`bounded_search`) on books,
ladders and the real Orca pool, and require the very same `SizedCandidate`."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import fixed_levels
from operators.spread import DexView, PairEngine, SizedCandidate, _Probe
from operators.views import CexBookView, ClobView
from tests.conftest import fixtures_dir
from tests.unit.test_spread import CEX_ID, CLOB_ID, SOL, cex_book, make_params, orca_view

D = Decimal


@st.composite
def books(draw: st.DrawFn, mid_cents: int = 10_000) -> CexBookView:
    """A CEX book of 1-30 levels of random gaps and sizes around `mid_cents`, USDC or USDT."""
    mid = mid_cents + draw(st.integers(min_value=-300, max_value=300))
    half = draw(st.integers(min_value=1, max_value=60))
    n = draw(st.integers(min_value=1, max_value=30))
    gaps = st.integers(min_value=1, max_value=9)
    qty = st.integers(min_value=1, max_value=9_000)  # 0.001 .. 9 SOL a level
    bids, asks, b, a = [], [], mid - half, mid + half
    for _ in range(n):
        bids.append((D(b) / 100, D(draw(qty)) / 1000))
        asks.append((D(a) / 100, D(draw(qty)) / 1000))
        b, a = b - draw(gaps), a + draw(gaps)
    return cex_book(
        bids, asks, quote_currency=draw(st.sampled_from(["USDC", "USDT"])), update_id=1
    )


@st.composite
def ladders(draw: st.DrawFn) -> ClobView:
    mid = draw(st.integers(min_value=9_700, max_value=10_300))
    half = draw(st.integers(min_value=1, max_value=60))
    n = draw(st.integers(min_value=1, max_value=30))
    gaps = st.integers(min_value=1, max_value=9)
    qty = st.integers(min_value=1, max_value=9_000)  # lots of 0.001 SOL
    bids, asks, b, a = [], [], mid - half, mid + half
    for _ in range(n):
        bids.append((b, draw(qty)))
        asks.append((a, draw(qty)))
        b, a = b - draw(gaps), a + draw(gaps)
    return ClobView(
        venue="phoenix", market_id=CLOB_ID, pair="SOL/USDC", quote_currency="USDC",
        bids=tuple(bids), asks=tuple(asks), base_units_per_lot=1_000_000,
        quote_units_per_tick_lot_num=10, quote_units_per_tick_lot_den=1,
        taker_fee_bps=2.0, slot=1, in_sync=True, ts_event_ns=0, ts_recv_ns=0,
        fee_rounding_quote_units=draw(st.sampled_from([1, 1, 10, 1_000])),
    )  # fmt: skip


GRIDS = st.tuples(
    st.integers(min_value=2, max_value=16),  # size_steps
    st.integers(min_value=1, max_value=40),  # max trade, SOL
    st.integers(min_value=50, max_value=20_000),  # notional cap, USDC
    st.sampled_from([None, 1, 20, 300]),  # CEX minimum notional, USDC
)


def _both(
    grid: tuple[int, int, int, int | None], cex: CexBookView, dex: DexView, cex_buys: bool
) -> tuple[SizedCandidate | None, SizedCandidate | None, int]:
    """`_best` with the bounds on and off (fresh engines), and how many searches ran on."""
    steps, top_sol, cap_usdc, minimum = grid
    params = replace(
        make_params(),
        size_steps=steps,
        max_trade_base=top_sol * SOL,
        max_notional_quote=cap_usdc * 10**6,
        fx={"USDC": D(1), "USDT": D("0.9997")},
        min_notional={} if minimum is None else {CEX_ID: minimum * 10**6},
    )
    searches = 0
    argmax = _Probe.argmax

    def counted(self: _Probe, lo: int, hi: int) -> int | None:
        nonlocal searches
        searches += 1
        return argmax(self, lo, hi)

    off = PairEngine(params)
    off.bounded_search = False
    want = off._best(cex, dex, cex_buys)
    on = PairEngine(params)
    _Probe.argmax = counted  # type: ignore[method-assign]
    try:
        got = on._best(cex, dex, cex_buys)
    finally:
        _Probe.argmax = argmax  # type: ignore[method-assign]
    return got, want, searches


@settings(max_examples=300, deadline=None)
@given(GRIDS, books(), ladders(), st.booleans())
def test_bounded_search_picks_the_fan_searchs_size_on_books_and_ladders(
    grid: tuple[int, int, int, int | None], cex: CexBookView, dex: ClobView, cex_buys: bool
) -> None:
    got, want, _ = _both(grid, cex, dex, cex_buys)
    assert got == want


@pytest.fixture(scope="module")
def pool() -> DexView:
    return orca_view(fixtures_dir())


@settings(max_examples=60, deadline=None)
@given(GRIDS, books(mid_cents=4_028), st.booleans())
def test_bounded_search_picks_the_fan_searchs_size_against_the_real_orca_pool(
    pool: DexView,
    grid: tuple[int, int, int, int | None],
    cex: CexBookView,
    cex_buys: bool,
) -> None:
    got, want, _ = _both(grid, cex, pool, cex_buys)
    assert got == want


def test_a_clear_dislocation_is_sized_without_the_fan_search(pool: DexView) -> None:
    """A CEX 1 % under the pool: selling into the pool pays to the largest grid size, and
    the bounds prove it from one size beside it (the search would price ~20)."""
    levels = [(D("39.80") + D(i) / 1000, D("40")) for i in range(50)]
    cex = CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC", bids=fixed_levels([(D("39.70"), D("40"))]),
        asks=fixed_levels(levels), update_id=1, in_sync=True, ts_event_ns=0, ts_recv_ns=0,
        taker_fee_bps=10.0,
    )  # fmt: skip
    got, want, searches = _both((16, 16, 20_000, None), cex, pool, True)
    assert got == want
    assert got is not None and got.buy.size_base == 16 * SOL
    assert searches == 0


def test_buying_from_the_pool_under_a_dear_cex_is_sized_without_the_fan_search(
    pool: DexView,
) -> None:
    """The mirror case: CEX bids 1 % over the pool, the buy walks the pool's ticks (exact out),
    whose rounding bound comes from the far end of the walk."""
    levels = [(D("40.80") - D(i) / 1000, D("40")) for i in range(50)]
    cex = CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC", bids=fixed_levels(levels),
        asks=fixed_levels([(D("40.90"), D("40"))]), update_id=1, in_sync=True,
        ts_event_ns=0, ts_recv_ns=0, taker_fee_bps=10.0,
    )  # fmt: skip
    got, want, searches = _both((16, 16, 20_000, None), cex, pool, False)
    assert got == want
    assert got is not None and got.buy.size_base == 16 * SOL
    assert searches == 0


def test_a_book_out_of_order_leaves_the_size_to_the_fan_search() -> None:
    """Levels not best first: the curve need not be convex, so no bound is claimed."""
    cex = CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC", bids=fixed_levels([(D("99"), D("5")), (D("99.5"), D("5"))]),
        asks=fixed_levels([(D("100"), D("5")), (D("99.9"), D("5"))]), update_id=1,
        in_sync=True, ts_event_ns=0, ts_recv_ns=0, taker_fee_bps=10.0,
    )  # fmt: skip
    eng = PairEngine(make_params())
    assert eng._leg_slack(cex, True) is None
    assert eng._leg_slack(cex, False) is None
    ordered = replace(cex, asks=cex.asks[1:], bids=cex.bids[:1])
    assert eng._leg_slack(ordered, True) == 5 + 4
