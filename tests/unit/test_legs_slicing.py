"""A CEX leg deeper than its book's usual depth at its limit goes out as slices, one at a time."""

from __future__ import annotations

import pickle
from dataclasses import replace

from operators.depth import DepthTracker, Slicer
from operators.legs import LegCommand, LegMachine, LegPolicy, leg_intent_id, slice_intent_id
from tests.unit.test_legs import DEX, HEDGE, OID, SIZE, _intents, _path, _report
from tests.unit.test_pricing import cex_view

MS = 1_000_000
CEX = "binance:SOLUSDC"
SELL = f"{OID}/sell"
SOL_1 = 1_000_000_000
SLICE = 2_500_000_000  # 10 SOL against a usual 3 SOL at the limit: 4 slices of 2.5 SOL


def _slicer(depth_sol: str = "3") -> Slicer:
    s = Slicer(DepthTracker(window=10, min_samples=5), 9, 6)
    for ts in range(5):
        # the sell leg's limit is 150.90 USDC/SOL: the bids at 151 are within it
        s.observe(replace(cex_view([("151", depth_sol)], [("152", "50")]), ts_recv_ns=ts))
    return s


def _machine(order: str = "both", slicer: Slicer | None = None) -> LegMachine:
    return LegMachine(LegPolicy(order=order), HEDGE, slicer or _slicer())  # type: ignore[arg-type]


def _cex(cmds: list[LegCommand]) -> list[tuple[str, str, int, int]]:
    return [(c.kind, c.intent_id, c.size_base, c.slice_no) for c in cmds if c.venue == CEX]


def test_a_deep_cex_leg_is_sent_slice_by_slice_and_closes_flat_when_all_fill() -> None:
    m = _machine()
    cmds, moves = m.on_intents(*_intents(), DEX, 10)
    assert _cex(cmds) == [("send", slice_intent_id(SELL, 1), SLICE, 1)]
    first = cmds[-1]
    assert first.intent is not None
    # each slice at the leg's limit price: its limit pro rata (rounded up for a sell)
    assert (first.intent.intent_id, first.intent.size_base, first.intent.limit_quote) == (
        f"{SELL}#slice1", SLICE, 1_509_000_000 * SLICE // SIZE)  # fmt: skip
    assert [m.reason for m in moves] == [
        "sent 2 leg(s)",
        f"slice 1/4 by p95 depth 3000000000 ({CEX} sell {SIZE} base)",
    ]
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    sent, notes = [], []
    for k in range(1, 5):
        cmds, more = m.on_report(_report(slice_intent_id(SELL, k), "sell", "filled", SLICE,
                                         (20 + k) * MS))  # fmt: skip
        sent += _cex(cmds)
        notes += more
    assert sent == [("send", slice_intent_id(SELL, k), SLICE, k) for k in (2, 3, 4)]
    assert [n.reason for n in notes] == [
        *(f"slice {k}/4 by p95 depth 3000000000 ({CEX} sell {SIZE} base)" for k in (2, 3, 4)),
        "both legs filled",
        "flat",
    ]
    assert (m.open, m.closed, notes[-1].net_base) == ({}, 1, 0)


def test_a_slice_that_fills_short_ends_the_slicing_and_the_leg_is_hedged_as_partial() -> None:
    m = _machine()
    m.on_intents(*_intents(), DEX, 10)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(slice_intent_id(SELL, 1), "sell", "filled", SLICE, 30 * MS))
    # slice 2: the book held 1 SOL at the limit, the rest expired
    s2 = slice_intent_id(SELL, 2)
    assert m.on_report(_report(s2, "sell", "partial", SOL_1, 60 * MS)) == ([], [])
    cmds, moves = m.on_report(_report(s2, "sell", "cancelled", 0, 60 * MS))
    net = SIZE - SLICE - SOL_1
    assert [(c.kind, c.market_id, c.side, c.size_base) for c in cmds] == [
        ("hedge", "binance-usdm:SOLUSDT:perp", "sell", net)
    ]
    assert [(t.from_state, t.to_state, t.reason) for t in moves] == [
        ("sent", "sent", f"slice 2/4 cancelled with {SOL_1} of {SLICE}: slicing ends"),
        ("sent", "partial", f"net {net} base after both legs"),
        ("partial", "hedging", f"hedge sell {net} on binance-usdm:SOLUSDT:perp"),
    ]
    # a late copy of slice 1's report is not counted twice
    assert m.on_report(_report(slice_intent_id(SELL, 1), "sell", "filled", SLICE, 70 * MS)) == (
        [], [])  # fmt: skip
    assert m.open[OID].net_base == net


