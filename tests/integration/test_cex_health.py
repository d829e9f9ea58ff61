"""Feed health that means something: a stalled CEX socket is `stale` within the venue's budget,
its book views are flagged at once, the risk guard kills once the stall outlasts
`ws_down_kill_ms`, and the feed is `up` with in-sync views once frames resume (then the kill
re-arms by its own rule).

Loopback venues (sim/cex_venues.py) and the real transport; the transport's items go straight
into the graph's pair step (engine/steps.PairStep) and its health into the risk guard, as the
live flow routes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest

from config import load_settings
from connectors.cex.transport import CexTransport
from engine.params import risk_params
from engine.router import Router
from engine.steps import FEED_HEALTH, PairStep
from operators.events import HealthEvent, RawFrame
from operators.risk import KILL_SOURCE, RiskGuard
from operators.views import CexBookView
from sim.cex_venues import CexVenues, start_venues
from sim.simulate import SAMPLE_MARKETS_ALL
from tests.integration.cex_support import FAST, Case, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

PAIR = "SOL/USDC"
STALL_S = 3.0
REARM_AFTER_NS = 500_000_000
SLACK_NS = 400_000_000
"""Scheduling slack on a loaded test machine; the budget itself is 1 s."""
# the venue's own budget (stale_after_s=None) and a socket kept through the stall
CONFIG = replace(FAST, ping_interval_s=None, stale_after_s=None, reconnect_after_s=30.0,
                 health_interval_s=0.2)
SPOT = [
    Case("binance", "spot", ("SOLUSDC", "SOLUSDC")),
    Case("okx", "spot", ("SOL-USDC", "SOL-USDC")),
    Case("bybit", "spot", ("SOLUSDC", "SOLUSDC")),
]


@pytest.fixture
async def venues() -> AsyncIterator[CexVenues]:
    v = await start_venues(seed=5, frame_interval_s=0.005)
    yield v
    await v.stop()


@dataclass
class Graph:
    """The pair step fed with the transport's items; records health and the market's views."""

    market_id: str
    step: PairStep
    router: Router
    guard: RiskGuard
    health: list[HealthEvent] = field(default_factory=list)
    risk: list[HealthEvent] = field(default_factory=list)
    views: list[CexBookView] = field(default_factory=list)
    last_frame_ns: int = 0
    timeline: list[HealthEvent | CexBookView] = field(default_factory=list)

    def __call__(self, item: RawFrame | HealthEvent) -> None:
        if isinstance(item, HealthEvent):
            self.health.append(item)
            self.timeline.append(item)
            self.risk += self.guard.on_health(item)
            out = self.step.on_item((FEED_HEALTH, item, PAIR))
        else:
            mid = self.router.market_of(item)
            if mid is None:
                return
            self.last_frame_ns = item.ts_recv_ns
            out = self.step.on_item((mid, item, PAIR))
        for x in out:
            if isinstance(x, CexBookView) and x.market_id == self.market_id:
                self.views.append(x)
                self.timeline.append(x)

    def statuses(self) -> list[str]:
        return [h.status for h in self.health]


@pytest.mark.parametrize("case", SPOT, ids=[c.venue for c in SPOT])
async def test_stall_is_stale_within_the_budget_flags_views_and_recovers_up_in_sync(
    venues: CexVenues, case: Case
) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env={})
    router = Router(settings)
    symbol = case.symbols[0]
    guard = RiskGuard(replace(risk_params(settings), rearm_after_ns=REARM_AFTER_NS))
    graph = Graph(f"{case.venue}:{symbol}", PairStep(settings, router, PAIR), router, guard)
    ws_url, rest_url = case.urls(venues)
    t = CexTransport(case.venue, [symbol], case.market, ws_url, rest_url, graph,
                     config=CONFIG, seed=1)
    budget_ns = case.adapter().stale_after_ms * 1_000_000
    assert budget_ns == 1_000_000_000
    task = asyncio.create_task(t.run())
    try:
        assert await wait_until(
            lambda: "up" in graph.statuses() and len(graph.views) >= 20
            and graph.views[-1].in_sync, 5.0)
        n_health = len(graph.health)
        stall_ns = t.clock_ns()
        venues.inject(case.source, "stall", market=case.market, seconds=STALL_S)
        assert await wait_until(lambda: "stale" in graph.statuses()[n_health:], 5.0)
        i_stale = next(i for i in range(n_health, len(graph.health))
                       if graph.health[i].status == "stale")
        stale = graph.health[i_stale]
        last_frame_ns = graph.last_frame_ns
        assert await wait_until(lambda: "up" in graph.statuses()[i_stale:], 10.0)
        up = next(h for h in graph.health[i_stale:] if h.status == "up")
        assert await wait_until(lambda: graph.views[-1].in_sync and graph.views[-1].ts_recv_ns
                                > up.ts_recv_ns, 5.0)
        assert await wait_until(lambda: len(graph.risk) == 2, 5.0)
        guard_live = (guard.s.killed, dict(guard.s.feeds_down_since))  # before stop's `down`
    finally:
        t.stop()
        await asyncio.wait_for(task, 5.0)
    # stale once the budget of silence is used up, long before the stall ends
    assert budget_ns <= stale.ts_recv_ns - last_frame_ns < budget_ns + SLACK_NS
    assert stale.ts_recv_ns - stall_ns < budget_ns + SLACK_NS
    assert stale.ts_recv_ns - stall_ns < STALL_S * 1e9
    assert up.ts_recv_ns - stall_ns >= STALL_S * 1e9  # up only once frames flow again
    # the view is flagged the moment the feed is stale, and none is in sync until `up`
    i_stale, i_up = graph.timeline.index(stale), graph.timeline.index(up)
    after_stale = graph.timeline[i_stale + 1]
    assert isinstance(after_stale, CexBookView) and after_stale.in_sync is False
    flagged = [v for v in graph.timeline[i_stale:i_up] if isinstance(v, CexBookView)]
    assert [v.in_sync for v in flagged] == [False] * len(flagged)
    assert t.stats.connects == 1 and t.stats.stale_flags == 1 and t.stats.stale_timeouts == 0
    # the guard: killed once the silence since the last frame (the stale event's event time)
    # outlasts ws_down_kill_ms (1 s), re-armed once the feed has been up for the re-arm wait
    kill, rearm = graph.risk
    kill_ns = settings.risk.ws_down_kill_ms * 1_000_000
    assert (kill.source, kill.status, rearm.source, rearm.status) == (
        KILL_SOURCE, "kill", KILL_SOURCE, "up")
    assert kill.detail.startswith(f"feed {case.venue} stale for ")
    assert abs(stale.ts_event_ns - last_frame_ns) < SLACK_NS
    assert kill_ns < kill.ts_recv_ns - stale.ts_event_ns < kill_ns + SLACK_NS
    assert REARM_AFTER_NS <= rearm.ts_recv_ns - up.ts_recv_ns < REARM_AFTER_NS + SLACK_NS
    assert guard_live == (False, {})
