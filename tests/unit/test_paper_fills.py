"""Paper fills with the venues' order semantics (issue 12 item 5): exact integers.

CEX book and CLOB ladder: an IOC limit order takes every level within its limit price, the rest
expires (`partial` + `cancelled`); FOK fills all or nothing. CLMM: the exact swap, failed when
the amount passes the limit (`other_amount_threshold`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from operators.clmm import quote_swap
from operators.events import OrderIntent, Side
from operators.paper import PaperVenue, units_at_limit
from tests.unit.test_pricing import cex_view, clob_view
from tests.unit.test_spread import ORCA_ID, orca_view

MS = 1_000_000
SOL = 10**9
MILLI = 10**6  # 0.001 SOL in base units


def _intent(
    market_id: str, side: Side, size: int, limit: int, *, tif: str = "ioc", predicted: int = 0
) -> OrderIntent:
    return OrderIntent(
        intent_id=f"o1/{side}", opportunity_id="o1", venue=market_id, market_id=market_id,
        side=side, size_base=size, limit_quote=limit, ts_event_ns=0, ts_recv_ns=0,
        ts_intent_ns=0, pair="SOL/USDC", predicted_quote=predicted,
        time_in_force="fok" if tif == "fok" else "ioc",
    )  # fmt: skip


def _venue() -> PaperVenue:
    return PaperVenue(9, 6, cex_latency_ns=20 * MS, dex_latency_ns=400 * MS)


def _fill(view_at_0, intent: OrderIntent):  # type: ignore[no-untyped-def]
    v = _venue()
    v.on_view(view_at_0)
    v.on_intent(intent)
    return v.on_end()


# one level per whole USDC price, sizes in 0.001 SOL: every amount below is an exact integer
LADDERS = st.lists(
    st.tuples(st.integers(1, 40), st.integers(1, 5_000)), min_size=1, max_size=6
).map(
    lambda steps: [(100 + sum(s for s, _ in steps[: i + 1]), q) for i, (_, q) in enumerate(steps)]
)


@given(
    ladder=LADDERS,
    size_milli=st.integers(1, 20_000),
    limit_px=st.integers(90, 400),
    fok=st.booleans(),
)
def test_cex_limit_buy_takes_exactly_the_levels_within_its_price(
    ladder: list[tuple[int, int]], size_milli: int, limit_px: int, fok: bool
) -> None:
    asks = [(str(px), f"{q / 1000:.3f}") for px, q in ladder]
    view = cex_view([("50", "1")], asks)
    size = size_milli * MILLI
    intent = _intent(
        view.market_id, "buy", size, limit_px * size // 1000, tif="fok" if fok else "ioc"
    )
    # independent count: whole levels priced within the limit price, in 0.001 SOL
    room = sum(q for px, q in ladder if px <= limit_px)
    take, cost = min(room, size_milli), 0
    left = take
    for px, q in ladder:
        t = min(q, left)
        cost += t * px * 1000  # 0.001 SOL at px USDC = px * 1000 micro-USDC
        left -= t
    reports = _fill(view, intent)
    if take == 0 or (fok and take < size_milli):
        [r] = reports
        assert (r.status, r.filled_base, r.quote_amount) == ("rejected", 0, 0)
    elif take == size_milli:
        [r] = reports
        assert (r.status, r.filled_base, r.quote_amount, r.fee_quote) == (
            "filled",
            size,
            cost,
            -(-cost // 1000),
        )
        assert r.quote_amount <= intent.limit_quote
    else:
        part, gone = reports
        assert (part.status, part.filled_base, part.quote_amount) == ("partial", take * MILLI, cost)
        assert (gone.status, gone.filled_base) == ("cancelled", 0)
        assert gone.reason == f"IOC: {size - take * MILLI} base units past the limit expired"
        # what filled never costs more than the limit price allows for it
        assert part.quote_amount * size <= intent.limit_quote * part.filled_base


def test_cex_limit_sell_walks_bids_down_to_its_price_only() -> None:
    view = cex_view([("100", "1"), ("99.5", "1"), ("99", "3")], [("101", "1")])
    # limit 99.50 per SOL on 3 SOL: the 100 and 99.5 levels fill, the 99 level is past it
    part, gone = _fill(view, _intent(view.market_id, "sell", 3 * SOL, 298_500_000))
    assert (part.status, part.filled_base, part.quote_amount, part.fee_quote) == (
        "partial",
        2 * SOL,
        199_500_000,
        199_500,
    )
    assert (gone.status, gone.reason) == (
        "cancelled",
        f"IOC: {SOL} base units past the limit expired",
    )
    [r] = _fill(view, _intent(view.market_id, "sell", 3 * SOL, 298_500_000, tif="fok"))
    assert (r.status, r.reason) == (
        "rejected",
        f"FOK: {2 * SOL} of {3 * SOL} base units at the limit",
    )


def test_clob_ioc_buy_takes_whole_lots_within_the_limit_price() -> None:
    # (ticks, lots): one tick x lot = 10 micro-USDC; 10_000 ticks = 100 USDC/SOL
    view = clob_view([(9_990, 500)], [(10_000, 1_000), (10_010, 2_000), (10_050, 5_000)])
    size = 4 * SOL  # 4000 lots; limit 100.10 USDC/SOL: 1000 + 2000 lots within it
    assert units_at_limit(view, _intent(view.market_id, "buy", size, 400_400_000), 9, 6) == (
        3_000 * MILLI
    )
    part, gone = _fill(view, _intent(view.market_id, "buy", size, 400_400_000))
    cost = 1_000 * 10_000 * 10 + 2_000 * 10_010 * 10
    assert (part.status, part.filled_base, part.quote_amount) == ("partial", 3 * SOL, cost)
    assert part.fee_quote == -(-cost * 200 // 1_000_000)  # 2 bps taker fee, rounded up
    assert (gone.status, gone.filled_base) == ("cancelled", 0)
    # the whole size within the limit fills in one report
    [r] = _fill(view, _intent(view.market_id, "buy", 3 * SOL, 300_300_000))
    assert (r.status, r.filled_base, r.quote_amount) == ("filled", 3 * SOL, cost)


def test_clmm_swap_fails_when_the_amount_passes_other_amount_threshold(fixtures: Path) -> None:
    pool = orca_view(fixtures)
    q = quote_swap(pool.pool, list(pool.tick_arrays), 16 * SOL, a_to_b=False, exact_in=False)
    exact = q.amount_in  # USDC in for exactly 16 SOL out
    [ok] = _fill(pool, _intent(ORCA_ID, "buy", 16 * SOL, exact))
    assert (ok.status, ok.filled_base, ok.quote_amount) == ("filled", 16 * SOL, exact)
    [bad] = _fill(pool, _intent(ORCA_ID, "buy", 16 * SOL, exact - 1))
    assert (bad.status, bad.filled_base, bad.quote_amount) == ("rejected", 0, 0)
    assert bad.reason == (f"price moved: cost {exact} > limit {exact - 1} (other_amount_threshold)")


def test_a_fill_carries_its_predicted_price_and_slippage_in_ppb() -> None:
    view = cex_view([("99", "1")], [("100", "1"), ("101", "1")])
    # predicted 100.00 per SOL on 2 SOL; the walk pays 100.50 on average: 50 bps worse
    [r] = _fill(view, _intent(view.market_id, "buy", 2 * SOL, 10**12, predicted=200_000_000))
    assert (r.quote_amount, r.predicted_quote, r.slippage_ppb) == (
        201_000_000,
        200_000_000,
        5_000_000,
    )
    assert r.slippage_bps == 50.0
    sell = _intent(view.market_id, "sell", SOL // 2, 0, predicted=50_000_000)
    [s] = _fill(view, replace(sell, predicted_quote=49_000_000))  # 99 vs 98 predicted: better
    assert (s.quote_amount, s.predicted_quote, s.slippage_ppb) == (
        49_500_000,
        49_000_000,
        -10_204_082,
    )
