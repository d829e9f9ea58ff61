"""Solana feed health reaches the pool states inside a pair's step (engine/graph.PairStep)."""

from __future__ import annotations

from config import load_settings
from connectors.solana.sources import FEED_SOURCE
from engine.markets import Router
from engine.steps import FEED_HEALTH, PairStep, _Logic, id_epoch
from operators.events import HealthEvent
from operators.views import ClmmView
from sim.simulate import SAMPLE_MARKETS, SimConfig, generate


def _step_after_bootstrap() -> tuple[PairStep, int]:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(settings)
    step = PairStep(settings, router, "SOL/USDC")
    last_ts = 0
    for f in generate(SimConfig(duration_s=2)):
        mid = router.market_of(f)
        assert mid is not None
        step.on_item((mid, f, "SOL/USDC"))
        last_ts = f.ts_recv_ns
    return step, last_ts


def test_feed_down_flags_the_pool_view_at_once_and_recovers_only_on_new_data() -> None:
    step, ts = _step_after_bootstrap()
    down = HealthEvent(FEED_SOURCE, "down", "ws closed", ts, ts + 1)
    out = step.on_item((FEED_HEALTH, down, "SOL/USDC"))
    views = [x for x in out if isinstance(x, ClmmView)]
    assert [v.in_sync for v in views] == [False]
    assert [x.status for x in out if isinstance(x, HealthEvent)] == ["stale"]
    up = HealthEvent(FEED_SOURCE, "resync", "resubscribed", ts, ts + 2)
    out = step.on_item((FEED_HEALTH, up, "SOL/USDC"))
    # feed back up, but the held accounts predate the outage: still not tradeable
    assert [x.in_sync for x in out if isinstance(x, ClmmView)] == [False]


def test_a_heartbeat_that_changes_nothing_emits_nothing() -> None:
    step, ts = _step_after_bootstrap()
    beat = HealthEvent(FEED_SOURCE, "up", "heartbeat", ts, ts + 1, value=300_000_005)
    assert step.on_item((FEED_HEALTH, beat, "SOL/USDC")) == []


def test_cex_connection_down_flags_its_book_view_until_frames_flow_again() -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(settings)
    step = PairStep(settings, router, "SOL/USDC")
    frames = sorted(generate(SimConfig(duration_s=3)), key=lambda f: f.ts_recv_ns)
    cut = next(i for i, f in enumerate(frames) if f.source == "binance" and f.kind == "rest") + 5
    for f in frames[:cut]:
        step.on_item((router.market_of(f), f, "SOL/USDC"))
    ts = frames[cut - 1].ts_recv_ns
    down = HealthEvent("binance", "down", "socket error", ts, ts + 1)
    [view] = [x for x in step.on_item((FEED_HEALTH, down, "SOL/USDC")) if hasattr(x, "bids")]
    assert (view.market_id, view.in_sync) == ("binance:SOLUSDC", False)
    # another venue's outage does not touch this book; the Orca pool ignores CEX health
    assert step.on_item((FEED_HEALTH, HealthEvent("okx", "down", "", ts, ts + 2), "SOL/USDC")) == []
    step.on_item((FEED_HEALTH, HealthEvent("binance", "up", "connected", ts, ts + 3), "SOL/USDC"))
    nxt = next(f for f in frames[cut:] if f.source == "binance")
    out = step.on_item((router.market_of(nxt), nxt, "SOL/USDC"))
    assert [x.in_sync for x in out if hasattr(x, "bids")] == [True]  # ids continuous: in sync


def _quiet_pool_session(heartbeats: bool) -> tuple[PairStep, int]:
    """12 s of the sample with the pool's accounts silent after 2 s; the Solana feed beats (up,
    with its slot) every 500 ms when `heartbeats`."""
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(settings)
    step = PairStep(settings, router, "SOL/USDC")
    frames = sorted(generate(SimConfig(duration_s=12)), key=lambda f: f.ts_recv_ns)
    start = frames[0].ts_recv_ns
    next_beat, slot = start, 300_000_000
    for f in frames:
        if f.kind == "account" and f.ts_recv_ns - start > 2_000_000_000:
            continue  # the pool does not change any more
        while heartbeats and next_beat <= f.ts_recv_ns:
            slot += 1
            beat = HealthEvent(FEED_SOURCE, "up", "slot", next_beat, next_beat, float(slot))
            step.on_item((FEED_HEALTH, beat, "SOL/USDC"))
            next_beat += 500_000_000
        step.on_item((router.market_of(f), f, "SOL/USDC"))
    return step, frames[-1].ts_recv_ns


def test_quiet_pool_behind_a_beating_feed_stays_tradeable_in_the_pair_step() -> None:
    step, now = _quiet_pool_session(heartbeats=True)
    [pool] = [v for v in step.engine.views.values() if isinstance(v, ClmmView)]
    assert pool.in_sync and now - pool.ts_recv_ns > 9_000_000_000  # quiet for > 9 s
    assert step.engine.is_stale(pool, now) is False
    assert step.engine.feeds[FEED_SOURCE].slot > 300_000_020


def test_quiet_pool_without_any_sign_of_its_feed_is_stale_in_the_pair_step() -> None:
    step, now = _quiet_pool_session(heartbeats=False)
    [pool] = [v for v in step.engine.views.values() if isinstance(v, ClmmView)]
    assert pool.in_sync  # the pool state cannot tell (no clock without feed events)
    assert step.engine.is_stale(pool, now) is True
    [book] = [v for v in step.engine.views.values() if not isinstance(v, ClmmView)]
    assert step.engine.is_stale(book, now) is False  # Binance frames keep flowing


def test_live_opportunity_ids_take_a_new_epoch_at_every_start_and_resume() -> None:
    # Client order ids and the DEX signature ledger derive from opportunity ids: a restarted
    # live process must not reuse one, even when resumed from a snapshot older than its last
    # signal (same signal count). Replay and paper keep plain ids.
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(settings)
    frames = sorted(generate(SimConfig(duration_s=2)), key=lambda f: f.ts_recv_ns)
    live = _Logic(lambda _x: PairStep(settings, router, "SOL/USDC", epoch_ids=True), None)
    first = frames[0]
    live.on_item((router.market_of(first), first, "SOL/USDC"))
    assert isinstance(live.obj, PairStep)
    assert live.obj.engine.id_epoch == id_epoch(first.ts_recv_ns) != ""
    resumed = _Logic(lambda _x: None, live.snapshot())
    later = frames[-1]
    assert later.ts_recv_ns // 1_000_000 > first.ts_recv_ns // 1_000_000
    resumed.on_item((router.market_of(later), later, "SOL/USDC"))
    assert isinstance(resumed.obj, PairStep)
    assert resumed.obj.engine.id_epoch == id_epoch(later.ts_recv_ns) != live.obj.engine.id_epoch
    plain = PairStep(settings, router, "SOL/USDC")
    plain.on_item((router.market_of(first), first, "SOL/USDC"))
    assert plain.engine.id_epoch == ""
    assert id_epoch(35 * 1_000_000) == "z" and id_epoch(36 * 1_000_000) == "10"
