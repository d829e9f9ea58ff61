from __future__ import annotations

from dataclasses import replace

from operators.events import CostBreakdown, HealthEvent, Opportunity
from operators.risk import RiskGuard, RiskParams

SEC = 1_000_000_000


def _params(**kw: object) -> RiskParams:
    base = dict(
        max_notional_usd_micro=5_000_000_000,
        max_notional_per_minute_usd_micro=12_000_000_000,
        max_exposure_usd_micro=20_000_000_000,
        quote_usd_micro={"SOL/USDC": (1, 1)},
        max_open_orders=4,
        kill_switch=False,
        feed_down_kill_ns=1_500_000_000,
        max_slot_lag=20,
        open_order_ttl_ns=SEC,
        limit_slippage_bps=10,
    )
    base.update(kw)
    return RiskParams(**base)  # type: ignore[arg-type]


def _opp(
    ts: int = 10 * SEC, buy: int = 3_000_000_000, sell: int = 3_015_000_000, **kw: object
) -> Opportunity:
    o = Opportunity(
        opportunity_id=f"SOL/USDC#{ts}",
        pair="SOL/USDC",
        direction="buy_dex_sell_cex",
        buy_venue="orca:P",
        sell_venue="binance:SOLUSDC",
        size_base=20_000_000_000,
        buy_quote=buy,
        sell_quote=sell,
        spread_bps=50.0,
        costs=CostBreakdown(10.0, 5.0, 0.5, 2.0, 0.0, 5.0),
        threshold_bps=22.5,
        net_bps=27.5,
        expected_pnl_quote=8_000_000,
        marginal_bps=3.0,
        cu_price_micro_lamports=5000,
        update_seq=0,
        ts_event_ns=ts,
        ts_recv_ns=ts,
        ts_detect_ns=ts,
    )
    return replace(o, **kw)  # type: ignore[arg-type]


def test_green_rails_give_two_ioc_legs_with_slippage_limits() -> None:
    g = RiskGuard(_params())
    decision, intents = g.on_opportunity(_opp())
    assert decision.accepted and decision.rail == "ok"
    buy, sell = intents
    assert (buy.side, buy.market_id, buy.size_base) == ("buy", "orca:P", 20_000_000_000)
    assert buy.limit_quote == 3_003_000_000  # 3000 USDC + 10 bps, rounded down
    assert (sell.side, sell.market_id) == ("sell", "binance:SOLUSDC")
    assert sell.limit_quote == 3_011_985_000  # 3015 USDC - 10 bps, rounded up
    assert buy.pair == sell.pair == "SOL/USDC"


def test_config_kill_switch_rejects_everything() -> None:
    g = RiskGuard(_params(kill_switch=True))
    decision, intents = g.on_opportunity(_opp())
    assert (decision.accepted, decision.rail, intents) == (False, "kill_switch", [])


def test_feed_down_longer_than_limit_trips_kill_switch_and_stays_tripped() -> None:
    g = RiskGuard(_params())
    g.on_health(HealthEvent("binance:SOLUSDC", "down", "ws closed", 0, 1 * SEC))
    d1, _ = g.on_opportunity(_opp(ts=2 * SEC))  # down 1.0 s: still under 1.5 s
    assert d1.accepted
    d2, _ = g.on_opportunity(_opp(ts=3 * SEC))  # down 2.0 s
    assert (d2.accepted, d2.rail) == (False, "kill_switch")
    assert "down for 2000 ms" in d2.reason
    g.on_health(HealthEvent("binance:SOLUSDC", "up", "", 0, 4 * SEC))
    d3, _ = g.on_opportunity(_opp(ts=5 * SEC))
    assert d3.rail == "kill_switch"


def test_slot_lag_over_limit_kills() -> None:
    g = RiskGuard(_params())
    g.on_health(HealthEvent("rpc", "lag", "slot lag", 0, SEC, value=25))
    d, _ = g.on_opportunity(_opp())
    assert d.rail == "kill_switch" and "slot lag 25 > 20" in d.reason


