"""Decisions on integers: config bps to ppb once, exact net edges, exact hysteresis."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.costs import CostParams, GasParams, LandingStats, evaluate_candidate
from operators.errors import ConfigError
from operators.fixedpoint import bps_to_ppb, ppb_of, ppb_to_bps, ratio_ge, ratio_lt, to_ppb
from operators.signals import Debouncer, HysteresisParams
from operators.spread import SpreadParams


def _free_costs(**kw: object) -> CostParams:
    """No fees, no gas, no flat terms: the net edge is the bare spread."""
    base: dict[str, object] = {
        "cex_taker_fee_bps": {},
        "dex_taker_fee_bps": {},
        "gas": GasParams(signatures=0, cu_price_floor_micro_lamports=0, priority_share_of_edge=0),
        "sol_price_quote": Decimal(150),
        "slippage_default_bps": 0.0,
        "safety_margin_bps": 0.0,
    }
    base.update(kw)
    return CostParams(**base)  # type: ignore[arg-type]


def test_config_bps_become_ppb_of_the_decimal_written() -> None:
    assert [bps_to_ppb(x) for x in (2.0, 7.5, 0.1, 2.3, 12.34567)] == [
        200_000,
        750_000,
        10_000,
        230_000,
        1_234_567,
    ]
    # finer than one ppb: nearest, ties to even
    assert [bps_to_ppb(x) for x in (0.000004, 0.000005, 0.000015, -0.000015)] == [0, 0, 2, -2]
    assert to_ppb(0.8) == 800_000_000
    assert to_ppb(10.0, 10_000_000) == 100_000_000  # a percent as ppb of the size


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_bps_to_ppb_is_the_written_decimal_rounded_half_even(bps: float) -> None:
    exact = (Decimal(repr(bps)) * 100_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert bps_to_ppb(bps) == int(exact)


def test_non_finite_bps_are_a_config_error() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="not a finite number"):
            bps_to_ppb(bad)


def test_ppb_of_a_notional_rounds_up_and_the_float_view_is_exact() -> None:
    assert ppb_of(900_000, 800_400_000) == 720_360
    assert ppb_of(1, 1) == 1
    assert ppb_of(0, 10**9) == 0
    assert ppb_to_bps(230_000) == 2.3


def test_ratio_comparisons_are_exact_and_none_is_minus_infinity() -> None:
    third = (1, 3)  # 1/3 ppb
    assert ratio_lt(third, 1) and not ratio_lt(third, 0)
    assert ratio_ge((3, 3), 1) and not ratio_ge((2, 3), 1)
    assert ratio_lt(None, -(10**30)) and not ratio_ge(None, -(10**30))


def test_params_carry_ppb_converted_once_beside_the_configured_bps() -> None:
    c = _free_costs(
        cex_taker_fee_bps={"binance": 10.0},
        dex_taker_fee_bps={"phoenix": 2.5},
        slippage_default_bps=2.0,
        safety_margin_bps=5.0,
        hedge_fee_bps=5.0,
        funding_bps_per_hour=0.1,
        expected_hold_s=5.0,
    )
    assert c.cex_taker_fee_ppb == {"binance": 1_000_000}
    assert c.dex_taker_fee_ppb == {"phoenix": 250_000}
    assert (c.slippage_default_ppb, c.safety_margin_ppb) == (200_000, 500_000)
    # 5 bps + 0.1 bps/h x 5 s = 500_000 + 13.89 ppb -> 500_014
    assert c.hedge_perp_ppb == 500_014
    h = HysteresisParams(rearm_below_bps=2.0, update_min_edge_change_bps=1.0)
    assert (h.rearm_below_ppb, h.update_min_edge_change_ppb, h.update_min_size_change_ppb) == (
        200_000,
        100_000,
        100_000_000,
    )
    p = SpreadParams(
        pair="SOL/USDC",
        base_decimals=9,
        quote_decimals=6,
        quote_currency="USDC",
        costs=c,
        max_trade_base=1,
        max_notional_quote=1,
        min_net_bps=3.0,
    )
    assert p.min_net_ppb == 300_000


def test_a_net_edge_exactly_at_the_threshold_triggers_though_its_float_view_falls_short() -> None:
    # buy 30_000 (fee 1), sell 30_016 (fee 6): net 9 units of 30_000 = exactly 3 bps.
    c = evaluate_candidate(
        _free_costs(),
        buy_gross_quote=30_000,
        buy_fee_quote=1,
        sell_gross_quote=30_016,
        sell_fee_quote=6,
        cex_buys=True,
        cex_is_perp=False,
        slippage_bps=0.0,
        quote_decimals=6,
    )
    assert c.net == (9 * 10**9, 30_000)
    assert c.pnl_quote == 9
    assert c.net_bps == 2.9999999999999996  # the float view (spread - costs) rounds below 3
    assert ratio_ge(c.net, bps_to_ppb(3.0))  # the decision: exactly 3 bps meets min_net 3 bps


def test_rearm_needs_the_net_edge_strictly_below_the_rearm_line_exactly() -> None:
    d = Debouncer(HysteresisParams(rearm_below_bps=2.0))
    kw = {"trigger_net_ppb": 300_000, "size_base": 1, "now_ns": 0}
    assert d.decide("k", triggered=True, net=(400_000, 1), **kw)[0] == "signal"  # type: ignore[arg-type]
    # 1 bps = trigger 3 - re-arm 2: not below the line, stays disarmed
    d.decide("k", triggered=False, net=(300_000, 3), **kw)  # type: ignore[arg-type]
    assert d.states["k"].armed is False
    d.decide("k", triggered=False, net=(299_999, 3), **kw)  # type: ignore[arg-type]
    assert d.states["k"].armed is True
    assert d.counters["rearms"] == 1


def test_an_update_needs_the_net_edge_to_move_by_the_configured_bps_exactly() -> None:
    d = Debouncer(HysteresisParams(debounce_ns=0, update_min_edge_change_bps=1.0))
    kw = {"trigger_net_ppb": 0, "size_base": 100, "now_ns": 0}
    d.decide("k", triggered=True, net=(1_000_000, 3), **kw)  # type: ignore[arg-type]
    # +99_999.99 ppb: under 1 bps, suppressed; +100_000 ppb exactly: an update
    assert d.decide("k", triggered=True, net=(1_299_999, 3), **kw)[0] == "suppress"  # type: ignore[arg-type]
    assert d.decide("k", triggered=True, net=(1_300_000, 3), **kw)[0] == "update"  # type: ignore[arg-type]
    assert d.states["k"].last_net == (1_300_000, 3)


def test_landing_floor_moves_only_when_the_rate_is_exactly_below_target() -> None:
    stats = LandingStats(window=10, min_samples=10, target_rate=0.8)
    for landed in [True] * 8 + [False] * 2:  # 8/10 = the target: not below it
        stats.observe(1_000, landed)
    assert stats.effective_floor(1_000, 1_000_000) == 1_000
    stats.observe(1_000, False)  # 7/10
    assert stats.effective_floor(1_000, 1_000_000) == 1_024
