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


def test_feed_down_longer_than_limit_trips_kill_switch_and_stays_tripped_until_rearm() -> None:
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

# -- feed health and the kill switch's re-arm rule ---------------------------------------------

MS = 1_000_000
FEEDS = {
    "solana:feed": "solana:feed",
    "orca:P": "solana:feed",
    "binance": "binance",
    "binance:SOLUSDC": "binance",
}
"""What engine.params.feed_of_sources builds for a Binance book and an Orca pool."""


def _fed(**kw: object) -> RiskGuard:
    return RiskGuard(_params(feed_of=FEEDS, rearm_after_ns=5 * SEC, **kw))


def _h(source: str, status: str, ts: int, value: float = 0.0) -> HealthEvent:
    return HealthEvent(source, status, "", ts, ts, value)


def test_solana_94ms_blip_down_resync_data_does_not_kill_for_the_rest_of_the_session() -> None:
    g = _fed(max_notional_per_minute_usd_micro=10**15, max_open_orders=10**6,
             max_exposure_usd_micro=10**15)
    t0 = 10 * SEC
    # what the Solana feed says on a WS reconnect: the endpoint's events, the feed's events,
    # then data (the pool's view in sync again) -- and never a feed-level `up`
    for ev in (
        _h("rpc:ws:primary", "down", t0),
        _h("solana:feed", "down", t0),
        _h("rpc:ws:primary", "resync", t0 + 94 * MS),
        _h("solana:feed", "resync", t0 + 94 * MS),
        _h("orca:P", "up", t0 + 180 * MS),
    ):
        assert g.on_health(ev) == []
    assert (g.s.feeds_down_since, g.s.feed_state["solana:feed"]) == ({}, "up")
    rails = [g.on_opportunity(_opp(ts=t0 + k * SEC))[0].rail for k in range(1, 61)]
    assert rails == ["ok"] * 60
    assert (g.s.killed, g.s.kill_reason) == (False, "")


def test_resync_alone_does_not_end_an_outage_and_a_missed_up_kills_until_data_returns() -> None:
    g = _fed()
    g.on_health(_h("solana:feed", "down", 10 * SEC))
    g.on_health(_h("solana:feed", "resync", 10 * SEC + 94 * MS))
    [kill] = g.on_health(_h("binance", "up", 11 * SEC + 600 * MS))  # another feed's heartbeat
    assert (kill.source, kill.status) == ("risk:kill_switch", "kill")
    assert kill.detail == "feed solana:feed resync for 1600 ms"
    g.on_health(_h("orca:P", "up", 12 * SEC))  # data after the resync: the feed is up
    assert g.s.feeds_down_since == {} and g.s.all_up_since == 12 * SEC


def test_binance_stall_of_10s_flagged_stale_within_budget_trips_the_kill_then_rearms() -> None:
    g = _fed()
    t0 = 100 * SEC  # last Binance frame; the transport's budget is 1 s, heartbeats every 1 s
    g.on_health(_h("binance", "up", t0 - SEC))
    assert g.on_health(_h("binance", "stale", t0 + SEC, value=1.0)) == []
    d, _ = g.on_opportunity(_opp(ts=t0 + 1980 * MS))  # stale 0.98 s: under ws_down_kill_ms
    assert d.rail == "ok"
    assert g.on_health(_h("binance", "stale", t0 + 2 * SEC)) == []
    [kill] = g.on_health(_h("binance", "stale", t0 + 3 * SEC))
    assert (kill.status, kill.detail, kill.ts_recv_ns) == (
        "kill", "feed binance stale for 2000 ms", t0 + 3 * SEC)
    for k in range(4, 10):
        assert g.on_health(_h("binance", "stale", t0 + k * SEC)) == []
    assert g.on_health(_h("binance", "up", t0 + 10 * SEC + 100 * MS)) == []  # books in sync
    d, _ = g.on_opportunity(_opp(ts=t0 + 15 * SEC))  # up 4.9 s: not yet re-armed
    assert (d.rail, d.reason) == ("kill_switch", "feed binance stale for 2000 ms")
    assert g.take_events() == []
    d, _ = g.on_opportunity(_opp(ts=t0 + 15 * SEC + 100 * MS))
    [rearm] = g.take_events()
    assert (rearm.status, rearm.detail) == ("up", "auto: every feed up for 5000 ms")
    assert d.rail == "ok" and g.s.rearms == 1


def test_a_feed_going_down_again_restarts_the_rearm_wait() -> None:
    g = _fed()
    g.on_health(_h("binance", "down", 0))
    g.on_health(_h("binance", "down", 2 * SEC))
    assert g.s.killed
    g.on_health(_h("binance", "up", 3 * SEC))
    g.on_health(_h("solana:feed", "stale", 6 * SEC))
    g.on_health(_h("solana:feed", "up", 6 * SEC + 500 * MS))
    assert g.on_health(_h("binance", "up", 10 * SEC)) == []  # all up for 3.5 s only
    [rearm] = g.on_health(_h("binance", "up", 11 * SEC + 500 * MS))
    assert rearm.detail == "auto: every feed up for 5000 ms"


