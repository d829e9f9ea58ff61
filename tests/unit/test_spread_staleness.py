"""Staleness from feed health (issue 15 item 2): a view is stale when its feed is unhealthy,
silent or behind in slot, never merely because its account or book has not changed."""

from __future__ import annotations

from dataclasses import replace

from operators.events import HealthEvent
from operators.spread import PairEngine
from tests.unit.test_spread import CEX_ID, CLOB_ID, MS, cex, clob, make_params

FEED = "solana:feed"
S = 1_000 * MS


def _up(ts_ns: int, slot: int, source: str = FEED) -> HealthEvent:
    return HealthEvent(source, "up", f"slot {slot}", ts_ns, ts_ns, float(slot))


def _engine_with_quiet_pool() -> PairEngine:
    """A CLOB view at slot 1 (t = 0), a CEX book with no edge yet; 1 s budgets."""
    eng = PairEngine(make_params(cex_stale_after_ns={CEX_ID: S}, stale_after_ns=2 * S))
    eng.on_view(clob(10_100, 10_110, ts_ns=0), 0)
    eng.on_view(cex("100.95", "101.05", ts_ns=0), 0)  # no edge
    return eng


def test_quiet_pool_at_current_slot_behind_healthy_feed_is_tradeable_after_10_s() -> None:
    eng = _engine_with_quiet_pool()
    # The Solana feed keeps beating (slots flow, the pool's account does not change).
    for i in range(1, 11):
        eng.on_feed_health(_up(i * S, 1 + 2 * i))
    now = 10 * S + 500 * MS
    assert eng.is_stale(eng.views[CLOB_ID], now) is False
    [opp] = eng.on_view(cex("99.90", "100.05", ts_ns=now), now)  # the CEX moves +100 bps
    assert (opp.buy_venue, opp.sell_venue, opp.size_base) == (CEX_ID, CLOB_ID, 10 * 10**9)
    assert eng.counters["stale_skips"] == 0


def test_quiet_pool_without_any_feed_sign_of_life_is_stale() -> None:
    eng = _engine_with_quiet_pool()
    now = 2 * S + 1
    assert eng.on_view(cex("99.90", "100.05", ts_ns=now), now) == []
    assert eng.counters["stale_skips"] == 2
    # a frame of the market that changed nothing (same account data) is a sign of life
    eng.heard(CLOB_ID, False, "phoenix", now, 7)
    assert eng.is_stale(eng.views[CLOB_ID], now + 1) is False


def test_feed_down_makes_a_fresh_dex_view_stale_at_once_until_up() -> None:
    eng = _engine_with_quiet_pool()
    eng.on_feed_health(HealthEvent(FEED, "down", "ws closed", 100 * MS, 100 * MS))
    assert eng.is_stale(eng.views[CLOB_ID], 100 * MS) is True
    assert eng.on_view(cex("99.90", "100.05", ts_ns=101 * MS), 101 * MS) == []
    assert eng.counters["stale_skips"] == 2
    eng.on_feed_health(_up(200 * MS, 9))
    # back up, but the view predates the break and the feed moved 8 slots: within 20
    assert eng.is_stale(eng.views[CLOB_ID], 200 * MS) is False


def test_feed_lag_makes_dex_views_stale_at_once() -> None:
    eng = _engine_with_quiet_pool()
    eng.on_feed_health(HealthEvent(FEED, "lag", "30 behind", 50 * MS, 50 * MS, 30.0))
    assert eng.is_stale(eng.views[CLOB_ID], 50 * MS) is True
    assert eng.is_stale(eng.views[CEX_ID], 50 * MS) is False  # another feed


def test_view_older_than_a_feed_break_is_stale_once_the_feed_moved_past_the_slot_lag() -> None:
    eng = _engine_with_quiet_pool()
    eng.on_feed_health(HealthEvent(FEED, "down", "ws closed", 100 * MS, 100 * MS))
    eng.on_feed_health(_up(300 * MS, 1 + 21))  # 21 slots past the view's slot 1 (budget 20)
    assert eng.is_stale(eng.views[CLOB_ID], 300 * MS) is True
    # a view of the new epoch is current at the feed's slot again
    eng.on_view(replace(clob(10_100, 10_110, ts_ns=310 * MS), slot=22), 310 * MS)
    eng.on_feed_health(_up(400 * MS, 60))
    assert eng.is_stale(eng.views[CLOB_ID], 400 * MS) is False


def test_cex_book_is_stale_when_its_venue_stream_is_stale_not_when_unchanged() -> None:
    eng = PairEngine(make_params(cex_stale_after_ns={CEX_ID: S}, stale_after_ns=2 * S))
    eng.on_view(cex("99.90", "100.05", ts_ns=0), 0)
    eng.on_view(clob(10_000, 10_010, ts_ns=0), 0)  # no edge yet
    # the book does not change for 5 s but the venue's stream flows (trades, empty diffs)
    for i in range(1, 11):
        eng.heard(CEX_ID, True, "binance", i * 500 * MS, 0)
        eng.on_feed_health(_up(i * 500 * MS, 1 + i))  # the Solana feed beats too
    assert eng.is_stale(eng.views[CEX_ID], 5 * S + 100 * MS) is False
    [opp] = eng.on_view(clob(10_100, 10_110, ts_ns=5 * S + 100 * MS), 5 * S + 100 * MS)
    assert (opp.buy_venue, opp.sell_venue) == (CEX_ID, CLOB_ID)
    # the transport reports the venue stale: refused at once, though 0.1 s after a frame
    eng.on_feed_health(HealthEvent("binance", "stale", "no data 1 s", 5 * S, 5 * S))
    assert eng.is_stale(eng.views[CEX_ID], 5 * S + 100 * MS) is True
    eng.on_feed_health(_up(5 * S + 200 * MS, 0, source="binance"))
    assert eng.is_stale(eng.views[CEX_ID], 5 * S + 300 * MS) is False
    # nothing at all from the venue for longer than its 1 s budget: stale
    assert eng.is_stale(eng.views[CEX_ID], 6 * S + 300 * MS) is True
