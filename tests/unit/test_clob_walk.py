"""CLOB ladder walk at size: exact quote amounts, fee rounding, lot policy, view builders."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.solana import openbook, phoenix
from operators.clob import (
    OpenBookLeaf,
    PhoenixOrder,
    clob_buy_cost,
    clob_sell_proceeds,
    openbook_view,
    phoenix_view,
)
from operators.errors import InsufficientLiquidity, QuoteError
from operators.views import ClobView

IDS = {"venue": "phoenix", "market_id": "M1", "pair": "SOL/USDC", "quote_currency": "USDC"}
TS = {"ts_event_ns": 1, "ts_recv_ns": 2}


def _phoenix_market(asks=(), bids=(), **kw):
    # SOL/USDC-like: lot 0.001 SOL, tick 0.01 USDC/SOL, quote lot 10 micro-USDC, fee 2 bps
    params = {
        "base_lot_size": 1_000_000,
        "base_lots_per_base_unit": 1_000,
        "quote_lot_size": 10,
        "tick_size_in_quote_lots_per_base_unit": 1_000,
        "taker_fee_bps": 2,
    }
    params.update(kw)
    return phoenix.decode_market(
        phoenix.encode_market(
            asks=asks, bids=bids, bids_size=32, asks_size=32, num_seats=1, **params
        )
    )


def _pview(market, slot=100, **kw):
    return phoenix_view(market, **IDS, **TS, slot=slot, **kw)


def test_phoenix_view_converts_ticks_and_lots_exactly() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 1_000)]))
    # one lot (0.001 SOL) at 15_000 ticks (150.00 USDC/SOL) costs 0.15 USDC
    assert view.base_units_per_lot == 1_000_000
    assert (view.quote_units_per_tick_lot_num, view.quote_units_per_tick_lot_den) == (10, 1)
    assert view.fee_rounding_quote_units == 10
    assert (view.taker_fee_bps, view.in_sync, view.slot) == (2.0, True, 100)


def test_phoenix_buy_crossing_two_levels_costs_exact_quote_and_fee_in_whole_quote_lots() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 600), (15_001, 2_000), (15_000, 400)]))
    fill = clob_buy_cost(view, 2_500_000_000)  # 2.5 SOL
    # 1 SOL at 150.00 + 1.5 SOL at 150.01 = 375.015 USDC
    assert fill.quote_amount == 375_015_000
    # program: ceil(ceil(adjusted * 2 / 10^4) / base_lots_per_base_unit) quote lots of 10 units
    adjusted = (1_000 * 15_000 + 1_500 * 15_001) * 1_000
    fee_adjusted = -(-adjusted * 2 // 10_000)
    fee_lots = -(-fee_adjusted // 1_000)
    assert fee_lots == 7_501
    assert fill.fee_quote == 75_010  # not ceil(375_015_000 * 2 / 10^4) = 75_003
    assert (fill.size_base, fill.levels_used, fill.worst_price_ticks) == (2_500_000_000, 2, 15_001)


def test_phoenix_sell_walks_bids_from_the_best_price_down() -> None:
    view = _pview(_phoenix_market(bids=[(14_990, 500), (14_999, 300)]))
    fill = clob_sell_proceeds(view, 700_000_000)  # 0.7 SOL
    assert fill.quote_amount == (300 * 14_999 + 400 * 14_990) * 10 == 104_957_000
    assert fill.fee_quote == -(-(300 * 14_999 + 400 * 14_990) * 2 // 10_000) * 10 == 21_000
    assert (fill.levels_used, fill.worst_price_ticks) == (2, 14_990)


def test_non_lot_sizes_round_down_to_whole_lots_on_both_sides() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 10)], bids=[(14_000, 10)]))
    assert clob_buy_cost(view, 2_999_999).size_base == 2_000_000
    assert clob_sell_proceeds(view, 2_999_999).quote_amount == 2 * 14_000 * 10


def test_size_below_one_lot_is_a_quote_error() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 10)]))
    with pytest.raises(QuoteError, match="phoenix/M1: size 999999 base units is below one lot"):
        clob_buy_cost(view, 999_999)


def test_non_positive_size_is_a_quote_error() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 10)]))
    with pytest.raises(QuoteError, match="must be positive"):
        clob_buy_cost(view, 0)


def test_ladder_running_out_raises_insufficient_liquidity() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 3), (15_010, 4)]))
    with pytest.raises(InsufficientLiquidity, match="phoenix/M1: asks hold 7 of the 8 lots"):
        clob_buy_cost(view, 8_000_000)


def test_empty_bids_raise_insufficient_liquidity() -> None:
    view = _pview(_phoenix_market(asks=[(15_000, 3)]))
    with pytest.raises(InsufficientLiquidity, match="bids hold 0 of the 1 lots"):
        clob_sell_proceeds(view, 1_000_000)


def test_phoenix_view_drops_orders_expired_at_the_slot_and_unix_time() -> None:
    market = _phoenix_market(
        asks=[
            PhoenixOrder(15_000, 1, 1, 5, last_valid_slot=99),
            PhoenixOrder(15_001, 2, 1, 6, last_valid_unix_timestamp_in_seconds=500),
            PhoenixOrder(15_002, 3, 1, 7),
        ]
    )
    assert _pview(market, slot=99).asks == ((15_000, 5), (15_001, 6), (15_002, 7))
    assert _pview(market, slot=100).asks == ((15_001, 6), (15_002, 7))
    assert _pview(market, slot=100, unix_ts=501).asks == ((15_002, 7),)


def test_phoenix_market_not_active_is_never_in_sync() -> None:
    assert _pview(_phoenix_market(asks=[(1, 1)], status=2)).in_sync is False


def _openbook(taker_fee=300, time_expiry=0):
    market = openbook.decode_market(
        openbook.encode_market(
            base_lot_size=1_000_000, quote_lot_size=10, taker_fee=taker_fee, time_expiry=time_expiry
        )
    )
    bids = openbook.decode_book_side(
        openbook.encode_book_side(
            "bids",
            [
                OpenBookLeaf(openbook.fixed_key("bids", 15_000, 1), 600, 0),
                OpenBookLeaf(openbook.fixed_key("bids", 14_999, 2), 1_000, 0),
                OpenBookLeaf(openbook.fixed_key("bids", 15_100, 3), 50, 0, time_in_force=10),
            ],
        )
    )
    asks = openbook.decode_book_side(
        openbook.encode_book_side(
            "asks",
            [OpenBookLeaf(openbook.fixed_key("asks", 15_010, 4), 700, 0)],
            [OpenBookLeaf(openbook.pegged_key("asks", 5, 5), 100, 0)],
        )
    )
    return market, bids, asks


def _oview(market, bids, asks, now_ts=100, **kw):
    return openbook_view(
        market, bids, asks, now_ts, **{**IDS, "venue": "openbook"}, **TS, slot=7, **kw
    )


def test_openbook_sell_exact_quote_and_ppm_fee_rounded_up() -> None:
    view = _oview(*_openbook())
    assert (view.quote_units_per_tick_lot_num, view.quote_units_per_tick_lot_den) == (10, 1)
    assert view.bids == ((15_000, 600), (14_999, 1_000))  # the tif-10 order expired at 100
    fill = clob_sell_proceeds(view, 1_000_500_000)  # 1.0005 SOL -> 1000 lots
    assert fill.size_base == 1_000_000_000
    assert fill.quote_amount == (600 * 15_000 + 400 * 14_999) * 10 == 149_996_000
    assert fill.fee_quote == 44_999  # ceil(149_996_000 * 300 / 10^6) = ceil(44_998.8)


def test_openbook_pegged_asks_count_only_with_an_oracle_price() -> None:
    market, bids, asks = _openbook()
    assert _oview(market, bids, asks).asks == ((15_010, 700),)
    view = _oview(market, bids, asks, oracle_price_lots=15_000)
    assert view.asks == ((15_005, 100), (15_010, 700))
    fill = clob_buy_cost(view, 300_000_000)
    assert fill.quote_amount == (100 * 15_005 + 200 * 15_010) * 10
    assert (fill.levels_used, fill.worst_price_ticks) == (2, 15_010)


def test_openbook_expired_market_is_never_in_sync() -> None:
    market, bids, asks = _openbook(time_expiry=50)
    assert _oview(market, bids, asks, now_ts=50).in_sync is True
    assert _oview(market, bids, asks, now_ts=51).in_sync is False


def test_openbook_view_refuses_swapped_book_sides() -> None:
    market, bids, asks = _openbook()
    with pytest.raises(QuoteError, match="book sides swapped"):
        _oview(market, asks, bids)


def test_fee_that_is_not_whole_ppm_is_a_quote_error() -> None:
    view = dataclasses.replace(_pview(_phoenix_market(asks=[(1, 1)])), taker_fee_bps=0.005)
    with pytest.raises(QuoteError, match="not a whole number of ppm"):
        clob_buy_cost(view, 1_000_000)


def _view(asks, bids, num, den, lot, fee_bps, unit):
    return ClobView(
        **IDS,
        bids=tuple(bids),
        asks=tuple(asks),
        base_units_per_lot=lot,
        quote_units_per_tick_lot_num=num,
        quote_units_per_tick_lot_den=den,
        taker_fee_bps=fee_bps,
        slot=1,
        in_sync=True,
        **TS,
        fee_rounding_quote_units=unit,
    )


ladder_st = st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 500)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    ladder=ladder_st,
    lots=st.integers(1, 3_000),
    num=st.integers(1, 50),
    den=st.integers(1, 50),
    lot=st.sampled_from([1, 1_000, 1_000_000]),
    fee_ppm=st.integers(0, 5_000),
    unit=st.sampled_from([1, 10]),
)
def test_walk_equals_lot_by_lot_reference(ladder, lots, num, den, lot, fee_ppm, unit) -> None:
    asks = sorted({p: s for p, s in ladder}.items())
    bids = sorted(asks, reverse=True)
    view = _view(asks, bids, num, den, lot, fee_ppm / 100, unit)
    for walk, side in ((clob_buy_cost, asks), (clob_sell_proceeds, bids)):
        unit_prices = [p for p, s in side for _ in range(s)]
        if lots > len(unit_prices):
            with pytest.raises(InsufficientLiquidity):
                walk(view, lots * lot)
            continue
        fill = walk(view, lots * lot)
        tick_lots = sum(unit_prices[:lots])
        exact = tick_lots * num
        quote = -(-exact // den) if walk is clob_buy_cost else exact // den
        assert fill.quote_amount == quote
        assert fill.fee_quote == -(-quote * fee_ppm // (10**6 * unit)) * unit
        assert fill.worst_price_ticks == unit_prices[lots - 1]
        assert fill.size_base == lots * lot
