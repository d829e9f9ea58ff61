"""Executable price at size: CEX book walk, CLOB ladder walk, fx conversion (exact units)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from operators.book import fixed_levels
from operators.errors import InsufficientLiquidity, QuoteError
from operators.pricing import (
    LegQuote,
    buy_base,
    buy_base_curve,
    fx_ratio,
    sell_base,
    sell_base_curve,
    to_pair_quote,
)
from operators.views import CexBookView, ClobView

D = Decimal
SOL = 10**9  # lamports per SOL
BD, QD = 9, 6


def cex_view(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    *,
    venue: str = "binance",
    quote_currency: str = "USDC",
    fee_bps: float = 10.0,
) -> CexBookView:
    return CexBookView(
        venue=venue,
        market_id=f"{venue}:SOLUSDC",
        pair="SOL/USDC",
        market="spot",
        quote_currency=quote_currency,
        bids=fixed_levels(bids),
        asks=fixed_levels(asks),
        update_id=1,
        in_sync=True,
        ts_event_ns=0,
        ts_recv_ns=0,
        taker_fee_bps=fee_bps,
    )


def clob_view(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> ClobView:
    # One lot = 0.001 SOL; one tick = 0.01 USDC/SOL, so a (tick x lot) costs 10 micro-USDC.
    return ClobView(
        venue="phoenix",
        market_id="phoenix:MKT",
        pair="SOL/USDC",
        quote_currency="USDC",
        bids=tuple(bids),
        asks=tuple(asks),
        base_units_per_lot=1_000_000,
        quote_units_per_tick_lot_num=10,
        quote_units_per_tick_lot_den=1,
        taker_fee_bps=2.0,
        slot=1,
        in_sync=True,
        ts_event_ns=0,
        ts_recv_ns=0,
    )


BOOK = cex_view(
    bids=[("99.99", "1"), ("99.90", "2")],
    asks=[("100.00", "1.0"), ("100.10", "2.0"), ("100.50", "5.0")],
)


def test_cex_buy_walks_levels_to_the_size_and_charges_taker_fee_on_top() -> None:
    leg = buy_base(BOOK, 3 * SOL // 2, BD, QD)
    assert leg == LegQuote(
        venue="binance",
        market_id="binance:SOLUSDC",
        side="buy",
        size_base=1_500_000_000,
        quote_amount=150_050_000,  # 1 x 100.00 + 0.5 x 100.10
        fee_quote=150_050,  # 10 bps
        fee_in_amount=False,
        levels_used=2,
        quote_currency="USDC",
    )
    assert leg.paid_or_received == 150_200_050
    assert leg.gross_quote == 150_050_000


def test_cex_sell_walks_bids_and_nets_the_fee_from_proceeds() -> None:
    leg = sell_base(BOOK, 2 * SOL, BD, QD)
    assert (leg.quote_amount, leg.fee_quote, leg.levels_used) == (199_890_000, 199_890, 2)
    assert leg.paid_or_received == 199_690_110


def test_cex_rounds_buy_cost_up_and_sell_proceeds_down() -> None:
    # One lamport at 100.00 USDC/SOL is worth 0.0001 micro-USDC.
    assert buy_base(BOOK, 1, BD, QD).quote_amount == 1
    assert sell_base(BOOK, 1, BD, QD).quote_amount == 0
    assert buy_base(BOOK, 1, BD, QD).fee_quote == 1  # fee rounded up too


def test_cex_size_beyond_the_book_is_insufficient_liquidity() -> None:
    with pytest.raises(InsufficientLiquidity, match=r"binance/binance:SOLUSDC: asks hold"):
        buy_base(BOOK, 9 * SOL, BD, QD)


def test_cex_curve_prices_every_size_in_one_pass_like_single_walks() -> None:
    sizes = [SOL // 2, SOL, 2 * SOL, 3 * SOL, 8 * SOL, 9 * SOL]
    curve = buy_base_curve(BOOK, sizes, BD, QD)
    for size, q in zip(sizes[:-1], curve[:-1]):
        assert q == buy_base(BOOK, size, BD, QD)
    assert isinstance(curve[-1], InsufficientLiquidity)
    assert [q.quote_amount for q in curve[:-1] if isinstance(q, LegQuote)] == [
        50_000_000,
        100_000_000,
        200_100_000,
        300_200_000,
        802_700_000,
    ]
    sells = sell_base_curve(BOOK, [SOL, 3 * SOL], BD, QD)
    assert [q.quote_amount for q in sells if isinstance(q, LegQuote)] == [99_990_000, 299_790_000]


def test_cex_fee_override_replaces_the_view_fee() -> None:
    assert buy_base(BOOK, SOL, BD, QD, cex_fee_bps=7.5).fee_quote == 75_000


def test_cex_level_that_is_not_positive_is_a_quote_error() -> None:
    bad = replace(cex_view(bids=[], asks=[]), asks=((0, 10**18),))
    with pytest.raises(QuoteError, match=r"binance/binance:SOLUSDC: price 0e-18 is not positive"):
        buy_base(bad, 1, BD, QD)


def test_clob_buy_uses_the_ladder_walk_with_lot_rounding() -> None:
    view = clob_view(bids=[(10_000, 500)], asks=[(10_010, 1_000), (10_020, 2_000)])
    leg = buy_base(view, 1_500_000_500, BD, QD)  # 1500 lots + half a lot: rounded down
    assert (leg.size_base, leg.quote_amount, leg.fee_quote, leg.levels_used) == (
        1_500_000_000,
        150_200_000,  # (1000 x 10010 + 500 x 10020) ticks*lots x 10 micro-USDC
        30_040,
        2,
    )
    with pytest.raises(InsufficientLiquidity):
        sell_base(view, SOL, BD, QD)


def test_fx_converts_usdt_legs_against_us() -> None:
    ratio = fx_ratio({"USDC": D(1), "USDT": D("0.9995")}, "USDT")
    assert ratio == (1999, 2000)
    assert to_pair_quote(1_000_001, ratio, round_up=True) == 999_501  # 999500.9995 up
    assert to_pair_quote(1_000_001, ratio, round_up=False) == 999_500
    assert to_pair_quote(123, (1, 1), round_up=True) == 123


def test_fx_unknown_currency_names_it() -> None:
    with pytest.raises(QuoteError, match="no fx rate for quote currency 'EUR'"):
        fx_ratio({"USDC": D(1)}, "EUR")
