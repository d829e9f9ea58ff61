"""Per-leg limits from the opportunity's edge (issue 12 item 3, operators/risk.leg_limits)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from operators.risk import LIMIT_FEE_BOUND_PPB, leg_limits

PPB = 1_000_000_000


@given(
    buy_quote=st.integers(1_000_000, 10**13),
    edge_ppb=st.integers(0, 5_000_000),  # gross spread up to 50 bps
    fee_buy_ppb=st.integers(0, LIMIT_FEE_BOUND_PPB),
    fee_sell_ppb=st.integers(0, LIMIT_FEE_BOUND_PPB),
    gas=st.integers(0, 10_000_000),
    other_costs=st.integers(0, 10_000_000),  # slippage, hedge, safety: costs that may not come
    give_up_ppb=st.integers(0, 10_000_000),
    cap_bps=st.integers(0, 1_000),
)
def test_both_legs_filled_at_their_limits_never_lose_more_than_the_give_up(
    buy_quote: int, edge_ppb: int, fee_buy_ppb: int, fee_sell_ppb: int, gas: int,
    other_costs: int, give_up_ppb: int, cap_bps: int,
) -> None:  # fmt: skip
    sell_quote = buy_quote + buy_quote * edge_ppb // PPB
    fb, fs = Fraction(fee_buy_ppb, PPB), Fraction(fee_sell_ppb, PPB)
    expected = sell_quote * (1 - fs) - buy_quote * (1 + fb) - gas - other_costs
    if expected <= 0:
        return  # the guard never accepts a trade expected to lose
    # the provisions go back into the slack: they were taken for what may not come
    buy_limit, sell_limit = leg_limits(
        buy_quote, sell_quote, int(expected), give_up_ppb, cap_bps, other_costs
    )
    assert buy_quote <= buy_limit <= buy_quote + buy_quote * cap_bps // 10_000
    assert sell_quote - sell_quote * cap_bps // 10_000 <= sell_limit <= sell_quote
    # the costs that were only provisions (slippage, safety) do not come: the worst case
    at_limits = sell_limit * (1 - fs) - buy_limit * (1 + fb) - gas
    assert at_limits >= -(buy_quote * give_up_ppb // PPB)


def test_a_thin_edge_gets_limits_far_tighter_than_the_fixed_ten_bps() -> None:
    # 4500 USDC notional, 0.2 bps expected after every cost, give-up 1 bps
    buy, sell, pnl = 4_500_000_000, 4_509_000_000, 90_000
    buy_limit, sell_limit = leg_limits(buy, sell, pnl, 100_000, 10)
    slack = pnl + 450_000  # the edge plus 1 bps of the buy notional
    assert (buy_limit, sell_limit) == (buy + (slack // 2) * 100 // 101, sell - slack // 2)
    assert (buy_limit - buy, sell - sell_limit) == (267_326, 270_000)  # ~0.6 bps per leg
    # the fixed rule gave each leg 10 bps: 4.5 USDC, far past what the trade could earn
    assert buy * 10 // 10_000 == 4_500_000
    # a fat edge is still capped at limit_slippage_bps per leg
    assert leg_limits(buy, sell, 200_000_000, 100_000, 10) == (buy + 4_500_000, sell - 4_509_000)