def test_a_restart_mid_slice_queries_the_slice_on_the_wire_and_probes_the_next() -> None:
    m = _machine()
    m.on_intents(*_intents(), DEX, 10)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(slice_intent_id(SELL, 1), "sell", "filled", SLICE, 30 * MS))
    # snapshot taken with slice 2 on the wire; the process dies and is restored from it
    back: LegMachine = pickle.loads(pickle.dumps(m))
    back.on_resume()
    assert back.on_tick(400 * MS + 4_000 * MS) == ([], [])  # within the sent timeout
    cmds, _ = back.on_tick(400 * MS + 5_001 * MS)
    assert _cex(cmds) == [("query", slice_intent_id(SELL, 2), SLICE, 2)]
    # the venue knew slice 2 (filled): slice 3 is probed by its client id before any send
    cmds, moves = back.on_report(
        _report(slice_intent_id(SELL, 2), "sell", "filled", SLICE, 5_500 * MS)
    )
    assert [(c.kind, c.intent_id, c.slice_no, c.probe) for c in cmds] == [
        ("send", slice_intent_id(SELL, 3), 3, True)
    ]
    assert moves[-1].reason.startswith("slice 3/4 by p95 depth")
    # slice 3's timeout starts again: queried once, not given up at once
    cmds, _ = back.on_tick(5_500 * MS + 5_001 * MS)
    assert _cex(cmds) == [("query", slice_intent_id(SELL, 3), SLICE, 3)]
    sent = [c for c in cmds if c.kind == "send"]
    assert sent == []  # nothing already sent is ever sent again


def test_fok_legs_dex_legs_and_legs_within_the_depth_are_never_sliced() -> None:
    buy, sell = _intents()
    m = _machine()
    cmds, _ = m.on_intents(buy, replace(sell, time_in_force="fok"), DEX, 10)
    assert [(c.intent_id, c.slice_no, c.intent) for c in cmds] == [
        (f"{OID}/buy", 0, None), (SELL, 0, None)]  # fmt: skip
    m2 = _machine(slicer=_slicer("20"))
    cmds, moves = m2.on_intents(*_intents(), DEX, 10)
    assert [c.intent_id for c in cmds] == [f"{OID}/buy", SELL]
    assert _path(moves) == [("planned", "sent")]


def test_dex_first_slices_the_cex_twin_cut_to_the_dex_fill() -> None:
    m = _machine("dex_first")
    m.on_intents(*_intents(), DEX, 10)
    cmds, moves = m.on_report(_report(f"{OID}/buy", "buy", "filled", 8 * SOL_1, 400 * MS))
    assert _cex(cmds) == [("send", slice_intent_id(SELL, 1), 2_666_666_667, 1)]
    assert moves[0].reason == f"slice 1/3 by p95 depth 3000000000 ({CEX} sell {8 * SOL_1} base)"


def test_a_kill_mid_slicing_sends_no_further_slice() -> None:
    m = _machine()
    m.on_intents(*_intents(), DEX, 10)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(slice_intent_id(SELL, 1), "sell", "filled", SLICE, 30 * MS))
    cmds, _ = m.on_kill(450 * MS)
    assert _cex(cmds) == [("cancel", slice_intent_id(SELL, 2), SLICE, 2)]
    cmds, moves = m.on_report(_report(slice_intent_id(SELL, 2), "sell", "filled", SLICE, 460 * MS))
    assert [(c.kind, c.size_base) for c in cmds] == [("hedge", SIZE - 2 * SLICE)]
    assert [(t.from_state, t.to_state, t.reason) for t in moves][:2] == [
        ("sent", "sent", f"slice 2/4 filled with {SLICE} of {SLICE}: slicing ends"),
        ("sent", "partial", f"net {SIZE - 2 * SLICE} base after both legs"),
    ]


def test_slice_ids_name_their_leg() -> None:
    assert leg_intent_id(slice_intent_id(SELL, 7)) == SELL
    assert leg_intent_id(SELL) == SELL
