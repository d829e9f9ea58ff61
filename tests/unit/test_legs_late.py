"""Late and repeated reports: a hedge that fills after its timeout is closed too, and a report
answered twice (the original and a query's answer) is counted once."""

from __future__ import annotations

from operators.legs import LegCommand, LegMachine, LegPolicy, LegTransition
from tests.unit.test_legs import DEX, HEDGE, MS, OID, SIZE, _intents, _path, _report

PERP = "binance-usdm:SOLUSDT:perp"
TIMEOUT = LegPolicy().hedge_timeout_ns


def _one_legged(m: LegMachine) -> None:
    """The DEX buy filled, the CEX sell was rejected: hedging a 10 SOL long on the perp."""
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(f"{OID}/sell", "sell", "rejected", 0, 420 * MS))


def _cmds(cmds: list[LegCommand]) -> list[tuple[str, str, str, int, str]]:
    return [(c.kind, c.market_id, c.side, c.size_base, c.intent_id.rsplit("/", 1)[1])
            for c in cmds]  # fmt: skip


def _all(m: LegMachine, *reports: tuple) -> tuple[list[LegCommand], list[LegTransition]]:
    cmds: list[LegCommand] = []
    moves: list[LegTransition] = []
    for r in reports:
        c, t = m.on_report(_report(*r))
        cmds += c
        moves += t
    return cmds, moves


def test_a_hedge_filling_after_its_timeout_gets_its_own_close_and_the_arb_ends_flat() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    _one_legged(m)
    cmds, moves = m.on_tick(420 * MS + TIMEOUT + 1)
    # nothing on the perp yet: the spot is unwound and the hedge queried, no close
    assert _cmds(cmds) == [("unwind", "orca:P", "sell", SIZE, "unwind"),
                           ("query", PERP, "sell", SIZE, "hedge")]  # fmt: skip
    assert _path(moves) == [("hedging", "unwinding")]
    _, moves = _all(m, (f"{OID}/unwind", "sell", "filled", SIZE, 2_500 * MS))
    assert (moves, m.open[OID].net_base) == ([], 0)  # spot flat, the hedge still out
    # the hedge fills late: the perp short it opened is bought back
    cmds, moves = _all(m, (f"{OID}/hedge", "sell", "filled", SIZE, 2_600 * MS))
    assert _cmds(cmds) == [("unwind", PERP, "buy", SIZE, "hedge-close")]
    assert (moves, m.open[OID].perp_sold_base) == ([], SIZE)
    cmds, moves = _all(m, (f"{OID}/hedge-close", "buy", "filled", SIZE, 2_700 * MS))
    assert (cmds, _path(moves), m.open) == (
        [], [("unwinding", "unwound"), ("unwound", "closed")], {},
    )  # fmt: skip
    assert moves[-1].net_base == 0


def test_a_partial_hedge_then_timeout_then_more_fill_sends_a_follow_up_close() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    _one_legged(m)
    # 4 SOL of the hedge reported before the timeout (not final yet)
    _all(m, (f"{OID}/hedge", "sell", "partial", 4_000_000_000, 430 * MS))
    cmds, _ = m.on_tick(420 * MS + TIMEOUT + 1)
    assert _cmds(cmds) == [
        ("unwind", "orca:P", "sell", SIZE, "unwind"),
        ("unwind", PERP, "buy", 4_000_000_000, "hedge-close"),
        ("query", PERP, "sell", SIZE, "hedge"),
    ]
    # its final report says 7 SOL in all (cumulative): 3 SOL more than the close covers
    cmds, moves = _all(
        m,
        (f"{OID}/unwind", "sell", "filled", SIZE, 2_500 * MS),
        (f"{OID}/hedge-close", "buy", "filled", 4_000_000_000, 2_510 * MS),
        (f"{OID}/hedge", "sell", "partial", 7_000_000_000, 2_520 * MS),
        (f"{OID}/hedge", "sell", "cancelled", 0, 2_520 * MS),
    )
    assert _cmds(cmds) == [("unwind", PERP, "buy", 3_000_000_000, "hedge-close-late")]
    assert (moves, m.open[OID].perp_sold_base) == ([], 3_000_000_000)
    cmds, moves = _all(m, (f"{OID}/hedge-close-late", "buy", "filled", 3_000_000_000, 2_600 * MS))
    assert (cmds, _path(moves), m.open) == (
        [], [("unwinding", "unwound"), ("unwound", "closed")], {},
    )  # fmt: skip


