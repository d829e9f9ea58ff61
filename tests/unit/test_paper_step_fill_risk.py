"""Fill risk inside the paper step: each kill cause is journaled, the open legs are unwound,
new opportunities are refused with the reason, and only `solarb arm` re-arms (also after a
restart from the pickled step)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from engine.steps import FILL_RISK_SOURCE, PairControl, PaperStep
from operators.clmm import quote_swap
from operators.events import ExecutionReport, HealthEvent, OrderIntent
from operators.legs import LegTransition
from operators.risk import MANUAL_SOURCE, KillRecord
from operators.views import VenueView
from sim.simulate import SAMPLE_MARKETS
from tests.unit.test_pricing import cex_view
from tests.unit.test_spread import orca_view

MS = 1_000_000
SOL = 10**9
SIZE = 16 * SOL
PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
ORCA = "orca:DpLagCu2hfN5WhJaK9ZEVgW8pyiJFGArEMExH9hGogRc"
ASK = 41  # USDC per SOL on the CEX; the pool sells near 40.28: every arb here loses


def _at(view: VenueView, ts_ms: int) -> Any:
    return replace(view, ts_event_ns=ts_ms * MS, ts_recv_ns=ts_ms * MS)


def _legs(oid: str, ts_ms: int, *, dex_limit: int = 0, dex_predicted: int = 0) -> list[OrderIntent]:
    t = ts_ms * MS
    return [
        OrderIntent(f"{oid}/buy", oid, CEX, CEX, "buy", SIZE, 10**12, t, t, t, PAIR,
                    predicted_quote=SIZE * ASK // 1000),
        OrderIntent(f"{oid}/sell", oid, ORCA, ORCA, "sell", SIZE, dex_limit, t, t, t, PAIR,
                    predicted_quote=dex_predicted),
    ]  # fmt: skip


def _of(out: list[Any], kind: type) -> list[Any]:
    return [x for x in out if isinstance(x, kind)]


CAUSES = {
    "dex_failures": {"SOLARB__RISK__MAX_DEX_FAILURES": "1"},
    "slippage": {"SOLARB__RISK__MAX_SLIPPAGE_P95_BPS": "0",
                 "SOLARB__RISK__SLIPPAGE_KILL_MIN_FILLS": "1"},
    "daily_loss": {"SOLARB__RISK__MAX_DAILY_LOSS_USD": "1"},
}  # fmt: skip


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_each_fill_risk_kill_is_journaled_unwinds_the_open_legs_and_holds_until_arm(
    cause: str, fixtures: Path
) -> None:
    env = {"SOLARB__ENGINE__LEG_ORDER": "dex_first", **CAUSES[cause]}
    step = PaperStep(load_settings(markets_path=SAMPLE_MARKETS, env=env), PAIR)
    pool = replace(orca_view(fixtures), market_id=ORCA)
    out_16 = quote_swap(pool.pool, list(pool.tick_arrays), SIZE, a_to_b=True, exact_in=True)
    book = cex_view([("40", "100")], [(str(ASK), "100")])
    # A trips the kill: its DEX sell fails its min-out / fills 1 unit short of its prediction /
    # realises a loss of ~11.5 USD with its CEX buy
    a = {
        "dex_failures": _legs("A", 0, dex_limit=out_16.amount_out + 1),
        "slippage": _legs("A", 0, dex_predicted=out_16.amount_out + 1),
        "daily_loss": _legs("A", 0),
    }[cause]
    out: list[Any] = []
    for item in [_at(book, 0), _at(pool, 0), *a, *_legs("B", 100), _at(book, 450)]:
        out += step.on_item(item)
    assert _of(out, KillRecord) == []
    out = step.on_item(_at(pool, 450))  # A's DEX leg executes (at 400 ms); B's is on the wire
    [kill] = _of(out, KillRecord)
    assert (kill.cause, kill.scope, kill.tripped_ns) == (cause, PAIR, 400 * MS + (
        20 * MS if cause == "daily_loss" else 0))  # fmt: skip
    assert kill.cancelled == "1 order(s) on the wire, none resting (paper IOC)"
    [flag] = [h for h in _of(out, HealthEvent) if h.source == FILL_RISK_SOURCE]
    assert (flag.status, flag.detail) == ("kill", f"{PAIR}: {cause}: {kill.reason}")
    # B's DEX sell fills; its CEX buy was dropped by the kill: the sold SOL is bought back
    out = step.on_item(_at(pool, 600)) + step.on_item(_at(pool, 1000))
    b_moves = [(m.from_state, m.to_state) for m in _of(out, LegTransition)
               if m.opportunity_id == "B"]  # fmt: skip
    assert b_moves == [("sent", "failed"), ("failed", "unwinding"),
                       ("unwinding", "unwound"), ("unwound", "closed")]  # fmt: skip
    fills = {r.intent_id: r for r in _of(out, ExecutionReport)}
    assert (fills["B/sell"].status, fills["B/unwind"].status) == ("filled", "filled")
    assert fills["B/unwind"].filled_base == SIZE and "B/buy" not in fills
    assert step.legs.open == {}
    # new opportunities are refused, with the kill as the reason, also after a restart
    refused = step.on_item(_legs("C", 1100)[0]) + step.on_item(_legs("C", 1100)[1])
    why = f"refused: fill risk kill ({cause}): {kill.reason}"
    assert [(r.status, r.filled_base, r.reason) for r in refused] == [("rejected", 0, why)] * 2
    restarted: PaperStep = pickle.loads(pickle.dumps(step))
    refused = [x for i in _legs("D", 1200) for x in restarted.on_item(i)]
    assert [r.reason for r in refused] == [why] * 2
    # only the explicit re-arm (`solarb arm` -> control:manual rearm) clears it
    arm = HealthEvent(MANUAL_SOURCE, "rearm", "solarb arm", 1300 * MS, 1300 * MS)
    [up] = restarted.on_item(PairControl(PAIR, arm))
    assert (up.source, up.status, up.detail) == (FILL_RISK_SOURCE, "up", f"{PAIR}: solarb arm")
    started = [x for i in _legs("E", 1400) for x in restarted.on_item(i)]
    assert [(m.from_state, m.to_state) for m in _of(started, LegTransition)] == [
        ("planned", "sent")
    ]


def test_a_manual_kill_unwinds_open_legs_in_the_paper_step(fixtures: Path) -> None:
    env = {"SOLARB__ENGINE__LEG_ORDER": "dex_first"}
    step = PaperStep(load_settings(markets_path=SAMPLE_MARKETS, env=env), PAIR)
    pool = replace(orca_view(fixtures), market_id=ORCA)
    book = cex_view([("40", "100")], [(str(ASK), "100")])
    for item in [_at(book, 0), _at(pool, 0), *_legs("B", 0)]:
        step.on_item(item)
    kill = HealthEvent(MANUAL_SOURCE, "kill", "operator", 100 * MS, 100 * MS)
    assert step.on_item(PairControl(PAIR, kill)) == []  # the DEX leg is on the wire
    out = step.on_item(_at(pool, 450)) + step.on_item(_at(pool, 900))
    assert {r.intent_id: r.status for r in _of(out, ExecutionReport)} == {
        "B/sell": "filled", "B/unwind": "filled",
    }  # fmt: skip
    assert step.legs.open == {}