def test_a_book_repaired_within_the_budget_does_not_kill_one_stuck_out_of_sync_does() -> None:
    g = _fed()
    g.on_health(_h("binance", "up", 0))
    g.on_health(_h("binance", "resync", SEC))  # one book's gap: its view is flagged meanwhile
    assert g.s.feeds_down_since == {"binance": SEC}
    g.on_health(_h("binance:SOLUSDC", "up", SEC + 300 * MS))  # repaired: its view in sync again
    assert g.on_opportunity(_opp(ts=30 * SEC))[0].rail == "ok"
    assert g.s.feed_state["binance"] == "up" and g.s.feeds_down_since == {}
    g.on_health(_h("binance", "resync", 31 * SEC))  # a gap whose snapshot never lines up
    assert g.on_health(_h("solana:feed", "up", 32 * SEC + 400 * MS)) == []
    [kill] = g.on_health(_h("solana:feed", "up", 32 * SEC + 600 * MS))
    assert kill.detail == "feed binance resync for 1600 ms"


def test_first_connect_of_a_feed_never_up_starts_no_kill_timer() -> None:
    g = _fed()
    g.on_health(_h("binance", "resync", SEC))  # connected, books syncing
    assert g.s.feeds_down_since == {}


def test_stale_budget_runs_from_the_last_data_the_event_carries() -> None:
    g = _fed()
    g.on_health(_h("binance", "up", 0))
    # the transport noticed the silence 1 s after the last frame and stamps that frame's time
    g.on_health(HealthEvent("binance", "stale", "", 9 * SEC, 10 * SEC, 1.0))
    assert g.s.feeds_down_since == {"binance": 9 * SEC}
    [kill] = g.on_health(_h("solana:feed", "up", 10 * SEC + 600 * MS))
    assert kill.detail == "feed binance stale for 1600 ms"
    [rec] = g.take_kills()
    assert (rec.detected_ns, rec.tripped_ns) == (9 * SEC, 10 * SEC + 600 * MS)


def test_manual_rearm_mode_waits_for_a_rearm_event() -> None:
    g = _fed(rearm_auto=False)
    g.on_health(_h("binance", "down", 0))
    g.on_health(_h("binance", "down", 2 * SEC))
    g.on_health(_h("binance", "up", 3 * SEC))
    assert g.on_opportunity(_opp(ts=60 * SEC))[0].rail == "kill_switch"
    [rearm] = g.on_health(HealthEvent("operator", "rearm", "checked feeds", 61 * SEC, 61 * SEC))
    assert (rearm.status, rearm.detail) == ("up", "re-armed by operator: checked feeds")
    assert g.on_opportunity(_opp(ts=62 * SEC))[0].rail == "ok"


def test_requested_kill_never_rearms_by_itself_and_config_kill_never_rearms() -> None:
    g = _fed()
    [kill] = g.on_health(HealthEvent("operator", "kill", "stop", SEC, SEC))
    assert kill.detail == "kill requested by operator: stop"
    g.on_health(_h("binance", "up", 2 * SEC))
    assert g.on_opportunity(_opp(ts=60 * SEC))[0].rail == "kill_switch"
    g.on_health(HealthEvent("operator", "rearm", "", 61 * SEC, 61 * SEC))
    assert g.on_opportunity(_opp(ts=62 * SEC))[0].rail == "ok"
    c = _fed(kill_switch=True)
    assert c.on_health(HealthEvent("operator", "rearm", "", SEC, SEC)) == []
    assert c.on_opportunity(_opp(ts=60 * SEC))[0].reason == "config kill_switch"


def test_slot_lag_kill_rearms_only_once_no_lag_was_seen_for_the_rearm_wait() -> None:
    g = _fed()
    [kill] = g.on_health(_h("solana:feed", "lag", SEC, value=25))
    assert kill.detail == "slot lag 25 > 20 on solana:feed"
    g.on_health(_h("solana:feed", "up", SEC + 500 * MS))  # slots flow, from a lagging node
    g.on_health(_h("solana:feed", "lag", 3 * SEC, value=30))  # the next probe: still behind
    g.on_health(_h("solana:feed", "up", 3 * SEC + 500 * MS))
    assert g.on_health(_h("solana:feed", "up", 8 * SEC)) == []
    [rearm] = g.on_health(_h("solana:feed", "up", 8 * SEC + 500 * MS))
    assert rearm.status == "up"


def test_sources_outside_the_feed_map_never_trip_the_kill() -> None:
    g = _fed()
    g.on_health(_h("rpc:ws:backup", "down", 0))  # the endpoint the feed failed over from
    g.on_health(_h("orca:P", "stale", 0))  # one quiet pool: its view is flagged, not the feed
    assert g.on_opportunity(_opp(ts=60 * SEC))[0].rail == "ok"