def test_a_rejected_hedge_is_final_and_the_spot_unwind_closes_the_arb() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    _one_legged(m)
    cmds, moves = _all(m, (f"{OID}/hedge", "sell", "rejected", 0, 450 * MS))
    # final at once: nothing to query, no perp to close
    assert _cmds(cmds) == [("unwind", "orca:P", "sell", SIZE, "unwind")]
    assert _path(moves) == [("hedging", "unwinding")]
    _, moves = _all(m, (f"{OID}/unwind", "sell", "filled", SIZE, 500 * MS))
    assert (_path(moves), m.open) == ([("unwinding", "unwound"), ("unwound", "closed")], {})


def test_a_leg_reported_again_by_query_is_counted_once() -> None:
    p = LegPolicy(order="both")
    m = LegMachine(p, HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 300 * MS))
    cmds, _ = m.on_tick(p.sent_timeout_ns + 300 * MS + 1)
    assert [(c.kind, c.intent_id) for c in cmds] == [("query", f"{OID}/sell")]
    # the sell's own final report and the query's answer of the same order both arrive
    cmds, moves = _all(
        m,
        (f"{OID}/sell", "sell", "filled", SIZE, 5_400 * MS),
        (f"{OID}/sell", "sell", "filled", SIZE, 5_410 * MS),
    )
    assert (cmds, _path(moves), m.open, m.closed) == (
        [], [("sent", "filled"), ("filled", "closed")], {}, 1,
    )  # fmt: skip


def test_a_repeated_partial_report_adds_only_its_increase_and_a_repeated_hedge_nothing() -> None:
    m = LegMachine(LegPolicy(order="both"), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    _all(
        m,
        (f"{OID}/buy", "buy", "filled", SIZE, 300 * MS),
        (f"{OID}/sell", "sell", "partial", 6_000_000_000, 310 * MS),
        (f"{OID}/sell", "sell", "partial", 6_000_000_000, 311 * MS),  # the same, again
    )
    legs = m.open[OID]
    assert (legs.sell.filled_base, legs.sell.quote_amount) == (6_000_000_000, 900_000_000)
    cmds, moves = _all(m, (f"{OID}/sell", "sell", "cancelled", 0, 320 * MS))
    assert _cmds(cmds) == [("hedge", PERP, "sell", 4_000_000_000, "hedge")]
    assert _path(moves) == [("sent", "partial"), ("partial", "hedging")]
    cmds, moves = _all(
        m,
        (f"{OID}/hedge", "sell", "filled", 4_000_000_000, 330 * MS),
        (f"{OID}/hedge", "sell", "filled", 4_000_000_000, 331 * MS),  # by query: counted once
    )
    assert _cmds(cmds) == [
        ("unwind", "orca:P", "sell", 4_000_000_000, "unwind"),
        ("unwind", PERP, "buy", 4_000_000_000, "hedge-close"),
    ]
    assert (_path(moves), legs.perp_sold_base, legs.net_base) == (
        [("hedging", "hedged"), ("hedged", "unwinding")], 4_000_000_000, 0,
    )  # fmt: skip


def test_the_live_step_counts_a_report_repeated_by_query_once_and_journals_the_repeat() -> None:
    from engine.exec_step import REPEAT_SOURCE, LiveExecStep
    from operators.events import ExecutionReport, HealthEvent
    from tests.unit.test_live_exec_step import PAIR, _feed, _intents, _report, _settings

    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    size = buy.size_base
    _feed(step, buy, sell, _report(buy, "filled", size, 4_470_000_000, 10))
    # the sell's venue answer was late: the legs queried it, and both answers arrived
    first = _feed(step, _report(sell, "filled", size, 4_500_000_000, 20))
    again = _feed(step, _report(sell, "filled", size, 4_500_000_000, 30))
    assert [type(x).__name__ for x in first if isinstance(x, ExecutionReport)] == [
        "ExecutionReport"
    ]
    (repeat,) = again
    assert isinstance(repeat, HealthEvent)
    assert (repeat.source, repeat.status) == (REPEAT_SOURCE, "repeat")
    assert repeat.detail == (
        f"{PAIR}: {sell.intent_id} filled {size} base (filled) repeats a report already counted"
    )
    # the fill risk saw the sell once: the venues' base nets to zero, the PnL booked once
    assert sum(step.risk.exposure_base.values()) == 0
    assert step.risk.opps == {} and step.legs.open == {}
    assert (step.counters["reports"], step.counters["repeats"]) == (2, 1)
