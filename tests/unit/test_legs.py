"""The leg-risk state machine: every opportunity ends closed and flat, or flagged."""

from __future__ import annotations

import pickle

import pytest

from operators.errors import ExecutionError
from operators.events import ExecutionReport, OrderIntent
from operators.legs import LegMachine, LegPolicy

MS = 1_000_000
OID = "SOL/USDC|buy_dex_sell_cex|orca:P>binance:SOLUSDC|1"
DEX = frozenset({"orca:P"})
HEDGE = {"binance:SOLUSDC": ("binance-usdm", "binance-usdm:SOLUSDT:perp")}
SIZE = 10_000_000_000  # 10 SOL


def _intents(size: int = SIZE) -> tuple[OrderIntent, OrderIntent]:
    buy = OrderIntent(f"{OID}/buy", OID, "orca:P", "orca:P", "buy", size, 1_500_000_000, 0, 0, 0)
    sell = OrderIntent(f"{OID}/sell", OID, "binance:SOLUSDC", "binance:SOLUSDC", "sell", size,
                       1_509_000_000, 0, 0, 0)  # fmt: skip
    return buy, sell


def _report(intent_id: str, side: str, status: str, base: int, ts: int) -> ExecutionReport:
    return ExecutionReport(intent_id, OID, "v", side, status, base, base * 150 // 1000, 0, "",  # type: ignore[arg-type]
                           ts, ts, ts)  # fmt: skip


def _path(moves: list) -> list[tuple[str, str]]:
    return [(m.from_state, m.to_state) for m in moves]


def test_dex_first_sends_the_cex_leg_only_after_the_dex_leg_filled_then_closes_flat() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    cmds, moves = m.on_intents(*_intents(), DEX, 0)
    assert [(c.kind, c.venue, c.side, c.size_base) for c in cmds] == [
        ("send", "orca:P", "buy", SIZE)
    ]
    cmds, more = m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    assert [(c.kind, c.venue, c.side, c.size_base) for c in cmds] == [
        ("send", "binance:SOLUSDC", "sell", SIZE)
    ]
    cmds, last = m.on_report(_report(f"{OID}/sell", "sell", "filled", SIZE, 420 * MS))
    assert cmds == []
    assert _path(moves + more + last) == [
        ("planned", "sent"),
        ("sent", "filled"),
        ("filled", "closed"),
    ]
    assert (m.open, m.closed, last[-1].net_base) == ({}, 1, 0)


def test_both_at_once_sends_both_legs() -> None:
    m = LegMachine(LegPolicy(order="both"), HEDGE)
    cmds, _ = m.on_intents(*_intents(), DEX, 0)
    assert sorted((c.venue, c.side) for c in cmds) == [
        ("binance:SOLUSDC", "sell"),
        ("orca:P", "buy"),
    ]


def test_a_dex_leg_that_fills_nothing_never_sends_the_cex_leg() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    cmds, moves = m.on_report(_report(f"{OID}/buy", "buy", "rejected", 0, 400 * MS))
    assert cmds == []
    assert (_path(moves), moves[-1].reason, m.open) == (
        [("sent", "closed")], "first leg filled nothing", {},
    )  # fmt: skip


