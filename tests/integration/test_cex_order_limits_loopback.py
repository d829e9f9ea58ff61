"""Rate limits against the loopback venues: the transport reads the venues' usage headers and
holds back before the limit, so a burst of orders never draws the venue's own refusal."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from connectors.cex.order_transport import OrderTransportConfig
from connectors.cex.orders.limits import SlidingWindows
from operators.errors import ExecutionError
from sim.cex_venues import CexVenues
from tests.integration.test_cex_orders_loopback import (
    CASES,
    IDS,
    _best_asks,
    _buy,
    _transport,
    session,  # noqa: F401 - fixture
    sim,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

LIMIT_CODES = {"-1015", "-1003", "50011", "10006"}
QUICK = OrderTransportConfig(timeout_s=0.5, settle_interval_s=0.005, max_wait_s=1.5)


def _tight(venues: CexVenues, venue: str) -> int:
    """Small limits on the simulated venue; returns the placement limit per window."""
    lim = venues.desk(venue).limits
    lim.binance_orders_10s, lim.bybit_per_s, lim.okx_per_2s = 3, 3, 3
    return 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_burst_of_orders_holds_back_before_the_venue_limit(sim, session, case):  # noqa: F811
    limit = _tight(sim, case.venue)
    t, f = await _transport(sim, session, case, config=QUICK)
    # OKX reports no usage: the client counts its documented limits, here the tightened ones.
    t.windows = SlidingWindows.of(tuple(replace(x, limit=limit) for x in t.codec.request_limits))
    (px, qty), *_ = _best_asks(sim, case)
    filled = held = 0
    for k in range(5):
        try:
            r = await t.place(f, _buy(case, px, qty, leg=("buy", "sell", "hedge")[k % 3])
                              if k < 3 else _buy(case, px + k, qty))
        except ExecutionError as exc:
            assert (exc.code, exc.action, exc.retryable) == ("backoff", "backoff", True)
            held += 1
            continue
        assert r.status == "filled"
        filled += 1
    desk = sim.desk(case.venue)
    assert not LIMIT_CODES & set(desk.stats.refusals)  # the venue never had to refuse
    assert held + t.stats.rate_limit_holds > 0  # the headers (or local windows) held us
    assert filled == len(desk.stats.placements)
    if case.venue != "bybit":  # Bybit's 1 s window resets while queries wait it out
        assert filled <= limit


@pytest.mark.parametrize("venue_case", [CASES[0], CASES[1]], ids=IDS[:2])
async def test_binance_over_the_order_limit_answers_429_with_retry_after(sim, session,  # noqa: F811
                                                                        venue_case):
    _tight(sim, venue_case.venue)
    t, f = await _transport(sim, session, venue_case, config=QUICK)
    (px, qty), *_ = _best_asks(sim, venue_case)
    codes = []
    for k in range(4):  # ignore our own hold-back, as a careless client would
        t._blocked_until = 0.0
        req = t.codec.place(t.creds, f, _buy(venue_case, px + k, qty), t.now_ms(), 5000)
        status, body = await t._send(req)
        err = t.codec.error(status, body)
        codes.append(None if err is None else (status, err.code, err.action))
    assert codes == [None, None, None, (429, "-1015", "backoff")]
    assert len(sim.desk(venue_case.venue).stats.placements) == 3


async def test_a_hold_back_during_resolve_waits_and_asks_again_never_giving_up_early(
        sim, session):  # noqa: F811
    case = CASES[0]
    t, f = await _transport(sim, session, case, config=OrderTransportConfig(
        timeout_s=0.2, settle_interval_s=0.005, max_wait_s=0.05, backoff_s=0.1))
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    desk = sim.desk(case.venue)
    desk.inject("timeout_after_accept", seconds=1.0)
    task = asyncio.create_task(t.place(f, spec))
    while not desk.placements_of(spec.client_order_id):
        await asyncio.sleep(0.005)
    t._blocked_until = time.monotonic() + 0.3  # a limit holds every request back meanwhile
    r = await asyncio.wait_for(task, 5.0)
    assert (r.status, t.stats.timeouts, t.stats.resolved_by_query, t.stats.resends) == (
        "filled", 1, 1, 0)
    assert desk.placements_of(spec.client_order_id) == 1
