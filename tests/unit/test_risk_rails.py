"""Issue 13 rails in the risk guard: too-good spreads, manual kill/arm, clock drift, kill rows."""

from __future__ import annotations

from operators.events import HealthEvent
from operators.risk import (
    KILL_SOURCE,
    MANUAL_SOURCE,
    SANITY_SOURCE,
    KillRecord,
    RiskGuard,
)
from tests.unit.test_risk import SEC, _opp, _params


def test_doubled_price_is_refused_as_too_good_to_be_true_and_flagged() -> None:
    g = RiskGuard(_params(max_spread_bps=300))
    # a view whose price is doubled (e.g. wrong decimals): +10,000 bps gross
    decision, intents = g.on_opportunity(_opp(buy=3_000_000_000, sell=6_000_000_000))
    assert (decision.accepted, decision.rail, intents) == (False, "too_good_to_be_true", [])
    assert decision.reason == (
        "gross spread orca:P->binance:SOLUSDC above 300 bps (buy 3000000000, sell 6000000000 "
        "quote units)"
    )
    assert g.take_events() == [
        HealthEvent(
            SANITY_SOURCE, "too_good", f"SOL/USDC#{10 * SEC}: {decision.reason}", 10 * SEC, 10 * SEC
        )
    ]
    assert g.s.exposure_usd_micro == {} and g.s.accepted == 0


def test_spread_exactly_at_the_sanity_cap_still_trades_one_unit_above_does_not() -> None:
    g = RiskGuard(_params(max_spread_bps=300))
    at_cap, _ = g.on_opportunity(_opp(ts=10 * SEC, buy=3_000_000_000, sell=3_090_000_000))
    above, _ = g.on_opportunity(_opp(ts=20 * SEC, buy=3_000_000_000, sell=3_090_000_001))
    assert (at_cap.rail, above.rail) == ("ok", "too_good_to_be_true")


def test_manual_kill_is_journaled_with_cause_and_times_and_needs_arm() -> None:
    g = RiskGuard(_params(rearm_after_ns=1 * SEC))
    g.on_health(HealthEvent(MANUAL_SOURCE, "kill", "fat finger", 5 * SEC, 5 * SEC + 7))
    assert g.take_kills() == [
        KillRecord(
            "manual", "kill requested by control:manual: fat finger", 5 * SEC, 5 * SEC + 7,
            "nothing resting",
        )
    ]
    # every feed healthy for a long time: the auto re-arm rule never clears a manual kill
    g.on_health(HealthEvent("binance:SOLUSDC", "up", "", 6 * SEC, 6 * SEC))
    d, _ = g.on_opportunity(_opp(ts=60 * SEC))
    assert (d.rail, g.s.kill_cause) == ("kill_switch", "manual")
    out = g.on_health(HealthEvent(MANUAL_SOURCE, "rearm", "solarb arm", 61 * SEC, 61 * SEC))
    assert [(e.source, e.status) for e in out] == [(KILL_SOURCE, "up")]
    d2, _ = g.on_opportunity(_opp(ts=62 * SEC))
    assert d2.rail == "ok"


def test_manual_kill_over_a_feed_kill_survives_the_feed_auto_rearm() -> None:
    g = RiskGuard(_params(rearm_after_ns=1 * SEC))
    g.on_health(HealthEvent("binance:SOLUSDC", "down", "ws closed", 0, 0))
    g.on_health(HealthEvent("binance:SOLUSDC", "down", "ws closed", 2 * SEC, 2 * SEC))
    assert (g.s.killed, g.s.kill_cause) == (True, "feed")
    g.on_health(HealthEvent(MANUAL_SOURCE, "kill", "operator", 3 * SEC, 3 * SEC))
    assert [k.cause for k in g.take_kills()] == ["feed", "manual"]
    g.on_health(HealthEvent("binance:SOLUSDC", "up", "", 4 * SEC, 4 * SEC))
    d, _ = g.on_opportunity(_opp(ts=30 * SEC))  # feeds up 26 s, far past rearm_after
    assert (d.rail, g.s.kill_cause, g.s.rearms) == ("kill_switch", "manual", 0)


def test_feed_kill_while_manually_killed_does_not_replace_the_manual_cause() -> None:
    g = RiskGuard(_params())
    g.on_health(HealthEvent(MANUAL_SOURCE, "kill", "operator", 0, 0))
    g.on_health(HealthEvent("binance:SOLUSDC", "down", "ws closed", 1 * SEC, 1 * SEC))
    g.on_health(HealthEvent("binance:SOLUSDC", "down", "ws closed", 3 * SEC, 3 * SEC))
    assert (g.s.kill_cause, [k.cause for k in g.take_kills()]) == ("manual", ["manual"])


def test_clock_drift_above_cap_trips_and_rearms_after_it_is_back_in_bounds() -> None:
    g = RiskGuard(_params(max_clock_drift_ns=1_000_000_000, rearm_after_ns=1 * SEC))
    g.on_health(HealthEvent("clock:binance", "drift", "", 10 * SEC, 10 * SEC, value=999.0))
    assert not g.s.killed
    g.on_health(HealthEvent("clock:binance", "drift", "", 11 * SEC, 11 * SEC, value=-1500.0))
    assert g.take_kills() == [
        KillRecord(
            "clock", "clock drift -1500 ms > 1000 ms on clock:binance", 11 * SEC, 11 * SEC
        )
    ]
    d, _ = g.on_opportunity(_opp(ts=20 * SEC))  # still drifting: no re-arm however long
    assert d.rail == "kill_switch"
    g.on_health(HealthEvent("clock:binance", "drift", "", 21 * SEC, 21 * SEC, value=3.0))
    d2, _ = g.on_opportunity(_opp(ts=23 * SEC))
    assert (d2.rail, g.s.rearms) == ("ok", 1)


def test_slot_lag_kill_row_names_the_lag_sample_time() -> None:
    g = RiskGuard(_params())
    g.on_health(HealthEvent("solana:accounts", "lag", "", 4 * SEC, 4 * SEC + 5, value=21.0))
    assert g.take_kills() == [
        KillRecord("feed", "slot lag 21 > 20 on solana:accounts", 4 * SEC, 4 * SEC + 5)
    ]
