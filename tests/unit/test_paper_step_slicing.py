"""The paper step slices a CEX leg deeper than its book's usual depth at the leg's limit: the
depth comes from the pair's CEX views the step already gets, each slice fills on the book of its
own time, and the slices do not depend on views that arrived after the order was made."""

from __future__ import annotations

from typing import Any

from config import load_settings
from engine.steps import PaperStep
from operators.events import ExecutionReport, OrderIntent
from operators.legs import LegTransition, slice_intent_id
from sim.simulate import SAMPLE_MARKETS
from tests.unit.test_paper_step_fill_risk import CEX, MS, ORCA, PAIR, SOL, _at, _of
from tests.unit.test_pricing import cex_view

SIZE = 16 * SOL
LIMIT = SIZE * 41 // 1000  # 41 USDC per SOL for the whole size (USDC micro-units)


def _book(ask_qty: str) -> Any:
    # 5 SOL (or `ask_qty`) at the leg's limit price, 100 SOL past it
    return cex_view([("40", "100")], [("41", ask_qty), ("42", "100")])


def _intents(ts_ms: int) -> list[OrderIntent]:
    t = ts_ms * MS
    return [
        OrderIntent("A/buy", "A", CEX, CEX, "buy", SIZE, LIMIT, t, t, t, PAIR,
                    predicted_quote=LIMIT),
        OrderIntent("A/sell", "A", ORCA, ORCA, "sell", SIZE, 0, t, t, t, PAIR),
    ]  # fmt: skip


def _step(**env: str) -> PaperStep:
    return PaperStep(load_settings(markets_path=SAMPLE_MARKETS, env=env), PAIR)


def _run(step: PaperStep, items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out += step.on_item(item)
    return out + step.on_eof()


HISTORY = [_at(_book("5"), ts) for ts in range(20)]  # 20 views: slice_min_samples
LATER = [_at(_book("5"), ts) for ts in (45, 70, 95, 120, 145)]


def test_a_deep_cex_leg_fills_slice_by_slice_on_the_books_of_their_own_times() -> None:
    out = _run(_step(), [*HISTORY, *_intents(20), *LATER])
    cex = [r for r in _of(out, ExecutionReport) if r.venue == CEX]
    assert [(r.intent_id, r.status, r.filled_base, r.quote_amount) for r in cex] == [
        (slice_intent_id("A/buy", k), "filled", 4 * SOL, 164_000_000) for k in (1, 2, 3, 4)
    ]
    # each slice is sent when the previous one's fill is known (paper CEX latency 20 ms)
    assert [r.ts_fill_ns // MS for r in cex] == [40, 60, 80, 100]
    notes = [t.reason for t in _of(out, LegTransition) if t.to_state == "sent"]
    assert notes[1:] == [
        f"slice {k}/4 by p95 depth {5 * SOL} ({CEX} buy {SIZE} base)" for k in (1, 2, 3, 4)
    ]


def test_a_slice_that_meets_a_thin_book_fills_short_and_ends_the_slicing() -> None:
    thin = [_at(_book("1"), 45), *LATER[1:]]  # slice 2 fills on the book of 45 ms
    out = _run(_step(), [*HISTORY, *_intents(20), *thin])
    cex = [r for r in _of(out, ExecutionReport) if r.venue == CEX]
    assert [(r.intent_id, r.status, r.filled_base) for r in cex] == [
        (slice_intent_id("A/buy", 1), "filled", 4 * SOL),
        (slice_intent_id("A/buy", 2), "partial", 1 * SOL),
        (slice_intent_id("A/buy", 2), "cancelled", 0),
    ]
    legs = [(t.to_state, t.reason) for t in _of(out, LegTransition)]
    assert ("sent", f"slice 2/4 cancelled with {SOL} of {4 * SOL}: slicing ends") in legs


def test_views_newer_than_the_order_do_not_change_its_slices() -> None:
    # batching may hand the step later views before the intents: the slices are the same
    deep_later = [_at(_book("50"), ts) for ts in (21, 22, 23)]
    early = _run(_step(), [*HISTORY, *_intents(20), *deep_later, *LATER])
    late = _run(_step(), [*HISTORY, *deep_later, *_intents(20), *LATER])
    assert early == late
    assert len([r for r in _of(late, ExecutionReport) if r.venue == CEX]) == 4


def test_slicing_off_or_too_few_views_sends_the_leg_whole() -> None:
    for step, items in (
        (_step(SOLARB__EXECUTION__SLICE_BY_DEPTH="false"), [*HISTORY, *_intents(20), *LATER]),
        (_step(), [*HISTORY[:19], *_intents(20), *LATER]),
    ):
        cex = [r for r in _of(_run(step, items), ExecutionReport) if r.venue == CEX]
        assert [(r.intent_id, r.status, r.filled_base) for r in cex] == [
            ("A/buy", "partial", 5 * SOL),
            ("A/buy", "cancelled", 0),
        ]
