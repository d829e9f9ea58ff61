"""A leg on a market quoted in another currency than its pair (a USDT book in a SOL/USDC pair).

The decision is in USDC (the spread engine converts the USDT book at the `[fx]` constant
0.9998 = 4999/5000); the intent is sent in USDT, its limit the decision's USDC limit converted
(never looser); the fill keeps the venue's USDT amounts and is valued in USDC at the decision's
ratio by every reader: slippage, fill risk, the guard's book, the learning, the journal's money.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.journal import journal_row
from engine.steps import flatten_limit_quote
from operators.errors import QuoteError
from operators.events import ExecutionReport, Opportunity, OrderIntent
from operators.fill_risk import FillRisk, FillRiskParams, with_prediction
from operators.fx import (
    PAR,
    cash_pair,
    constant_fx,
    fill_cash_pair,
    limit_in_market,
    parse_fx,
    quote_pair,
    stamp,
    to_pair_quote,
)
from operators.guard_book import GuardBook
from operators.learning import FillLearner, FillObservation
from operators.legs import FlattenFx, LegMachine, LegPolicy, OpportunityLegs, _Leg
from operators.paper import PaperVenue
from operators.risk import RiskGuard, leg_limits, provisions_quote
from operators.spread import PairEngine
from operators.views import CexBookView
from replay.figures import arbs_of
from replay.money import fee_value, fill_cash, quote_value
from tests.unit.test_risk import _params
from tests.unit.test_spread import CLOB_ID, SOL, cex, clob, make_params

D = Decimal
MS = 1_000_000
USDT_ID = "binance:SOLUSDT"
FX = (4999, 5000)
"""0.9998 USDC per USDT, exact."""


def _usdt_opportunity() -> tuple[Opportunity, CexBookView]:
    """Buy 10 SOL on the USDT book at 100.05 USDT, sell them on the USDC CLOB at 101.00."""
    params = make_params(fx={"USDC": D(1), "USDT": D("0.9998")}, lot_size_base={USDT_ID: 1_000_000})
    eng = PairEngine(params)
    eng.on_view(clob(10_100, 10_110), 0)
    usdt = cex("99.90", "100.05", quote_currency="USDT", market_id=USDT_ID)
    [opp] = eng.on_view(usdt, 0)
    return opp, usdt


def _paper_fills(
    opp: Opportunity, view: CexBookView, intents: list[OrderIntent]
) -> list[ExecutionReport]:
    venue = PaperVenue(9, 6, cex_latency_ns=20 * MS, dex_latency_ns=400 * MS)
    venue.on_view(view)
    venue.on_view(clob(10_100, 10_110))
    out: list[ExecutionReport] = []
    for i in intents:
        out += venue.on_intent(i)
    return out + venue.on_end()


def test_the_opportunity_carries_each_legs_currency_and_the_ratio_it_was_priced_at() -> None:
    opp, _ = _usdt_opportunity()
    assert (opp.buy_venue, opp.size_base) == (USDT_ID, 10 * SOL)
    assert (opp.buy_quote_currency, opp.buy_fx) == ("USDT", FX)
    assert (opp.sell_quote_currency, opp.sell_fx) == ("", PAR)  # the pair's own: unchanged
    # 10 SOL at 100.05 USDT = 1_000_500_000 micro-USDT = 1_000_299_900 micro-USDC (exact)
    assert opp.buy_quote == 1_000_299_900


def test_the_intents_limit_is_the_decisions_usdc_limit_converted_to_usdt_never_looser() -> None:
    opp, _ = _usdt_opportunity()
    p = _params()
    buy, sell = RiskGuard(p).on_opportunity(opp)[1]
    buy_usdc, sell_usdc = leg_limits(
        opp.buy_quote, opp.sell_quote, opp.expected_pnl_quote, p.give_up_ppb,
        p.limit_slippage_bps, provisions_quote(opp),
    )  # fmt: skip
    assert buy_usdc == 1_001_300_199  # the decision's USDC limit
    assert buy.limit_quote == buy_usdc * 5000 // 4999 == 1_001_500_499  # rounded down
    # the largest USDT amount worth no more than the USDC limit
    assert buy.limit_quote * 4999 <= buy_usdc * 5000 < (buy.limit_quote + 1) * 4999
    assert (buy.quote_currency, buy.fx, buy.predicted_quote) == ("USDT", FX, opp.buy_quote)
    assert (sell.limit_quote, sell.quote_currency, sell.fx) == (sell_usdc, "", PAR)


def test_a_paper_fill_at_the_predicted_price_has_zero_slippage_and_usdc_cash_by_hand() -> None:
    opp, usdt = _usdt_opportunity()
    buy, sell = RiskGuard(_params()).on_opportunity(opp)[1]
    fills = _paper_fills(opp, usdt, [buy, sell])
    b = next(r for r in fills if r.side == "buy")
    s = next(r for r in fills if r.side == "sell")
    # the venue's own amounts: USDT for the USDT book
    assert (b.status, b.filled_base, b.quote_amount, b.fee_quote) == (
        "filled", 10 * SOL, 1_000_500_000, 1_000_500,
    )  # fmt: skip
    assert (b.quote_currency, b.fx) == ("USDT", FX)
    assert (b.predicted_quote, b.slippage_ppb) == (opp.buy_quote, 0)
    assert (s.quote_amount, s.fee_quote, s.slippage_ppb, s.fx) == (
        1_010_000_000, 202_000, 0, PAR,
    )  # fmt: skip
    # by hand, micro-USDC: sold 1_010_000_000 - fee 202_000; bought 1_000_500_000 micro-USDT
    # x 0.9998 = 1_000_299_900, fee 1_000_500 x 0.9998 = 1_000_299.9 -> 1_000_300 (up)
    pnl = 1_010_000_000 - 202_000 - 1_000_299_900 - 1_000_300
    assert pnl == 8_497_800
    assert sum(cash_pair(r) for r in fills) == pnl
    # the journal's rows say the currency and ratio; the money rules value them the same way
    rows = [journal_row(r) for r in fills]
    assert [(r["side"], r["quote_currency"], r["fx"]) for r in rows] == [
        ("buy", "USDT", "4999,5000"), ("sell", "", "1,1"),
    ]  # fmt: skip
    assert sum(fill_cash(r) for r in rows) == pnl
    assert [quote_value(r) for r in rows] == [1_000_299_900, 1_010_000_000]
    assert [fee_value(r) for r in rows] == [1_000_300, 202_000]
    opp_row = {**journal_row(opp), "update_seq": 0}
    decision = {"opportunity_id": opp.opportunity_id, "accepted": True}
    [arb] = arbs_of([opp_row], [decision], rows)
    assert arb.buy is not None and arb.buy.quote_amount == 1_000_299_900
    assert arb.buy.slippage_bps == 0.0
    assert arb.net_quote == pnl - arb.gas_quote


def test_fill_risk_guard_book_and_learning_value_the_usdt_fill_in_usdc() -> None:
    opp, usdt = _usdt_opportunity()
    buy, sell = RiskGuard(_params()).on_opportunity(opp)[1]
    fills = _paper_fills(opp, usdt, [buy, sell])
    risk = FillRisk(
        FillRiskParams(10**12, 10**9, quote_usd_micro={"SOL/USDC": (1, 1)}), frozenset()
    )
    book = GuardBook()
    learner = FillLearner(frozenset({CLOB_ID}), 200_000)
    learner.on_signal(opp)
    risk.on_intent(buy)
    risk.on_intent(sell)
    taught = []
    for r in fills:
        assert risk.on_report(r) == []
        book.on_report("SOL/USDC", r, (1, 1), r.ts_fill_ns)
        taught += learner.on_report(r)
    assert risk.daily_pnl_usd_micro == book.daily_pnl_usd_micro == 8_497_800
    assert sorted(taught, key=str) == sorted(
        [FillObservation(USDT_ID, 0), FillObservation(CLOB_ID, 0)], key=str
    )
    assert list(risk.slippage["binance"]) == [0]
    # what the venue holds is its own currency, apart from the pair's
    assert risk.exposure_quote[(USDT_ID, "USDT")] == -1_000_500_000 - 1_000_500


def test_a_worse_usdt_fill_is_slippage_measured_in_usdc_at_the_decisions_ratio() -> None:
    opp, _ = _usdt_opportunity()
    buy = RiskGuard(_params()).on_opportunity(opp)[1][0]
    # one level 0.01 USDT higher: 100.06 USDT for the 10 SOL, 1 bps worse than decided
    worse = cex("99.90", "100.06", quote_currency="USDT", market_id=USDT_ID)
    [b] = _paper_fills(opp, worse, [buy])
    assert b.quote_amount == 1_000_600_000
    value = -(-1_000_600_000 * 4999 // 5000)  # 1_000_399_880 micro-USDC
    assert b.slippage_ppb == (value - opp.buy_quote) * 10**9 // opp.buy_quote == 99_950


def _legs(leg_fx: tuple[int, int], currency: str) -> OpportunityLegs:
    i = OrderIntent(
        "o/buy", "o", USDT_ID, USDT_ID, "buy", SOL, 100_100_000, 0, 0, 0, "SOL/USDC",
        100_000_000, quote_currency=currency, fx=leg_fx,
    )  # fmt: skip
    twin = replace(i, intent_id="o/sell", side="sell", market_id=CLOB_ID, quote_currency="",
                   fx=PAR)  # fmt: skip
    legs = OpportunityLegs("o", _Leg(i), _Leg(twin), frozenset({CLOB_ID}), None)
    legs.buy.filled_base, legs.buy.quote_amount = SOL, 100_050_000
    return legs


def test_a_usdt_perp_hedge_takes_the_opportunitys_usdt_ratio_else_the_fx_constant() -> None:
    perp = "binance-usdm:SOLUSDT:perp"
    terms = FlattenFx("USDC", {perp: "USDT"}, {"USDT": (9997, 10000)})
    with_usdt = _legs(FX, "USDT")
    assert terms.terms(with_usdt, perp) == ("USDT", FX, "opportunity")
    assert terms.terms(with_usdt, USDT_ID) == ("USDT", FX, "leg")  # the unwind: the leg's
    in_usdc = _legs(PAR, "")
    assert terms.terms(in_usdc, perp) == ("USDT", (9997, 10000), "[fx] constant")
    assert terms.terms(in_usdc, USDT_ID) == ("", PAR, "")
    hedge = OrderIntent("o/hedge", "o", "binance-usdm", perp, "sell", SOL, 1, 0, 0, 0, "SOL/USDC")
    sent = terms.apply(in_usdc, hedge)
    assert (sent.quote_currency, sent.fx, sent.fx_source) == (
        "USDT",
        (9997, 10000),
        "[fx] constant",
    )
    # the fill says which, and is valued at it
    report = ExecutionReport(
        "o/hedge", "o", "binance-usdm", "sell", "filled", SOL, 100_000_000, 50_000, "", 0, 0, 0
    )
    venue = PaperVenue(9, 6, 0, 0)
    stamped = venue._reject(sent, 0, "x")
    assert stamped.extra == {"fx_source": "[fx] constant"}
    r = with_prediction(report, sent)
    assert (r.quote_currency, r.fx, r.extra["fx_source"]) == (
        "USDT",
        (9997, 10000),
        "[fx] constant",
    )
    assert cash_pair(r) == 100_000_000 * 9997 // 10000 - (-(-50_000 * 9997 // 10000))


def test_a_hedge_limit_on_a_usdt_perp_is_the_usdc_legs_price_in_usdt() -> None:
    legs = _legs(PAR, "")  # bought 1 SOL for 100.05 USDC
    at_par = flatten_limit_quote(legs, "sell", SOL, 10)
    assert at_par == 99_949_950  # 100.05 - 10 bps, in USDC
    # the perp quotes USDT at 0.9997 USDC: the same USDC price is more USDT
    in_usdt = flatten_limit_quote(legs, "sell", SOL, 10, (9997, 10000))
    # 100.05 / 0.9997 = 100.080024... USDT, - 10 bps = 99.97994... USDT
    assert in_usdt == int(Decimal(100_050_000) * 10000 / 9997 * (1 - Decimal(10) / 10_000))
    assert in_usdt == 99_979_943
    legs_usdt = _legs(FX, "USDT")  # bought for 100.05 USDT: at its own ratio, unchanged
    assert flatten_limit_quote(legs_usdt, "sell", SOL, 10, FX) == at_par


def test_constants_and_the_journal_spelling_of_a_ratio() -> None:
    fx = {"USDC": D(1), "USDT": D("0.9998"), "EUR": D("1.08")}
    assert constant_fx(fx, "USDT", "USDC") == FX
    assert constant_fx(fx, "USDC", "USDC") == PAR
    assert Fraction(*constant_fx(fx, "USDT", "EUR")) == Fraction("0.9998") / Fraction("1.08")
    assert parse_fx("4999,5000") == FX
    assert fill_cash_pair("buy", 0, 0, FX) == 0
    for bad in ("4999", "a,b", "0,1", "1,-2"):
        with pytest.raises(QuoteError, match="num,den"):
            parse_fx(bad)


def test_legs_in_the_pairs_currency_are_not_touched() -> None:
    i = OrderIntent("o/buy", "o", CLOB_ID, CLOB_ID, "buy", SOL, 7, 0, 0, 0, "SOL/USDC")
    r = ExecutionReport("o/buy", "o", "phoenix", "buy", "filled", SOL, 7, 1, "", 0, 0, 0)
    assert stamp(r, i) is r
    assert limit_in_market(123_456_789, PAR, "buy") == 123_456_789
    assert quote_pair(r) == 7 and cash_pair(r) == -8


RATIOS = st.tuples(st.integers(1, 10**6), st.integers(1, 10**6))


@given(limit=st.integers(0, 10**15), fx=RATIOS)
def test_a_converted_limit_is_the_tightest_never_looser_than_decided(
    limit: int, fx: tuple[int, int]
) -> None:
    n, d = fx
    buy = limit_in_market(limit, fx, "buy")
    sell = limit_in_market(limit, fx, "sell")
    # buy: worth at most the limit, one unit more would be worth more
    assert Fraction(buy * n, d) <= limit < Fraction((buy + 1) * n, d)
    # sell: worth at least the limit, one unit less would be worth less
    assert Fraction((sell - 1) * n, d) < limit <= Fraction(sell * n, d)


@given(amount=st.integers(0, 10**15), fee=st.integers(0, 10**9), fx=RATIOS)
def test_a_fills_value_never_flatters_and_a_fill_at_the_decided_amount_is_within_its_limit(
    amount: int, fee: int, fx: tuple[int, int]
) -> None:
    n, d = fx
    exact_fee = Fraction(fee * n, d)
    for side in ("buy", "sell"):
        cash = fill_cash_pair(side, amount, fee, fx)
        exact = Fraction(amount * n, d) * (1 if side == "sell" else -1) - exact_fee
        assert exact - 2 < cash <= exact
        # the decision's pair amount of this market amount, as a limit back in the market:
        # the same amount fills within it (a buy pays no more, a sell gets no less)
        decided = to_pair_quote(amount, fx, round_up=side == "buy")
        limit = limit_in_market(decided, fx, side)
        assert (amount <= limit) if side == "buy" else (amount >= limit)


def test_leg_machine_keeps_the_market_currency_of_a_resized_twin() -> None:
    m = LegMachine(LegPolicy(order="both"), {})
    buy = OrderIntent(
        "o/buy", "o", USDT_ID, USDT_ID, "buy", 2 * SOL, 200_000_001, 0, 0, 0, "SOL/USDC",
        199_000_000, quote_currency="USDT", fx=FX,
    )  # fmt: skip
    sell = replace(buy, intent_id="o/sell", side="sell", market_id=CLOB_ID, quote_currency="",
                   fx=PAR, limit_quote=190_000_000)  # fmt: skip
    m.on_intents(buy, sell, frozenset({CLOB_ID}), 0)
    legs = m.open["o"]
    assert (legs.buy.intent.quote_currency, legs.buy.intent.fx) == ("USDT", FX)
