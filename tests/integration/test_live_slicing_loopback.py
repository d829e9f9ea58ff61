"""Slicing against the loopback venues: `solarb live --loopback` cuts a big CEX leg into IOC
slices by the depth its book usually holds at the leg's limit, each with its own client id, and
a restarted gateway probes a slice's client id before sending it, so none is sent twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from config import load_settings
from connectors.cex.orders.ids import client_order_id
from connectors.execution import ExecOrder, ExecutionGateway, order_client_id
from connectors.journal import run_dir
from operators.events import ExecutionReport, OrderIntent
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS
from tests.integration.test_execution_gateway import CEX, PAIR, SOL, _wait, world
from tests.integration.test_live_trading_loopback import (
    _check_closed_flat_unique_and_reconciled,
    _live,
    _rows,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
__all__ = ["world"]  # the gateway-and-loopback fixture, shared


def test_live_loopback_slices_a_deep_cex_leg_and_sends_no_client_id_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the loopback book holds ~7 SOL at the leg's limit at its thinnest and the legs are 30 SOL:
    # slice by the 1st percentile of that depth, from the first view on (a loaded machine may
    # see few views before the first arbs), so the slices are certain
    monkeypatch.setenv("SOLARB__EXECUTION__SLICE_DEPTH_QUANTILE", "0.01")
    monkeypatch.setenv("SOLARB__EXECUTION__SLICE_MIN_SAMPLES", "1")
    proc = _live(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = _check_closed_flat_unique_and_reconciled(tmp_path / "j")  # no client id placed twice
    notes = [r for r in seen["legs"] if " by p1 depth " in r["reason"]]
    sliced = {r["opportunity_id"] for r in notes}
    assert sliced, "no leg was sliced"
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    cex_fills = [f for f in seen["fills"] if f["venue"] == "binance"]
    for oid in sliced:
        n = int(next(r["reason"] for r in notes if r["opportunity_id"] == oid).split("/")[1][0])
        want = [client_order_id(oid, "sell", 0, k) for k in range(1, n + 1)]
        got = [o["client_order_id"] for o in seen["orders"] if o["client_order_id"] in want]
        assert sorted(got) == sorted(want)  # every slice on the wire once, with its own id
        # the leg's fill is the sum of its slices, and the arb closed flat
        mine = [f for f in cex_fills if f["opportunity_id"] == oid]
        assert {f["intent_id"].rsplit("#slice", 1)[1] for f in mine} == {
            str(k) for k in range(1, n + 1)
        }
    assert settings.execution.slice_by_depth
    root = run_dir(tmp_path / "j")
    counters = {(c["step"], c["name"]): c["value"] for c in _rows(root, "counters")}
    assert counters[("live_exec", "slices")] >= 2


def test_a_restarted_gateway_probes_a_slice_before_sending_it(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    loop, gw = world
    assert loop.venues is not None
    desk = loop.venues.venues.desk("binance")
    leg = OrderIntent("o1/sell", "o1", CEX, CEX, "sell", 4 * SOL, 400_000_000, 1, 1, 1, PAIR)
    s1 = ExecOrder("send", _slice(leg, 1), "sell", 0, 5_000, slice_no=1)
    gw.submit(s1)
    (r1,) = [x for _, x in _wait(gw, 1) if isinstance(x, ExecutionReport)]
    assert (r1.intent_id, r1.status, r1.filled_base) == ("o1/sell#slice1", "filled", 2 * SOL)
    # a new process (restored from a snapshot) does not know slice 1 went out: it probes it
    settings = loop.settings(None, SAMPLE_MARKETS)
    keys = loop.trading(settings)
    again = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer).start()
    try:
        again.submit(ExecOrder("send", _slice(leg, 1), "sell", 0, 5_000, 1, query_first=True))
        (known,) = [x for _, x in _wait(again, 1) if isinstance(x, ExecutionReport)]
        assert (known.status, known.filled_base, known.reason) == ("filled", 2 * SOL, "by query")
        s2 = ExecOrder("send", _slice(leg, 2), "sell", 0, 5_000, 2, query_first=True)
        again.submit(s2)
        (new,) = [x for _, x in _wait(again, 1) if isinstance(x, ExecutionReport)]
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
