"""Hypothesis properties of the spread engine: fees, caps, staleness, debounce."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import fixed_levels
from operators.costs import evaluate_candidate
from operators.spread import BUY_CEX_SELL_DEX, DIRECTIONS, PairEngine
from operators.views import CexBookView, ClobView
from tests.unit.test_spread import CEX_ID, CLOB_ID, MS, SOL, make_params

D = Decimal

prices_cents = st.integers(min_value=9_000, max_value=11_000)  # 90.00 .. 110.00 USDC/SOL
qty_milli = st.integers(min_value=1, max_value=20_000)  # 0.001 .. 20 SOL


@st.composite
def cex_books(draw: st.DrawFn) -> CexBookView:
    mid = draw(prices_cents)
    half = draw(st.integers(min_value=1, max_value=50))
    n = draw(st.integers(min_value=1, max_value=6))
    bids = tuple(
        (D(mid - half - 5 * i) / 100, D(draw(qty_milli)) / 1000) for i in range(n)
    )
    asks = tuple(
        (D(mid + half + 5 * i) / 100, D(draw(qty_milli)) / 1000) for i in range(n)
    )
    return CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC", bids=fixed_levels(bids), asks=fixed_levels(asks), update_id=1,
        in_sync=True,
        ts_event_ns=0, ts_recv_ns=0, taker_fee_bps=10.0,
    )


@st.composite
def clob_books(draw: st.DrawFn) -> ClobView:
    mid = draw(prices_cents)
    half = draw(st.integers(min_value=1, max_value=50))
    n = draw(st.integers(min_value=1, max_value=6))
    return ClobView(
        venue="phoenix", market_id=CLOB_ID, pair="SOL/USDC", quote_currency="USDC",
        bids=tuple((mid - half - 5 * i, draw(qty_milli)) for i in range(n)),
        asks=tuple((mid + half + 5 * i, draw(qty_milli)) for i in range(n)),
        base_units_per_lot=1_000_000, quote_units_per_tick_lot_num=10,
        quote_units_per_tick_lot_den=1, taker_fee_bps=2.0, slot=1, in_sync=True,
        ts_event_ns=0, ts_recv_ns=0,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=10**12),
    st.booleans(),
)
def test_more_fees_never_raise_the_net_spread_at_a_given_size(
    sell: int, fee_a: int, extra: int, buy_fee: int, buy: int, cex_buys: bool
) -> None:
    p = make_params().costs
    common = dict(
        buy_gross_quote=buy, buy_fee_quote=buy_fee, sell_gross_quote=sell, cex_buys=cex_buys,
        cex_is_perp=False, slippage_bps=4.0, quote_decimals=6,
    )
    lo = evaluate_candidate(p, sell_fee_quote=fee_a, **common)  # type: ignore[arg-type]
    hi = evaluate_candidate(p, sell_fee_quote=fee_a + extra, **common)  # type: ignore[arg-type]
    assert hi.net_bps <= lo.net_bps + 1e-9
    assert hi.pnl_quote <= lo.pnl_quote


@settings(max_examples=60, deadline=None)
@given(cex_books(), clob_books(), st.floats(min_value=0, max_value=50), st.booleans())
def test_higher_cex_fee_never_raises_the_best_expected_pnl(
    book: CexBookView, ladder: ClobView, extra_bps: float, cex_buys: bool
) -> None:
    def best_pnl(fee_bps: float) -> int | None:
        params = make_params()
        costs = replace(params.costs, cex_taker_fee_bps={"binance": fee_bps})
        eng = PairEngine(replace(params, costs=costs))
        eng.on_view(book, 0)
        eng.on_view(ladder, 0)
        direction = DIRECTIONS[0] if cex_buys else DIRECTIONS[1]
        b = eng.best(CEX_ID, CLOB_ID, direction)
        return None if b is None else b.cost.pnl_quote

    lo, hi = best_pnl(10.0), best_pnl(10.0 + extra_bps)
    assert (lo is None) == (hi is None)
    if lo is not None and hi is not None:
        assert hi <= lo


@settings(max_examples=100, deadline=None)
@given(cex_books(), clob_books())
def test_top_of_book_bound_is_never_below_the_evaluated_net_edge(
    book: CexBookView, ladder: ClobView
) -> None:
    eng = PairEngine(make_params())
    eng.on_view(book, 0)
    eng.on_view(ladder, 0)
    for cex_buys, direction in ((True, DIRECTIONS[0]), (False, DIRECTIONS[1])):
        bound = eng._spread_bound_bps(book, ladder, cex_buys)
        b = eng.best(CEX_ID, CLOB_ID, direction)
        assert bound is not None
        if b is not None:
            assert b.cost.net_bps <= bound + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    cex_books(),
    clob_books(),
    st.integers(min_value=1, max_value=40 * SOL),
    st.integers(min_value=1, max_value=5_000 * 10**6),
    st.integers(min_value=1, max_value=16),
)
def test_optimal_size_never_exceeds_the_caps(
    book: CexBookView, ladder: ClobView, max_base: int, max_notional: int, steps: int
) -> None:
    eng = PairEngine(
        make_params(max_trade_base=max_base, max_notional_quote=max_notional, size_steps=steps)
    )
    eng.on_view(book, 0)
    eng.on_view(ladder, 0)
    for direction in DIRECTIONS:
        b = eng.best(CEX_ID, CLOB_ID, direction)
        if b is None:
            continue
        assert 0 < b.buy.size_base <= max_base
        assert b.buy.size_base % 1_000_000 == 0  # whole CEX and CLOB lots
        assert b.buy_quote <= max_notional and b.sell_quote <= max_notional


@settings(max_examples=100, deadline=None)
@given(
    cex_books(),
    clob_books(),
    st.integers(min_value=2_000 * MS + 1, max_value=10**12),
    st.booleans(),
    st.booleans(),
)
def test_a_stale_or_unsynced_venue_never_signals(
    book: CexBookView, ladder: ClobView, age_ns: int, stale_cex: bool, by_sync: bool
) -> None:
    eng = PairEngine(make_params())
    now = age_ns
    fresh_cex = replace(book, ts_recv_ns=now)
    fresh_dex = replace(ladder, ts_recv_ns=now)
    if by_sync:
        bad_cex = replace(fresh_cex, in_sync=False)
        bad_dex = replace(fresh_dex, in_sync=False)
    else:
        bad_cex, bad_dex = book, ladder  # received at 0, now is > stale_after later
    first, second = (bad_cex, fresh_dex) if stale_cex else (bad_dex, fresh_cex)
    assert eng.on_view(first, now) == []
    assert eng.on_view(second, now) == []
    assert eng.counters["signals"] == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=5_000))
def test_n_identical_views_give_exactly_one_signal(n: int, step_ms: int) -> None:
    eng = PairEngine(make_params())
    ladder = ClobView(
        venue="phoenix", market_id=CLOB_ID, pair="SOL/USDC", quote_currency="USDC",
        bids=((10_100, 20_000),), asks=((10_110, 20_000),), base_units_per_lot=1_000_000,
        quote_units_per_tick_lot_num=10, quote_units_per_tick_lot_den=1, taker_fee_bps=2.0,
        slot=1, in_sync=True, ts_event_ns=0, ts_recv_ns=0,
    )
    book = CexBookView(
        venue="binance", market_id=CEX_ID, pair="SOL/USDC", market="spot",
        quote_currency="USDC", bids=fixed_levels([("99.90", "10")]),
        asks=fixed_levels([("100.05", "10")]),
        update_id=1, in_sync=True, ts_event_ns=0, ts_recv_ns=0, taker_fee_bps=10.0,
    )
    signals = []
    for i in range(n):
        t = i * step_ms * MS
        signals += eng.on_view(replace(ladder, ts_recv_ns=t), t)
        signals += eng.on_view(replace(book, ts_recv_ns=t), t)
    assert len(signals) == 1
    assert signals[0].direction == BUY_CEX_SELL_DEX
    assert eng.counters["signals"] == 1 and eng.counters["updates"] == 0
