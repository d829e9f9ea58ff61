"""`LegMachine.on_kill`: nothing new goes out, what is open is hedged or unwound by policy."""

from __future__ import annotations

import pickle

from operators.legs import LegMachine, LegPolicy
from tests.unit.test_legs import DEX, HEDGE, MS, OID, SIZE, _intents, _path, _report


def test_a_kill_drops_the_waiting_cex_twin_and_the_filled_dex_leg_is_hedged() -> None:
    m = LegMachine(LegPolicy(), HEDGE)  # dex_first: the CEX leg waits for the DEX fill
    m.on_intents(*_intents(), DEX, 0)
    cmds, moves = m.on_kill(100 * MS)
    # the DEX transaction is on the wire: asked to cancel (it cannot be recalled); the CEX
    # twin is never sent
    assert [(c.kind, c.venue, c.intent_id) for c in cmds] == [("cancel", "orca:P", f"{OID}/buy")]
    assert moves == []
    cmds, moves = m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    assert [(c.kind, c.venue, c.side, c.size_base) for c in cmds] == [
        ("hedge", "binance-usdm", "sell", SIZE)
    ]
    assert _path(moves) == [("sent", "failed"), ("failed", "hedging")]
    cmds, moves = m.on_report(_report(f"{OID}/hedge", "sell", "filled", SIZE, 450 * MS))
    assert [(c.kind, c.market_id, c.side) for c in cmds] == [
        ("unwind", "orca:P", "sell"), ("unwind", "binance-usdm:SOLUSDT:perp", "buy")
    ]
    assert _path(moves) == [("hedging", "hedged"), ("hedged", "unwinding")]
    m.on_report(_report(f"{OID}/unwind", "sell", "filled", SIZE, 470 * MS))
    _, moves = m.on_report(_report(f"{OID}/hedge-close", "buy", "filled", SIZE, 480 * MS))
    assert (_path(moves), m.open) == ([("unwinding", "unwound"), ("unwound", "closed")], {})


def test_a_kill_unwinds_at_once_what_both_legs_left_and_closes_what_never_went_out() -> None:
    m = LegMachine(LegPolicy(order="both"), {})  # no hedge market: unwind
    m.on_intents(*_intents(), DEX, 0)
    m.on_report(_report(f"{OID}/buy", "buy", "filled", SIZE, 400 * MS))
    m.on_report(_report(f"{OID}/sell", "sell", "partial", SIZE // 4, 410 * MS))
    cmds, moves = m.on_kill(420 * MS)
    assert [(c.kind, c.intent_id) for c in cmds] == [("cancel", f"{OID}/sell")]
    cmds, moves = m.on_report(_report(f"{OID}/sell", "sell", "cancelled", 0, 430 * MS))
    assert [(c.kind, c.venue, c.side, c.size_base) for c in cmds] == [
        ("unwind", "orca:P", "sell", SIZE - SIZE // 4)
    ]
    assert _path(moves) == [("sent", "partial"), ("partial", "unwinding")]
    restored = pickle.loads(pickle.dumps(m))
    _, moves = restored.on_report(
        _report(f"{OID}/unwind", "sell", "filled", SIZE - SIZE // 4, 500 * MS)
    )
    assert (_path(moves), restored.open) == ([("unwinding", "unwound"), ("unwound", "closed")], {})


def test_a_kill_closes_an_opportunity_still_planned() -> None:
    m = LegMachine(LegPolicy(), HEDGE)
    m.on_intents(*_intents(), DEX, 0)
    m.open[OID].state = "planned"  # accepted, its first order not yet out
    cmds, moves = m.on_kill(5 * MS)
    assert (cmds, _path(moves), moves[-1].reason, m.open) == (
        [], [("planned", "closed")], "kill: nothing sent", {},
    )  # fmt: skip
