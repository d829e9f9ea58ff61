"""`LiveExecStep` slices a deep CEX leg: each slice is an `ExecOrder` with its own client id,
sent when the previous one is final; a step restored from its snapshot queries the slice on the
wire by its client id and probes the next one before sending it (values only, no socket)."""

from __future__ import annotations

import pickle
from dataclasses import replace

from connectors.cex.orders.ids import CLIENT_ID_RE, client_order_id
from connectors.execution import ExecClock, ExecOrder, order_client_id
from engine.exec_step import LiveExecStep
from operators.legs import LegTransition, slice_intent_id
from tests.unit.test_live_exec_step import (
    OPP,
    PAIR,
    SIZE,
    T0,
    _feed,
    _intents,
    _opp,
    _report,
    _settings,
)
from tests.unit.test_pricing import cex_view

SLICE = SIZE // 3  # 30 SOL against a usual 10 SOL at the limit (149.85): 3 slices


def _views() -> list[object]:
    book = cex_view([("150", "10"), ("149", "500")], [("151", "500")])
    return [replace(book, ts_recv_ns=T0 - 20 + k) for k in range(20)]


def _orders(out: list[object]) -> list[ExecOrder]:
    return [x for x in out if isinstance(x, ExecOrder)]


def test_slices_go_out_one_by_one_with_their_own_client_ids() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    out = _feed(step, *_views(), _opp(25_000), buy, sell)
    first = _orders(out)[-1]
    assert (first.kind, first.intent.intent_id, first.intent.size_base, first.slice_no) == (
        "send", slice_intent_id(sell.intent_id, 1), SLICE, 1)  # fmt: skip
    ids = [order_client_id(first)]
    _feed(step, _report(buy, "filled", SIZE, 4_470_000_000, T0 + 400))
    for k in (1, 2, 3):
        sl = replace(sell, intent_id=slice_intent_id(sell.intent_id, k), size_base=SLICE)
        out = _feed(step, _report(sl, "filled", SLICE, 1_498_000_000, T0 + 500 + k))
        ids += [order_client_id(o) for o in _orders(out)]
    assert ids == [client_order_id(OPP, "sell", 0, k) for k in (1, 2, 3)]
    assert all(CLIENT_ID_RE.match(c) and len(c) == 32 for c in ids)
    assert step.counters["slices"] == 3 and step.legs.open == {}
    rows = [t.reason for t in out if isinstance(t, LegTransition)]
    assert rows == ["both legs filled", "flat"]


def test_a_restored_step_queries_the_slice_on_the_wire_then_probes_the_next() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    _feed(step, *_views(), _opp(25_000), buy, sell)
    _feed(step, _report(buy, "filled", SIZE, 4_470_000_000, T0 + 400))
    s1 = replace(sell, intent_id=slice_intent_id(sell.intent_id, 1), size_base=SLICE)
    _feed(step, _report(s1, "filled", SLICE, 1_498_000_000, T0 + 500))
    back: LiveExecStep = pickle.loads(pickle.dumps(step))  # Bytewax's resume state
    [query] = _orders(_feed(back, ExecClock(T0 + 500 + 5_000_000_001)))
    assert (query.kind, query.slice_no, order_client_id(query)) == (
        "query", 2, client_order_id(OPP, "sell", 0, 2))  # fmt: skip
    s2 = replace(sell, intent_id=slice_intent_id(sell.intent_id, 2), size_base=SLICE)
    [probe] = _orders(_feed(back, _report(s2, "filled", SLICE, 1_498_000_000, T0 + 6 * 10**9)))
    assert (probe.kind, probe.slice_no, probe.query_first) == ("send", 3, True)
    # the step that was never restored sends the same slice without a probe
    [plain] = _orders(_feed(step, _report(s2, "filled", SLICE, 1_498_000_000, T0 + 600)))
    assert (plain.slice_no, plain.query_first) == (3, False)