def test_per_trade_notional_cap() -> None:
    d, _ = RiskGuard(_params()).on_opportunity(_opp(buy=5_100_000_000, sell=5_120_000_000))
    assert (d.accepted, d.rail) == (False, "max_notional")


def test_minute_budget_resets_after_sixty_seconds() -> None:
    g = RiskGuard(_params(max_open_orders=100))
    assert g.on_opportunity(_opp(ts=1 * SEC))[0].accepted
    assert g.on_opportunity(_opp(ts=3 * SEC))[0].accepted
    assert g.on_opportunity(_opp(ts=5 * SEC))[0].accepted
    d, _ = g.on_opportunity(_opp(ts=7 * SEC))
    assert d.rail == "max_notional_per_minute"
    assert g.on_opportunity(_opp(ts=62 * SEC))[0].accepted


def test_open_orders_cap_counts_legs_until_their_ttl() -> None:
    g = RiskGuard(_params(max_open_orders=2))
    assert g.on_opportunity(_opp(ts=10 * SEC))[0].accepted
    assert g.on_opportunity(_opp(ts=10 * SEC + 1))[0].rail == "max_open_orders"
    assert g.on_opportunity(_opp(ts=12 * SEC))[0].accepted


def test_stale_view_and_signal_updates_never_trade() -> None:
    g = RiskGuard(_params())
    assert g.on_opportunity(_opp(stale_venues=("orca:P",)))[0].rail == "stale_view"
    assert g.on_opportunity(_opp(update_seq=3))[0].rail == "signal_update"
    assert g.on_opportunity(_opp(net_bps=-1.0))[0].rail == "spread_under_threshold"


def test_exposure_cap_per_venue() -> None:
    g = RiskGuard(
        _params(
            max_exposure_usd_micro=7_000_000_000,
            max_open_orders=100,
            max_notional_per_minute_usd_micro=10**15,
        )
    )
    assert g.on_opportunity(_opp(ts=1 * SEC))[0].accepted
    assert g.on_opportunity(_opp(ts=2 * SEC))[0].accepted
    d, _ = g.on_opportunity(_opp(ts=3 * SEC))
    assert (d.rail, d.reason) == ("max_exposure", "orca:P exposure cap")


def test_caps_value_each_pair_in_its_own_quote_currency() -> None:
    # A SOL/USDT pair whose quote is worth 0.5 USD (via [fx]) and has 8 decimals: 3,000 USDT of
    # notional is 1,500 USD, under a 2,000 USD cap; the same units read as USDC would be over.
    from decimal import Decimal

    from operators.risk import quote_to_usd_micro_ratio

    rates = {
        "SOL/USDC": quote_to_usd_micro_ratio(6, Decimal(1)),
        "SOL/USDT": quote_to_usd_micro_ratio(8, Decimal("0.5")),
    }
    assert rates == {"SOL/USDC": (1, 1), "SOL/USDT": (1, 200)}
    g = RiskGuard(_params(max_notional_usd_micro=2_000_000_000, quote_usd_micro=rates))
    usdt = _opp(ts=1 * SEC, buy=300_000_000_000, sell=301_000_000_000, pair="SOL/USDT")
    assert g.on_opportunity(usdt)[0].accepted
    assert g.s.exposure_usd_micro == {"orca:P": 1_500_000_000, "binance:SOLUSDC": -1_505_000_000}
    usdc = _opp(ts=2 * SEC, buy=2_500_000_000, sell=2_510_000_000)
    d, _ = g.on_opportunity(usdc)
    assert (d.rail, d.reason) == ("max_notional", "2510000000 > 2000000000")


def test_a_pair_without_a_usd_rate_is_rejected_not_guessed() -> None:
    g = RiskGuard(_params())
    d, intents = g.on_opportunity(_opp(pair="BONK/SOL"))
    assert (d.accepted, d.rail, intents) == (False, "unpriced_pair", [])
