"""Feed health: the Solana account feed's own (`FeedStatus`) and what the risk guard makes of
it; the CEX staleness budget reaching the transport."""

from __future__ import annotations

from config import load_settings
from connectors.cex.transport import CexTransport, TransportConfig
from connectors.solana.sources import FEED_SOURCE, FeedStatus
from engine.live_inputs import cex_sources
from engine.params import feed_of_sources, risk_params
from operators.events import HealthEvent
from operators.risk import RiskGuard
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL

MS = 1_000_000
SEC = 1_000_000_000


def _rpc(status: str, ts: int) -> HealthEvent:
    return HealthEvent("rpc:ws:primary", status, f"ws {status}", ts, ts)


def test_first_data_after_a_resync_reports_the_feed_up_at_once() -> None:
    fs = FeedStatus(heartbeat_every_ns=500 * MS)
    assert fs.on_data(2 * SEC, 100, "slot 100 from primary", is_slot=True)[0].status == "up"
    [down] = fs.on_rpc_health(_rpc("down", 2 * SEC + MS), "down")
    [resync] = fs.on_rpc_health(_rpc("resync", 2 * SEC + 95 * MS), "resync")
    assert [(e.source, e.status) for e in (down, resync)] == [
        (FEED_SOURCE, "down"), (FEED_SOURCE, "resync")]
    # 100 ms after the last heartbeat, a heartbeat would be throttled; data after a resync is not
    [up] = fs.on_data(2 * SEC + 100 * MS, 140, "account P at slot 140", is_slot=False)
    assert (up.source, up.status, up.detail, up.value) == (
        FEED_SOURCE, "up", "data after resync: account P at slot 140", 140.0)
    assert fs.on_data(2 * SEC + 110 * MS, 141, "slot 141 from primary", is_slot=True) == []


def test_slot_heartbeats_are_throttled_and_accounts_alone_give_none() -> None:
    fs = FeedStatus(heartbeat_every_ns=500 * MS)
    beats = [
        ts for ts in range(SEC, 3 * SEC, 100 * MS)
        if fs.on_data(ts, ts // MS, "slot", is_slot=True)
    ]
    assert beats == [SEC, SEC + 500 * MS, 2 * SEC, 2 * SEC + 500 * MS]
    assert fs.on_data(4 * SEC, 1, "account", is_slot=False) == []


def test_lag_is_ended_by_the_endpoint_catching_up_not_by_its_late_data() -> None:
    fs = FeedStatus(heartbeat_every_ns=500 * MS)
    fs.on_rpc_health(HealthEvent("rpc:primary", "lag", "", SEC, SEC, 30.0), "lag")
    assert fs.on_data(SEC + MS, 1, "account", is_slot=False) == []
    assert fs.on_data(2 * SEC, 2, "slot 2", is_slot=True) == []
    assert fs.state == "lag"
    [up] = fs.on_rpc_health(HealthEvent("rpc:primary", "up", "caught up", 3 * SEC, 3 * SEC), "up")
    assert (up.source, up.status, fs.state) == (FEED_SOURCE, "up", "up")


def test_94ms_ws_blip_through_the_feed_never_kills_trading_for_the_session() -> None:
    """The reproduced bug: a reconnect said `resync`, never `up`, and the guard's entry for the
    endpoint stayed, killing trading for the rest of the session."""
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    guard = RiskGuard(risk_params(settings))
    assert guard.p.feed_of == feed_of_sources(settings)
    assert guard.p.feed_of[f"orca:{SAMPLE_POOL}"] == FEED_SOURCE
    fs = FeedStatus(heartbeat_every_ns=500 * MS)
    t0 = 10 * SEC
    events: list[HealthEvent] = []
    for ev, status in ((_rpc("down", t0), "down"), (_rpc("resync", t0 + 94 * MS), "resync")):
        events += [ev, *fs.on_rpc_health(ev, status)]
    # the WS is back: slots flow (500 ms heartbeats) for a minute, never an endpoint `up`
    for k in range(120):
        events += fs.on_data(t0 + 100 * MS + k * 500 * MS, 1000 + k, f"slot {1000 + k}",
                             is_slot=True)
    out = [x for ev in events for x in guard.on_health(ev)]
    assert out == []
    assert (guard.s.killed, guard.s.feeds_down_since) == (False, {})
    assert [e.status for e in events[:5]] == ["down", "down", "resync", "resync", "up"]
    assert events[4].ts_recv_ns - t0 == 100 * MS


def test_cex_transport_takes_the_venue_budget_or_the_configured_one() -> None:
    [src] = cex_sources(load_settings(env={}))
    assert src.config is not None and src.config.stale_after_s is None  # the adapter's: 1 s
    t = CexTransport("bybit", ["SOLUSDC"], "spot", "ws://x", "http://x", lambda _: None,
                     config=src.config)
    assert (t.stale_after_s, t.config.reconnect_after_s) == (1.0, 10.0)
    [tuned] = cex_sources(load_settings(env={"SOLARB__VENUES__BINANCE__STALE_AFTER_MS": "400"}))
    assert tuned.config is not None and tuned.config.stale_after_s == 0.4
    # a caller's explicit timing (tests, benches) is kept over the config's
    [kept] = cex_sources(load_settings(env={"SOLARB__VENUES__BINANCE__STALE_AFTER_MS": "400"}),
                         transport_config=TransportConfig(stale_after_s=0.25))
    assert kept.config is not None and kept.config.stale_after_s == 0.25


def test_a_silent_feed_is_stale_after_its_budget_stamped_with_its_last_data() -> None:
    fs = FeedStatus(heartbeat_every_ns=500 * MS, stale_after_ns=1000 * MS)
    assert fs.check(5 * SEC) == []  # no data yet: nothing to be stale about
    fs.on_data(SEC, 10, "slot 10", is_slot=True)
    fs.on_data(SEC + 400 * MS, 11, "slot 11", is_slot=True)
    assert fs.check(2 * SEC + 399 * MS) == []
    [stale] = fs.check(2 * SEC + 400 * MS)
    assert (stale.source, stale.status, stale.ts_event_ns, stale.ts_recv_ns) == (
        FEED_SOURCE, "stale", SEC + 400 * MS, 2 * SEC + 400 * MS)
    assert fs.check(3 * SEC) == []  # said once
    [up] = fs.on_data(3 * SEC, 12, "slot 12", is_slot=True)
    assert (up.status, up.detail) == ("up", "data after stale: slot 12")
    # the guard's budget runs from the last data: 1 s budget, tripped 1.1 s after slot 11
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    guard = RiskGuard(risk_params(settings))
    guard.on_health(HealthEvent(FEED_SOURCE, "up", "", SEC, SEC))
    assert guard.on_health(stale) == []
    [kill] = guard.on_health(HealthEvent("control:tick", "tick", "", 2 * SEC + 500 * MS,
                                         2 * SEC + 500 * MS))
    assert kill.detail == "feed solana:feed stale for 1100 ms"


def test_a_lagging_or_resyncing_feed_is_not_called_stale() -> None:
    fs = FeedStatus(heartbeat_every_ns=500 * MS, stale_after_ns=1000 * MS)
    fs.on_data(SEC, 10, "slot 10", is_slot=True)
    fs.on_rpc_health(_rpc("down", SEC + 100 * MS), "down")
    assert fs.check(10 * SEC) == []  # already down: the RPC layer's own event said it
    assert FeedStatus(heartbeat_every_ns=500 * MS).check(10 * SEC) == []  # no budget: never