def test_a_partly_filled_dex_leg_sends_the_cex_leg_cut_to_what_filled_with_a_tighter_limit() -> (
    None
):
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    cmds, _ = m.on_report(_report(f"{OID}/buy", "buy", "filled", 6_000_000_000, 400 * MS))
    assert [(c.side, c.size_base) for c in cmds] == [("sell", 6_000_000_000)]
    sell = m.open[OID].sell.intent
    assert (sell.size_base, sell.limit_quote) == (6_000_000_000, -(-1_509_000_000 * 6 // 10))


def test_a_short_cex_fill_is_hedged_on_the_perp_then_unwound_and_the_hedge_closed() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    cmds, moves = m.on_report(_report(f"{OID}/sell", "sell", "filled", 7_000_000_000, 420 * MS))
    assert [(c.kind, c.venue, c.market_id, c.side, c.size_base) for c in cmds] == [
        ("hedge", "binance-usdm", "binance-usdm:SOLUSDT:perp", "sell", 3_000_000_000)
    ]
    assert _path(moves) == [("sent", "partial"), ("partial", "hedging")]
    cmds, moves = m.on_report(_report(f"{OID}/hedge", "sell", "filled", 3_000_000_000, 450 * MS))
    # hedged: the net is flat at once; then the spot long is sold where it was bought and the
    # perp short bought back, together (the position stays hedged while both fill)
    assert [(c.kind, c.market_id, c.side, c.size_base, c.intent_id) for c in cmds] == [
        ("unwind", "orca:P", "sell", 3_000_000_000, f"{OID}/unwind"),
        ("unwind", "binance-usdm:SOLUSDT:perp", "buy", 3_000_000_000, f"{OID}/hedge-close"),
    ]
    assert _path(moves) == [("hedging", "hedged"), ("hedged", "unwinding")]
    assert (moves[0].net_base, m.open[OID].perp_sold_base) == (0, 3_000_000_000)
    cmds, moves = m.on_report(_report(f"{OID}/unwind", "sell", "filled", 3_000_000_000, 470 * MS))
    # the spot is flat but the perp is still short: net -3 SOL until the close fills
    assert (cmds, moves, m.open[OID].net_base) == ([], [], -3_000_000_000)
    cmds, moves = m.on_report(
        _report(f"{OID}/hedge-close", "buy", "filled", 3_000_000_000, 480 * MS)
    )
    assert (cmds, _path(moves), m.open) == ([], [("unwinding", "unwound"), ("unwound", "closed")],
                                            {})  # fmt: skip
    assert moves[-1].net_base == 0


def test_a_hedge_that_filled_part_before_its_timeout_is_closed_with_the_spot_unwind() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(f"{OID}/sell", "sell", "rejected", 0, 420 * MS))
    m.on_report(_report(f"{OID}/hedge", "sell", "partial", 4_000_000_000, 430 * MS))
    cmds, moves = m.on_tick(420 * MS + LegPolicy().hedge_timeout_ns + 1)
    # the hedge has no final report yet: it is queried (it may still fill, see test_legs_late)
    assert [(c.kind, c.market_id, c.side, c.size_base) for c in cmds] == [
        ("unwind", "orca:P", "sell", SIZE),
        ("unwind", "binance-usdm:SOLUSDT:perp", "buy", 4_000_000_000),
        ("query", "binance-usdm:SOLUSDT:perp", "sell", SIZE),
    ]
    assert _path(moves) == [("hedging", "unwinding")]
    m.on_report(_report(f"{OID}/unwind", "sell", "filled", SIZE, 2_500 * MS))
    _, moves = m.on_report(_report(f"{OID}/hedge-close", "buy", "filled", 4_000_000_000,
                                   2_510 * MS))  # fmt: skip
    assert (_path(moves), m.open[OID].net_base) == ([], 0)  # flat, but the hedge may still fill
    # the IOC's remainder expired (a cancelled report of nothing): now it is over
    cmds, moves = m.on_report(_report(f"{OID}/hedge", "sell", "cancelled", 0, 2_520 * MS))
    assert (cmds, _path(moves), m.open) == (
        [], [("unwinding", "unwound"), ("unwound", "closed")], {},
    )  # fmt: skip


def test_a_rejected_hedge_unwinds_on_the_venue_that_filled_and_an_unfilled_unwind_is_flagged() -> (
    None
):
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(f"{OID}/sell", "sell", "rejected", 0, 420 * MS))
    cmds, moves = m.on_report(_report(f"{OID}/hedge", "sell", "rejected", 0, 450 * MS))
    assert [(c.kind, c.venue, c.side, c.size_base) for c in cmds] == [
        ("unwind", "orca:P", "sell", SIZE)
    ]
    assert _path(moves) == [("hedging", "unwinding")]
    _, late = m.on_tick(450 * MS + LegPolicy().unwind_timeout_ns + 1)
    assert _path(late) == [("unwinding", "closed")]
    assert late[0].reason == f"UNWIND TIMED OUT: net {SIZE} base open, perp 0 base"


def test_silent_legs_are_queried_before_anything_else_then_hedged() -> None:
    p = LegPolicy(order="both")
    m = LegMachine(p, HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 300 * MS))
    cmds, moves = m.on_tick(p.sent_timeout_ns + 300 * MS + 1)
    assert ([(c.kind, c.intent_id) for c in cmds], moves) == ([("query", f"{OID}/sell")], [])
    cmds, moves = m.on_tick(2 * p.sent_timeout_ns + 300 * MS + 2)
    assert [(c.kind, c.side, c.size_base) for c in cmds] == [("hedge", "sell", SIZE)]
    assert _path(moves) == [("sent", "partial"), ("partial", "hedging")]


def test_without_a_hedge_market_the_net_is_unwound_at_once_and_a_hedge_timeout_unwinds() -> None:
    m = LegMachine(LegPolicy(), {})
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    cmds, moves = m.on_report(_report(f"{OID}/sell", "sell", "rejected", 0, 420 * MS))
    assert ([c.kind for c in cmds], _path(moves)) == (
        ["unwind"],
        [("sent", "failed"), ("failed", "unwinding")],
    )
    cmds, moves = m.on_report(_report(f"{OID}/unwind", "sell", "filled", SIZE, 500 * MS))
    assert _path(moves) == [("unwinding", "unwound"), ("unwound", "closed")]

    h = LegMachine(LegPolicy(), HEDGE)
    h.on_intents(*_intents(), DEX, 0)
    h.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    h.on_report(_report(f"{OID}/sell", "sell", "rejected", 0, 420 * MS))
    cmds, moves = h.on_tick(420 * MS + LegPolicy().hedge_timeout_ns + 1)
    assert ([c.kind for c in cmds], _path(moves)) == (
        ["unwind", "query"], [("hedging", "unwinding")],
    )  # fmt: skip


def test_an_opportunity_is_never_planned_twice_and_state_pickles() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    with pytest.raises(ExecutionError, match="legs already planned"):
        m.on_intents(*_intents(), DEX, 1)
    copy = pickle.loads(pickle.dumps(m))
    a = m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    b = copy.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    assert a == b
