"""Exact sizing (issue 15 item 3): the engine's size beats every whole lot within the caps.

The brute force prices every lot from one lot to `max_trade_base` with the public pricing
functions and the public cost model, then compares the best PnL with the engine's choice."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.clob import ClobLadderCurve, clob_buy_cost, clob_sell_proceeds, clob_walk_curve
from operators.costs import evaluate_candidate
from operators.errors import QuoteError
from operators.pricing import LegQuote, buy_base_curve, sell_base_curve
from operators.spread import DIRECTIONS, PairEngine
from operators.views import CexBookView, ClobView, VenueView
from tests.unit.test_spread import (
    CEX_ID,
    CLOB_ID,
    SOL,
    cex,
    cex_book,
    clob,
    make_params,
    orca_view,
)

D = Decimal
LOT = 1_000_000  # 0.001 SOL: the CEX lot (make_params) and the CLOB's base lot


@st.composite
def small_cex(draw: st.DrawFn) -> CexBookView:
    mid = draw(st.integers(min_value=9_900, max_value=10_100))
    half = draw(st.integers(min_value=1, max_value=10))
    n = draw(st.integers(min_value=1, max_value=4))
    qty = st.integers(min_value=1, max_value=300)  # 0.001 .. 0.3 SOL a level
    bids = tuple((D(mid - half - 7 * i) / 100, D(draw(qty)) / 1000) for i in range(n))
    asks = tuple((D(mid + half + 7 * i) / 100, D(draw(qty)) / 1000) for i in range(n))
    return cex_book(bids, asks, update_id=1)


@st.composite
def small_clob(draw: st.DrawFn) -> ClobView:
    mid = draw(st.integers(min_value=9_900, max_value=10_100))
    half = draw(st.integers(min_value=1, max_value=10))
    n = draw(st.integers(min_value=1, max_value=4))
    qty = st.integers(min_value=1, max_value=300)  # lots of 0.001 SOL
    return ClobView(
        venue="phoenix", market_id=CLOB_ID, pair="SOL/USDC", quote_currency="USDC",
        bids=tuple((mid - half - 7 * i, draw(qty)) for i in range(n)),
        asks=tuple((mid + half + 7 * i, draw(qty)) for i in range(n)),
        base_units_per_lot=LOT, quote_units_per_tick_lot_num=10,
        quote_units_per_tick_lot_den=1, taker_fee_bps=2.0, slot=1, in_sync=True,
        ts_event_ns=0, ts_recv_ns=0,
    )  # fmt: skip


def _legs(view: VenueView, sizes: list[int], buy: bool) -> list[LegQuote | QuoteError]:
    fn = buy_base_curve if buy else sell_base_curve
    fee = 10.0 if isinstance(view, CexBookView) else None
    return fn(view, sizes, 9, 6, cex_fee_bps=fee)


def brute_force_pnl(eng: PairEngine, book: CexBookView, ladder: ClobView, cex_buys: bool) -> int:
    """Best PnL over every whole lot up to the caps (None-free: 0 lots = no trade = min)."""
    p = eng.p
    sizes = list(range(LOT, p.max_trade_base + 1, LOT))
    buy_view, sell_view = (book, ladder) if cex_buys else (ladder, book)
    best: int | None = None
    for b, s in zip(_legs(buy_view, sizes, True), _legs(sell_view, sizes, False)):
        if isinstance(b, QuoteError) or isinstance(s, QuoteError):
            continue
        if b.gross_quote <= 0 or max(b.paid_or_received, s.quote_amount) > p.max_notional_quote:
            continue
        c = evaluate_candidate(
            p.costs, buy_gross_quote=b.gross_quote, buy_fee_quote=b.fee_quote,
            sell_gross_quote=s.gross_quote, sell_fee_quote=s.fee_quote, cex_buys=cex_buys,
            cex_is_perp=False, slippage_bps=4.0, quote_decimals=6,
        )  # fmt: skip
        best = c.pnl_quote if best is None else max(best, c.pnl_quote)
    return -(10**18) if best is None else best


@settings(max_examples=120, deadline=None)
@given(small_cex(), small_clob(), st.integers(min_value=1, max_value=16))
def test_no_whole_lot_within_the_caps_beats_the_chosen_size_by_more_than_one_lot(
    book: CexBookView, ladder: ClobView, steps: int
) -> None:
    eng = PairEngine(make_params(max_trade_base=600 * LOT, size_steps=steps))
    eng.on_view(book, 0)
    eng.on_view(ladder, 0)
    for cex_buys, direction in ((True, DIRECTIONS[0]), (False, DIRECTIONS[1])):
        best = eng.best(CEX_ID, CLOB_ID, direction)
        brute = brute_force_pnl(eng, book, ladder, cex_buys)
        if best is None:
            assert brute == -(10**18)  # no size executes at all
            continue
        assert best.buy.size_base % LOT == 0 and best.buy.size_base <= 600 * LOT
        one_lot_quote = 110 * LOT // 1_000  # a lot at the dearest price drawn, micro-USDC
        assert brute - best.cost.pnl_quote <= one_lot_quote, (brute, best.cost.pnl_quote)


def test_a_small_edge_below_the_smallest_grid_size_is_found_exactly() -> None:
    """The reported case: max_trade_base 50 SOL on a 16-point grid starts at 3.125 SOL, and a
    2 SOL dislocation (the CEX ask holds 2 SOL at 100.00, then 102.00) was never tried."""
    eng = PairEngine(make_params(max_trade_base=50 * SOL, size_steps=16))
    assert eng.grid(LOT)[0] == 3_125_000_000
    book = cex_book([("99.50", "100")], [("100.00", "2"), ("102.00", "100")], update_id=1)
    ladder = clob(10_062, 10_070, lots=100_000)
    eng.on_view(ladder, 0)
    [opp] = eng.on_view(book, 0)
    # 2 SOL: buy 200_000_000 (+ fee 200_000), sell 2000 lots x 10062 x 10 = 201_240_000
    # (- fee 40_248); flat 9 bps = 180_000; every larger lot pays 102.00 for less than 100.62
    assert (opp.size_base, opp.buy_quote, opp.sell_quote) == (2 * SOL, 200_000_000, 201_240_000)
    edge = (201_240_000 - 40_248) - (200_000_000 + 200_000) - 180_000
    got_edge, _, gas = eng._model.edge_and_gas(
        200_000_000, 200_000, 201_240_000, 40_248, 900_000, eng.landing
    )
    assert got_edge == edge and opp.expected_pnl_quote == edge - gas
    assert opp.spread_bps == 1_240_000 * 10_000 / 200_000_000  # 62 bps gross
    # the grid alone: even its smallest size, 3.125 SOL, loses (1.125 SOL bought at 102.00)
    b = eng.best(CEX_ID, CLOB_ID, DIRECTIONS[0])
    assert b is not None and (b.grid_index, b.buy.size_base) == (0, 2 * SOL)  # refined below
    g_buy, g_sell = eng._curve(book, True, LOT).point(0), eng._curve(ladder, False, LOT).point(0)
    g_edge, _, _ = eng._model.edge_and_gas(
        g_buy[1], g_buy[2], g_sell[1], g_sell[2], 900_000, eng.landing
    )
    assert (g_buy[0].size_base, g_edge < 0) == (3_125_000_000, True)
    small = PairEngine(make_params(max_trade_base=4 * SOL))
    assert brute_force_pnl(small, book, ladder, True) == (
        opp.expected_pnl_quote
    )


def test_minimum_notional_is_honoured() -> None:
    """A venue minimum notional on the CEX leg: the only edge (0.45 SOL, 45.0225 USDC) trades
    under a 45 USDC minimum and not under a 46 USDC one."""
    book = cex("99.90", "100.05", qty="0.45")
    ladder = clob(10_100, 10_110)
    free = PairEngine(make_params(max_trade_base=16 * SOL))
    free.on_view(ladder, 0)
    [opp] = free.on_view(book, 0)
    assert opp.size_base == 450_000_000  # the whole CEX ask, below the grid's 4 SOL
    strict = PairEngine(make_params(min_notional={CEX_ID: 45_000_000}))
    strict.on_view(ladder, 0)
    [opp2] = strict.on_view(book, 0)
    assert (opp2.size_base, opp2.buy_quote) == (450_000_000, 45_022_500)
    tight = PairEngine(make_params(min_notional={CEX_ID: 46_000_000}))  # 0.45 SOL = 45.0225
    tight.on_view(ladder, 0)
    assert tight.on_view(book, 0) == []
    assert tight.counters["no_executable_size"] == 1


def test_exact_size_against_the_real_orca_pool_beats_every_lot(fixtures: Path) -> None:
    """CLMM leg: the real SOL/USDC Whirlpool (pool price ~40.36 USDC) against a CEX book
    dislocated both ways, with a 0.01 SOL lot: brute force over all 600 lots up to 6 SOL."""
    pool = orca_view(fixtures)
    lot = 10_000_000
    for cex_buys, levels in (
        (True, [("40.00", "1.5"), ("40.10", "1"), ("40.25", "1.73"), ("40.40", "5")]),
        (False, [("40.70", "0.8"), ("40.60", "1.7"), ("40.47", "1.37"), ("40.30", "5")]),
    ):
        asks = levels if cex_buys else [("45.00", "100")]
        bids = [("35.00", "100")] if cex_buys else levels
        book = cex_book(bids, asks, update_id=1)
        eng = PairEngine(
            make_params(max_trade_base=600 * lot, lot_size_base={CEX_ID: lot}, size_steps=4)
        )
        eng.on_view(pool, 0)
        eng.on_view(book, 0)
        direction = DIRECTIONS[0] if cex_buys else DIRECTIONS[1]
        best = eng.best(CEX_ID, pool.market_id, direction)
        assert best is not None
        sizes = list(range(lot, 600 * lot + 1, lot))
        buy_view, sell_view = (book, pool) if cex_buys else (pool, book)
        pnls = []
        for b, s in zip(_legs(buy_view, sizes, True), _legs(sell_view, sizes, False)):
            if isinstance(b, QuoteError) or isinstance(s, QuoteError):
                continue
            c = evaluate_candidate(
                eng.p.costs, buy_gross_quote=b.gross_quote, buy_fee_quote=b.fee_quote,
                sell_gross_quote=s.gross_quote, sell_fee_quote=s.fee_quote,
                cex_buys=cex_buys, cex_is_perp=False, slippage_bps=4.0, quote_decimals=6,
            )  # fmt: skip
            pnls.append((c.pnl_quote, b.size_base))
        top_pnl, top_size = max(pnls)
        assert top_pnl > 0
        # grid-only sizing (1.5, 3, 4.5, 6 SOL) missed it; the exact search finds the top
        assert (best.cost.pnl_quote, best.buy.size_base) == (top_pnl, top_size)
        assert top_size not in eng.grid(lot)


def test_clmm_legs_from_the_kept_walk_equal_fresh_pool_quotes(fixtures: Path) -> None:
    """The engine prices a CLMM view's grid and every exact-size batch from one kept tick walk
    and builds the chosen leg's quote from raw amounts: the leg is the public curve's quote,
    walked afresh, field for field; a later CEX tick on the same pool reuses the walk."""
    pool = orca_view(fixtures)
    lot = 10_000_000
    eng = PairEngine(
        make_params(max_trade_base=600 * lot, lot_size_base={CEX_ID: lot}, size_steps=4)
    )
    eng.on_view(pool, 0)
    for cex_buys, levels in (
        (True, [("40.00", "1.5"), ("40.10", "1"), ("40.25", "1.73"), ("40.40", "5")]),
        (False, [("40.70", "0.8"), ("40.60", "1.7"), ("40.47", "1.37"), ("40.30", "5")]),
        (True, [("39.90", "0.7"), ("40.05", "2.2"), ("40.20", "3"), ("40.40", "5")]),
    ):
        asks = levels if cex_buys else [("45.00", "100")]
        bids = [("35.00", "100")] if cex_buys else levels
        book = cex_book(bids, asks, update_id=1)
        eng.on_view(book, 0)
        best = eng.best(CEX_ID, pool.market_id, DIRECTIONS[0 if cex_buys else 1])
        assert best is not None
        leg = best.sell if cex_buys else best.buy
        fn = sell_base_curve if cex_buys else buy_base_curve
        [want] = fn(pool, [leg.size_base], eng.p.base_decimals, eng.p.quote_decimals)
        assert leg == want
        assert leg.fee_in_amount and leg.market_id == pool.market_id
        if best.prev is not None:
            prev = best.prev[1 if cex_buys else 0][0]
            [want_prev] = fn(pool, [prev.size_base], eng.p.base_decimals, eng.p.quote_decimals)
            assert prev == want_prev


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-1, max_value=200), st.integers(min_value=-1, max_value=50)
        ),
        max_size=6,
    ),
    st.lists(st.integers(min_value=-LOT, max_value=400 * LOT), min_size=1, max_size=12),
    st.booleans(),
)
def test_one_ladder_walk_gives_every_size_the_fill_of_its_own_walk(
    levels: list[tuple[int, int]], sizes: list[int], buy: bool
) -> None:
    """`clob_walk_curve` (the sizing search's batched walk) equals one walk per size, errors
    included (bad levels, below one lot, more than the ladder holds)."""
    ladder = tuple(levels)
    view = replace(clob(1, 2), bids=ladder, asks=ladder, fee_rounding_quote_units=7)
    sizes = sorted(sizes)
    one = clob_buy_cost if buy else clob_sell_proceeds
    want: list[object] = []
    for z in sizes:
        try:
            want.append(one(view, z))
        except QuoteError as exc:
            want.append((type(exc), str(exc)))
    got = [
        (type(f), str(f)) if isinstance(f, QuoteError) else f
        for f in clob_walk_curve(view, sizes, buy=buy)
    ]
    assert got == want


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-1, max_value=200), st.integers(min_value=-1, max_value=50)
        ),
        max_size=6,
    ),
    st.lists(st.integers(min_value=-LOT, max_value=400 * LOT), min_size=1, max_size=12),
    st.booleans(),
    st.sampled_from([0.0, 2.0, 2.5, 0.123]),
)
def test_the_ladder_prefix_sums_give_each_size_the_fill_of_its_own_walk(
    levels: list[tuple[int, int]], sizes: list[int], buy: bool, fee_bps: float
) -> None:
    """`ClobLadderCurve` (what the exact-size search prices CLOB legs with, sizes in any
    order) gives each size the integers of its own walk when that walk fills exactly that size,
    and None for every size the walk refuses or rounds down to whole lots (0.123 bps is not a
    whole ppm: no size fills)."""
    ladder = tuple(levels)
    view = replace(
        clob(1, 2), bids=ladder, asks=ladder, fee_rounding_quote_units=7, taker_fee_bps=fee_bps
    )
    one = clob_buy_cost if buy else clob_sell_proceeds
    want: list[tuple[int, int, int] | None] = []
    for z in sizes:
        try:
            f = one(view, z)
        except QuoteError:
            want.append(None)
            continue
        want.append((f.quote_amount, f.fee_quote, f.levels_used) if f.size_base == z else None)
    assert ClobLadderCurve(view, buy=buy).amounts(sizes) == want
