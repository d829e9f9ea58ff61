"""The cost model: gas, priority fee from the edge, landing floor, slippage p95, hedge, totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from operators.costs import (
    CostParams,
    GasParams,
    LandingStats,
    SlippageEstimator,
    bps_of,
    choose_cu_price,
    cu_price_bucket,
    evaluate_candidate,
    gas_lamports,
    gas_quote_units,
    hedge_bps,
    lamports_to_quote_units,
)
from operators.events import CostBreakdown

QD = 6


def params(**kw: object) -> CostParams:
    base: dict[str, object] = {
        "cex_taker_fee_bps": {"binance": 10.0},
        "dex_taker_fee_bps": {"phoenix": 2.0},
        "gas": GasParams(),
        "sol_price_quote": Decimal("150"),
        "slippage_default_bps": 2.0,
        "hedge_fee_bps": 5.0,
        "funding_bps_per_hour": 0.1,
        "expected_hold_s": 3600.0,
        "safety_margin_bps": 5.0,
    }
    base.update(kw)
    return CostParams(**base)  # type: ignore[arg-type]


def test_gas_is_signature_fees_plus_cu_limit_times_cu_price() -> None:
    gas = GasParams(signatures=2, base_fee_lamports=5000, cu_limit=200_000)
    assert gas_lamports(gas, 0) == 10_000
    assert gas_lamports(gas, 1_000) == 10_200  # 200k CU x 1000 micro-lamports = 200 lamports
    assert gas_lamports(gas, 1) == 10_001  # 0.2 lamport of priority is charged as 1


def test_gas_in_quote_units_uses_the_sol_price_and_rounds_up() -> None:
    assert lamports_to_quote_units(1_000_000_000, Decimal("150"), QD) == 150_000_000
    assert lamports_to_quote_units(5_000, Decimal("150"), QD) == 750  # 0.00075 USDC
    assert lamports_to_quote_units(1, Decimal("150.5"), QD) == 1  # 0.1505 micro-USDC, up
    assert gas_quote_units(params(), 1_000, QD) == 780  # 5200 lamports at 150


def test_priority_fee_is_the_edge_share_converted_to_micro_lamports_per_cu() -> None:
    p = params(gas=GasParams(cu_price_floor_micro_lamports=1_000, priority_share_of_edge=0.1))
    # 10% of 30_000 micro-USDC = 3000 micro-USDC = 0.003 / 150 SOL = 20_000 lamports
    # = 2e10 micro-lamports over 200_000 CU = 100_000 micro-lamports per CU.
    assert choose_cu_price(p, 30_000, QD) == 100_000
    assert choose_cu_price(p, 30, QD) == 1_000  # 100 micro-lamports: below the floor
    assert choose_cu_price(p, 0, QD) == 1_000
    assert choose_cu_price(p, -5, QD) == 1_000
    assert choose_cu_price(p, 10**12, QD) == 2_000_000  # clamped at the cap


def test_landing_stats_raise_the_floor_past_buckets_that_stop_landing() -> None:
    stats = LandingStats(window=50, min_samples=10, target_rate=0.8)
    assert stats.effective_floor(1_000, 2_000_000) == 1_000  # no evidence yet
    for i in range(10):
        stats.observe(1_000, landed=i < 5)  # 50% in bucket 512
    assert cu_price_bucket(1_000) == 512
    assert stats.landing_rate(512) == 0.5
    assert stats.effective_floor(1_000, 2_000_000) == 1_024
    for _ in range(10):
        stats.observe(1_500, landed=False)  # bucket 1024 fails too
    assert stats.effective_floor(1_000, 2_000_000) == 2_048
    assert stats.effective_floor(1_000, 1_500) == 1_500  # never above the cap
    p = params(gas=GasParams(landing_min_samples=10))
    assert choose_cu_price(p, 0, QD, stats) == 2_048


def test_landing_floor_comes_back_down_when_cheap_transactions_land_again() -> None:
    stats = LandingStats(window=10, min_samples=10, target_rate=0.8)
    for _ in range(10):
        stats.observe(1_000, landed=False)
    assert stats.effective_floor(1_000, 2_000_000) == 1_024
    for _ in range(10):
        stats.observe(1_000, landed=True)
    assert stats.effective_floor(1_000, 2_000_000) == 1_000


def test_slippage_uses_the_default_until_enough_fills_then_the_p95() -> None:
    est = SlippageEstimator(window=100, min_fills=20)
    for i in range(19):
        est.observe("binance:SOLUSDC", float(i))
    assert est.expected_bps("binance:SOLUSDC", 2.0) == 2.0
    est.observe("binance:SOLUSDC", 19.0)
    assert est.p95_bps("binance:SOLUSDC") == 18.0  # nearest rank 19 of 0..19
    assert est.expected_bps("binance:SOLUSDC", 2.0) == 18.0
    assert est.expected_bps("orca:POOL", 2.0) == 2.0


def test_hedge_cost_applies_to_perp_legs_only() -> None:
    p = params()
    assert hedge_bps(p, cex_is_perp=False) == 0.0
    assert hedge_bps(p, cex_is_perp=True) == pytest.approx(5.1, abs=1e-12)  # 5 + 0.1/h x 1h


def test_bps_of_rounds_up() -> None:
    assert bps_of(9.0, 800_400_000) == 720_360
    assert bps_of(1.0, 1) == 1
    assert bps_of(0.0, 10**9) == 0


def test_candidate_costs_every_term_in_bps_of_the_buy_notional() -> None:
    p = params()
    c = evaluate_candidate(
        p,
        buy_gross_quote=1_000_000_000,  # 1000 USDC
        buy_fee_quote=1_000_000,  # 10 bps
        sell_gross_quote=1_010_000_000,  # +100 bps
        sell_fee_quote=202_000,
        cex_buys=True,
        cex_is_perp=True,
        slippage_bps=4.0,
        quote_decimals=QD,
    )
    # edge before gas = 1_009_798_000 - 1_001_000_000 - (4 + 5.1 + 5) bps of 1e9 = 7_388_000
    # cu price = 0.1 x 7_388_000 micro-USDC -> 738_800 micro-USDC / 150 = 4_925_333 lamports
    # -> 24_626_666 micro-lamports/CU, capped at 2_000_000: 405_000 lamports = 60_750.
    assert c.cu_price_micro_lamports == 2_000_000
    assert c.gas_quote == 60_750
    assert c.pnl_quote == 7_388_000 - 60_750
    assert c.notional_quote == 1_000_000_000
    assert c.spread_bps == 100.0
    assert c.costs == CostBreakdown(
        fees_cex_bps=10.0,
        fees_dex_bps=2.02,
        gas_bps=0.6075,
        slippage_bps=4.0,
        hedge_bps=c.costs.hedge_bps,
        safety_margin_bps=5.0,
    )
    assert c.costs.hedge_bps == pytest.approx(5.1, abs=1e-12)
    assert c.net_bps == pytest.approx(100.0 - 10.0 - 2.02 - 0.6075 - 4.0 - 5.1 - 5.0, abs=1e-9)
    # net bps and PnL agree to rounding.
    assert c.net_bps == pytest.approx(c.pnl_quote * 10_000 / c.notional_quote, abs=1e-6)


def test_candidate_fees_are_attributed_to_the_cex_or_dex_leg_by_direction() -> None:
    c = evaluate_candidate(
        params(),
        buy_gross_quote=1_000_000,
        buy_fee_quote=100,
        sell_gross_quote=1_000_000,
        sell_fee_quote=1_000,
        cex_buys=False,
        cex_is_perp=False,
        slippage_bps=0.0,
        quote_decimals=QD,
    )
    assert (c.costs.fees_cex_bps, c.costs.fees_dex_bps, c.costs.hedge_bps) == (10.0, 1.0, 0.0)
    assert c.cu_price_micro_lamports == 1_000  # no edge: the floor
