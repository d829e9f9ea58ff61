"""Slicing against the loopback venues: the live step cuts a big CEX leg into IOC slices by the
depth its book usually holds at the leg's limit, the gateway sends each with its own client id,
and a restarted gateway probes a slice's client id before sending it, so none is sent twice."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import pytest

from connectors.cex.orders.ids import client_order_id
from connectors.execution import ExecClock, ExecOrder, ExecutionGateway, order_client_id
from engine.exec_step import LiveExecStep
from operators.events import ExecutionReport, OrderIntent
from operators.legs import LegTransition
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS
from tests.integration.loop_support import gateway_items
from tests.integration.test_execution_gateway import CEX, DEX, PAIR, SOL, world
from tests.unit.test_pricing import cex_view

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
__all__ = ["world"]  # the gateway-and-loopback fixture, shared


def test_live_step_slices_a_deep_cex_leg_on_the_loopback_venue_and_sends_no_client_id_twice(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    """The live step, fed views of a book that usually holds 2 SOL at the leg's limit, trades
    a 6 SOL arb through the gateway on the loopback venues: the CEX sell goes out as 3 slices
    of 2 SOL (their own client ids), the loopback book (around 150 USDC) fills each, and the
    opportunity closes flat. (The CLI's loopback market moves too much for a pinned depth.)"""
    loop, gw = world
    assert loop.venues is not None
    desk = loop.venues.venues.desk("binance")
    settings = loop.settings(None, SAMPLE_MARKETS)
    step = LiveExecStep(settings, PAIR)
    now = time.time_ns()
    thin = cex_view([("120", "2"), ("90", "500")], [("151", "500")])
    views = [(PAIR, replace(thin, ts_recv_ns=now - 100 + k)) for k in range(20)]
    oid = "slice-loopback|1"
    buy = OrderIntent(f"{oid}/buy", oid, DEX, DEX, "buy", 6 * SOL, 1_200_000_000, now, now, now,
                      PAIR)  # fmt: skip
    sell = OrderIntent(f"{oid}/sell", oid, CEX, CEX, "sell", 6 * SOL, 600_000_000, now, now,
                       now, PAIR)  # 100 USDC/SOL at worst  # fmt: skip
    out: list[object] = []
    for item in [*views, (PAIR, buy), (PAIR, sell)]:
        out += step.on_item(item)
    reports: list[ExecutionReport] = []
    moves = [x.reason for x in out if isinstance(x, LegTransition)]
    deadline = time.monotonic() + 40
    while step.legs.open and time.monotonic() < deadline:
        for o in [x for x in out if isinstance(x, ExecOrder)]:
            gw.submit(o)
        out = []
        for pair, item in gw.take():
            if isinstance(item, ExecutionReport):
                reports.append(item)
                out += step.on_item((pair, item))
        moves += [x.reason for x in out if isinstance(x, LegTransition)]
        out += step.on_item((PAIR, ExecClock(time.time_ns())))
        time.sleep(0.02)
    assert step.legs.open == {}, "the legs did not close"
    cex = [(r.intent_id, r.status, r.filled_base) for r in reports if r.venue == "binance"]
    assert cex == [(f"{sell.intent_id}#slice{k}", "filled", 2 * SOL) for k in (1, 2, 3)]
    assert moves[-2:] == ["both legs filled", "flat"]
    assert [m for m in moves if m.startswith("slice")] == [
        f"slice {k}/3 by p95 depth {2 * SOL} ({CEX} sell {6 * SOL} base)" for k in (1, 2, 3)
    ]
    assert step.counters["slices"] == 3
    slice_ids = [client_order_id(oid, "sell", 0, k) for k in (1, 2, 3)]
    placed = Counter(desk.stats.placements)
    assert [placed[c] for c in slice_ids] == [1, 1, 1]
    assert max(placed.values()) == 1  # no client id reached the venue twice
    assert client_order_id(oid, "sell") not in placed  # the leg never went out whole


def test_a_restarted_gateway_probes_a_slice_before_sending_it(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    loop, gw = world
    assert loop.venues is not None
    desk = loop.venues.venues.desk("binance")
    leg = OrderIntent("o1/sell", "o1", CEX, CEX, "sell", 4 * SOL, 400_000_000, 1, 1, 1, PAIR)
    s1 = ExecOrder("send", _slice(leg, 1), "sell", 0, 5_000, slice_no=1)
    gw.submit(s1)
    (r1,) = [x for _, x in gateway_items(gw, 1) if isinstance(x, ExecutionReport)]
    assert (r1.intent_id, r1.status, r1.filled_base) == ("o1/sell#slice1", "filled", 2 * SOL)
    # a new process (restored from a snapshot) does not know slice 1 went out: it probes it
    settings = loop.settings(None, SAMPLE_MARKETS)
    keys = loop.trading(settings)
    again = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer).start()
    try:
        again.submit(ExecOrder("send", _slice(leg, 1), "sell", 0, 5_000, 1, query_first=True))
        (known,) = [x for _, x in gateway_items(again, 1) if isinstance(x, ExecutionReport)]
        assert (known.status, known.filled_base, known.reason) == ("filled", 2 * SOL, "by query")
        s2 = ExecOrder("send", _slice(leg, 2), "sell", 0, 5_000, 2, query_first=True)
        again.submit(s2)
        (new,) = [x for _, x in gateway_items(again, 1) if isinstance(x, ExecutionReport)]
        assert (new.intent_id, new.status) == ("o1/sell#slice2", "filled")
        assert new.reason != "by query"  # unknown to the venue: placed, answered by its REST
    finally:
        again.close()
    placed = Counter(desk.stats.placements)
    assert placed[order_client_id(s1)] == 1 and placed[order_client_id(s2)] == 1


def _slice(leg: OrderIntent, k: int) -> OrderIntent:
    return replace(
        leg, intent_id=f"{leg.intent_id}#slice{k}", size_base=leg.size_base // 2,
        limit_quote=leg.limit_quote // 2,
    )  # fmt: skip
