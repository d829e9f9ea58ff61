"""A trip of the risk guard (feed, clock, slot lag, `solarb kill`) reaches each pair's execution
step as a `PairKill`: the open legs are flattened and a `kill_effects` row says how (no socket,
no clock: values in, values out)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from config import load_settings
from connectors.execution import ExecOrder
from connectors.journal import journal_row
from connectors.trace_spans import health_span, kill_effect_span, spans_of
from engine.exec_step import LiveExecStep
from engine.graph import is_arm, is_guard_kill
from engine.steps import PairKill, PaperStep
from operators.events import ExecutionReport, HealthEvent
from operators.legs import LegTransition
from operators.risk import KILL_SOURCE, MANUAL_SOURCE, KillEffect, KillRecord
from sim.simulate import SAMPLE_MARKETS
from tests.unit.test_live_exec_step import DEX, SIZE, T0, _feed, _intents, _opp, _report, _settings
from tests.unit.test_paper_step_fill_risk import ASK, MS, ORCA, PAIR, _at, _legs, _of
from tests.unit.test_pricing import cex_view
from tests.unit.test_spread import orca_view

FEED_KILL = KillRecord("feed", "feed binance stale for 1502 ms", 50 * MS, 100 * MS)
PAPER_NOTE = "order(s) on the wire, none resting (paper IOC)"


def test_a_feed_kill_unwinds_the_open_dex_leg_in_the_paper_step_and_says_so(
    fixtures: Path,
) -> None:
    env = {"SOLARB__ENGINE__LEG_ORDER": "dex_first"}
    step = PaperStep(load_settings(markets_path=SAMPLE_MARKETS, env=env), PAIR)
    pool = replace(orca_view(fixtures), market_id=ORCA)
    book = cex_view([("40", "100")], [(str(ASK), "100")])
    for item in [_at(book, 0), _at(pool, 0), *_legs("B", 0)]:
        step.on_item(item)  # B's DEX sell is on the wire, its CEX buy waits for the DEX fill
    out = step.on_item(PairKill(PAIR, FEED_KILL))
    assert out == [KillEffect(PAIR, "feed", FEED_KILL.reason, 100 * MS, open_legs=1, dropped=1,
                              cancelled=1, hedged=0, unwound=0, detail=PAPER_NOTE)]  # fmt: skip
    # the DEX sell fills after the kill: the CEX buy was dropped, the sold SOL is bought back
    out = step.on_item(_at(pool, 450)) + step.on_item(_at(pool, 900))
    fills = {r.intent_id: r for r in _of(out, ExecutionReport)}
    assert (fills["B/sell"].status, fills["B/unwind"].status) == ("filled", "filled")
    assert fills["B/unwind"].filled_base == fills["B/sell"].filled_base and "B/buy" not in fills
    moves = [(m.from_state, m.to_state) for m in _of(out, LegTransition)]
    assert moves == [("sent", "failed"), ("failed", "unwinding"), ("unwinding", "unwound"),
                     ("unwound", "closed")]  # fmt: skip
    assert step.legs.open == {}
    # intents the guard decided by the kill but arriving after it are refused; later ones
    # (the guard re-armed: it alone gates them) start their legs
    late = [x for i in _legs("C", 100) for x in step.on_item(i)]
    why = f"refused: decided before the kill switch tripped at {100 * MS}"
    assert [(r.status, r.reason) for r in late] == [("rejected", why)] * 2
    started = [x for i in _legs("D", 1000) for x in step.on_item(i)]
    assert [(m.from_state, m.to_state) for m in _of(started, LegTransition)] == [
        ("planned", "sent")
    ]


def test_a_guard_kill_with_nothing_open_says_nothing_was_cancelled(fixtures: Path) -> None:
    step = PaperStep(load_settings(markets_path=SAMPLE_MARKETS, env={}), PAIR)
    [effect] = step.on_item(PairKill(PAIR, FEED_KILL))
    assert isinstance(effect, KillEffect)
    assert (effect.open_legs, effect.dropped, effect.cancelled, effect.detail) == (
        0, 0, 0, "nothing resting")  # fmt: skip
    assert journal_row(effect)["row_id"] == f"kill_effect:feed@{100 * MS}|{PAIR}"


def test_a_guard_kill_drops_the_live_cex_twin_and_unwinds_the_dex_fill() -> None:
    step = LiveExecStep(_settings("dex_first"), PAIR)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)  # the DEX buy is sent, the CEX sell waits for its fill
    clock = KillRecord("clock", "clock drift 3000 ms > 1000 ms on clock:binance", T0 + 5, T0 + 6)
    out = _feed(step, PairKill(PAIR, clock))
    [effect] = _of(out, KillEffect)
    assert (effect.open_legs, effect.dropped, effect.cancelled, effect.unwound) == (1, 1, 1, 0)
    assert [x for x in out if isinstance(x, ExecOrder)] == []  # a sent transaction can't recall
    late = _feed(step, _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10))
    (unwind,) = [x for x in late if isinstance(x, ExecOrder)]
    assert (unwind.kind, unwind.intent.venue, unwind.intent.side, unwind.intent.size_base) == (
        "unwind", DEX, "sell", SIZE)  # fmt: skip
    refused = _feed(step, *_intents())  # decided at T0, before the kill at T0 + 6
    assert [r.status for r in refused] == ["rejected", "rejected"]


def test_only_the_guards_own_kills_and_solarb_arm_are_broadcast_to_the_pairs() -> None:
    assert is_guard_kill(FEED_KILL)
    assert not is_guard_kill(replace(FEED_KILL, cause="daily_loss", scope=PAIR))  # fill risk's
    assert is_arm(HealthEvent(MANUAL_SOURCE, "rearm", "solarb arm", 1, 1))
    # `solarb kill` reaches the pairs as the guard's `manual` KillRecord, not twice
    assert not is_arm(HealthEvent(MANUAL_SOURCE, "kill", "operator", 1, 1))


def test_each_kill_effect_is_a_span_under_the_guards_kill_trace() -> None:
    effect = KillEffect(PAIR, "feed", FEED_KILL.reason, 100 * MS, 1, 1, 1, 0, 0, PAPER_NOTE)
    kill_event = HealthEvent(KILL_SOURCE, "kill", FEED_KILL.reason, 100 * MS, 100 * MS)
    parent = health_span(kill_event, "run")
    span = kill_effect_span(effect, "run")
    assert (span.trace_id, span.parent_span_id) == (parent.trace_id, parent.span_id)
    assert (span.name, span.start_ns, span.end_ns) == ("kill.effect", 100 * MS, 100 * MS)
    attrs: dict[str, Any] = span.attributes
    assert (attrs["solarb.pair"], attrs["solarb.cancelled"], attrs["solarb.dropped"]) == (
        PAIR, 1, 1)  # fmt: skip
    assert spans_of(effect, "run", {"kill"}) == [span]
    assert spans_of(effect, "run", {"resync"}) == []  # kill traces off: no orphan child
