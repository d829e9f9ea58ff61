"""The spread engine's fast paths pick exactly what the plain size loop and pricing give."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import fixed_levels
from operators.pricing import buy_base_curve, sell_base_curve
from operators.spread import PairEngine
from operators.views import CexBookView, ClobView
from tests.unit.test_spread import CEX_ID, CLOB_ID, make_params
from tests.unit.test_spread_properties import cex_books, clob_books

D = Decimal


@st.composite
def deep_cex_books(draw: st.DrawFn) -> CexBookView:
    """Books deep enough that every grid size prices (the column fast path's case)."""
    mid = draw(st.integers(min_value=9_000, max_value=11_000))
    half = draw(st.integers(min_value=1, max_value=50))
    qty = st.integers(min_value=1, max_value=40_000)
    n = draw(st.integers(min_value=4, max_value=20))
    return CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC",
        bids=fixed_levels((D(mid - half - 3 * i) / 100, D(draw(qty)) / 1000) for i in range(n)),
        asks=fixed_levels((D(mid + half + 3 * i) / 100, D(draw(qty)) / 1000) for i in range(n)),
        update_id=1, in_sync=True, ts_event_ns=0, ts_recv_ns=0, taker_fee_bps=10.0,
    )  # fmt: skip


@st.composite
def deep_clob_books(draw: st.DrawFn) -> ClobView:
    mid = draw(st.integers(min_value=9_000, max_value=11_000))
    half = draw(st.integers(min_value=1, max_value=50))
    qty = st.integers(min_value=1, max_value=40_000)
    n = draw(st.integers(min_value=4, max_value=20))
    return ClobView(
        venue="phoenix", market_id=CLOB_ID, pair="SOL/USDC", quote_currency="USDC",
        bids=tuple((mid - half - 3 * i, draw(qty)) for i in range(n)),
        asks=tuple((mid + half + 3 * i, draw(qty)) for i in range(n)),
        base_units_per_lot=1_000_000, quote_units_per_tick_lot_num=10,
        quote_units_per_tick_lot_den=1, taker_fee_bps=2.0, slot=1, in_sync=True,
        ts_event_ns=0, ts_recv_ns=0,
    )  # fmt: skip


CEX_BOOKS = st.one_of(cex_books(), deep_cex_books())
CLOB_BOOKS = st.one_of(clob_books(), deep_clob_books())


def _slow_best(eng: PairEngine, cex: CexBookView, dex: ClobView, cex_buys: bool) -> object:
    """`_best` with every curve marked unclean: the plain per-size loop decides."""
    lot = eng._lot(cex, dex)
    for view in (cex, dex):
        for buy in (True, False):
            eng._curve(view, buy, lot).clean = False
    return eng._best(cex, dex, cex_buys)


@settings(max_examples=150, deadline=None)
@given(CEX_BOOKS, CLOB_BOOKS, st.booleans(), st.integers(min_value=1, max_value=10**10))
def test_column_ranking_picks_the_same_size_as_the_per_size_loop(
    cex: CexBookView, dex: ClobView, cex_buys: bool, cap: int
) -> None:
    params = replace(make_params(), max_notional_quote=cap)
    fast = PairEngine(params)._best(cex, dex, cex_buys)
    slow = _slow_best(PairEngine(params), cex, dex, cex_buys)
    assert fast == slow


@settings(max_examples=100, deadline=None)
@given(CEX_BOOKS, CLOB_BOOKS, st.booleans())
def test_lazy_cex_legs_equal_the_pricing_curve_quotes(
    cex: CexBookView, dex: ClobView, cex_buys: bool
) -> None:
    eng = PairEngine(make_params())
    best = eng._best(cex, dex, cex_buys)
    if best is None:
        return
    sizes = eng.grid(eng._lot(cex, dex))
    fee = eng.p.costs.cex_taker_fee_bps.get(cex.venue)
    fn = buy_base_curve if cex_buys else sell_base_curve
    got = best.buy if cex_buys else best.sell
    # the chosen (exactly refined) size, priced by the public curve
    [want] = fn(cex, [got.size_base], eng.p.base_decimals, eng.p.quote_decimals, cex_fee_bps=fee)
    assert got == want
    if best.prev is not None:
        prev_leg = best.prev[0 if cex_buys else 1]
        grid_want = fn(cex, sizes, eng.p.base_decimals, eng.p.quote_decimals, cex_fee_bps=fee)
        assert prev_leg[0] in grid_want  # the grid size below the chosen one
        assert prev_leg[0].size_base < got.size_base
        assert prev_leg == eng._point(prev_leg[0])
