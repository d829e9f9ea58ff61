"""`LiveExecStep`: the leg machine of live trading, as values (no socket, no clock)."""

from __future__ import annotations

import pickle
from typing import Any

from config import Settings, load_settings
from connectors.cex.orders.ids import client_order_id
from connectors.execution import ExecClock, ExecOrder, order_client_id
from engine.exec_step import LiveExecStep, pair_lot_base
from engine.steps import PairControl
from operators.events import (
    CostBreakdown,
    ExecutionReport,
    HealthEvent,
    Opportunity,
    OrderIntent,
)
from operators.legs import LegTransition
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL

PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
OPP = "SOL/USDC|buy_dex_sell_cex|x|1"
SIZE = 30 * 10**9
T0 = 1_000_000_000_000


def _settings(leg_order: str = "both") -> Settings:
    return load_settings(
        markets_path=SAMPLE_MARKETS, env={"SOLARB__ENGINE__LEG_ORDER": f'"{leg_order}"'}
    )


def _opp(cu_price: int) -> Opportunity:
    costs = CostBreakdown(1.0, 3.0, 0.5, 2.0, 0.0, 5.0)
    return Opportunity(
        OPP, PAIR, "buy_dex_sell_cex", DEX, CEX, SIZE, 4_470_000_000, 4_500_000_000, 67.0,
        costs, 11.5, 55.5, 20_000_000, 60.0, cu_price, 0, T0, T0, T0,
    )  # fmt: skip


def _intents() -> tuple[OrderIntent, OrderIntent]:
    buy = OrderIntent(f"{OPP}/buy", OPP, DEX, DEX, "buy", SIZE, 4_474_470_000, T0, T0, T0, PAIR)
    sell = OrderIntent(f"{OPP}/sell", OPP, CEX, CEX, "sell", SIZE, 4_495_500_000, T0, T0,
                       T0, PAIR)  # fmt: skip
    return buy, sell


def _report(intent: OrderIntent, status: str, filled: int, quote: int, t: int) -> ExecutionReport:
    return ExecutionReport(intent.intent_id, OPP, intent.venue, intent.side, status,  # type: ignore[arg-type]
                           filled, quote, 0, status, t, t, t)  # fmt: skip


def _feed(step: LiveExecStep, *items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out += step.on_item((PAIR, item))
    return out


def test_both_legs_go_out_with_deterministic_client_ids_and_the_opportunity_cu_price() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    out = _feed(step, _opp(25_000), buy, sell)
    orders = [x for x in out if isinstance(x, ExecOrder)]
    assert [(o.kind, o.intent, o.leg, o.cu_price_micro_lamports) for o in orders] == [
        ("send", buy, "buy", 25_000),
        ("send", sell, "sell", 25_000),
    ]
    assert [order_client_id(o) for o in orders] == [
        client_order_id(OPP, "buy"), client_order_id(OPP, "sell"),
    ]  # fmt: skip
    moves = [(t.from_state, t.to_state) for t in out if isinstance(t, LegTransition)]
    assert moves == [("planned", "sent")]


def test_dex_first_sends_the_cex_leg_cut_to_the_dex_fill() -> None:
    step = LiveExecStep(_settings("dex_first"), PAIR)
    buy, sell = _intents()
    first = [x for x in _feed(step, _opp(7), buy, sell) if isinstance(x, ExecOrder)]
    assert [o.intent.venue for o in first] == [DEX]  # intents name the market as venue
    out = _feed(step, _report(buy, "filled", SIZE // 2, 2_237_235_000, T0 + 10))
    (cex,) = [x for x in out if isinstance(x, ExecOrder)]
    assert (cex.kind, cex.intent.venue, cex.intent.size_base) == ("send", CEX, SIZE // 2)
    assert cex.intent.limit_quote == -(-sell.limit_quote * (SIZE // 2) // SIZE)  # rounds up


def test_rejected_cex_leg_unwinds_the_dex_fill_at_a_limit_100_bps_against_us() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)
    _feed(step, _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10))
    out = _feed(step, _report(sell, "rejected", 0, 0, T0 + 20))
    (unwind,) = [x for x in out if isinstance(x, ExecOrder)]
    assert (unwind.kind, unwind.leg, unwind.attempt) == ("unwind", "hedge", 1)
    assert order_client_id(unwind) == client_order_id(OPP, "hedge", 1)
    i = unwind.intent
    assert (i.venue, i.market_id, i.side, i.size_base) == (DEX, DEX, "sell", SIZE)
    assert i.limit_quote == 4_467_000_000 * 99 // 100  # the buy's price, 1 % lower
    done = _feed(step, _report(i, "filled", SIZE, 4_460_000_000, T0 + 30))
    assert [t.to_state for t in done if isinstance(t, LegTransition)] == ["unwound", "closed"]
    assert step.legs.open == {}


def test_a_leg_with_no_report_is_queried_by_client_id_before_anything_else() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)
    _feed(step, _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10))
    out = _feed(step, ExecClock(T0 + 6_000_000_000))
    (query,) = [x for x in out if isinstance(x, ExecOrder)]
    assert (query.kind, query.intent, order_client_id(query)) == (
        "query", sell, client_order_id(OPP, "sell"),
    )  # fmt: skip
    assert step.counters == {"orders": 2, "reports": 1, "queries": 1, "cancels_moot": 0}


def test_risk_hooks_see_every_report_and_their_output_is_journaled_after_it() -> None:
    step = LiveExecStep(_settings(), PAIR)
    seen: list[str] = []

    def hook(r: ExecutionReport) -> list[Any]:
        seen.append(r.intent_id)
        return [f"risk:{r.status}"]

    step.risk_hooks.append(hook)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)
    r = _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10)
    out = _feed(step, r)
    assert out[:2] == [r, "risk:filled"]
    assert seen == [buy.intent_id]


def test_the_pair_lot_is_the_cex_lot_in_base_units_and_the_step_pickles() -> None:
    settings = _settings()
    assert pair_lot_base(settings, PAIR) == 10**6  # lot_size 0.001 SOL
    step = LiveExecStep(settings, PAIR)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)
    again = pickle.loads(pickle.dumps(step))
    assert list(again.legs.open) == [OPP] and again.cu_price == {OPP: 7}


def test_a_fill_risk_kill_refuses_new_intents_until_solarb_arm() -> None:
    step = LiveExecStep(_settings(), PAIR)
    step.risk.on_kill("dex_failures", "3 failed swaps in 60 s", T0, T0)
    buy, sell = _intents()
    out = _feed(step, _opp(7), buy, sell)
    why = "refused: fill risk kill (dex_failures): 3 failed swaps in 60 s"
    assert [(type(x).__name__, x.intent_id, x.status, x.reason) for x in out] == [
        ("ExecutionReport", buy.intent_id, "rejected", why),
        ("ExecutionReport", sell.intent_id, "rejected", why),
    ]
    arm = HealthEvent("control:manual", "rearm", "solarb arm", T0 + 5, T0 + 5)
    (up,) = _feed(step, PairControl(PAIR, arm))
    assert (up.source, up.status) == ("risk:fill_risk", "up")
    again = OrderIntent(f"{OPP}2/buy", f"{OPP}2", DEX, DEX, "buy", SIZE, 4_474_470_000, T0, T0,
                        T0, PAIR)  # fmt: skip
    twin = OrderIntent(f"{OPP}2/sell", f"{OPP}2", CEX, CEX, "sell", SIZE, 4_495_500_000, T0, T0,
                       T0, PAIR)  # fmt: skip
    sent = [x for x in _feed(step, again, twin) if isinstance(x, ExecOrder)]
    assert [o.intent.intent_id for o in sent] == [again.intent_id, twin.intent_id]


def test_solarb_kill_flattens_a_one_legged_arb_and_cancels_nothing_on_the_wire() -> None:
    step = LiveExecStep(_settings(), PAIR)
    buy, sell = _intents()
    _feed(step, _opp(7), buy, sell)
    _feed(step, _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10))
    kill = HealthEvent("control:manual", "kill", "operator", T0 + 20, T0 + 20)
    out = _feed(step, PairControl(PAIR, kill))
    assert [x for x in out if isinstance(x, ExecOrder)] == []  # the CEX IOC is still out
    assert step.counters["cancels_moot"] == 1
    late = _feed(step, _report(sell, "rejected", 0, 0, T0 + 30))
    (unwind,) = [x for x in late if isinstance(x, ExecOrder)]
    assert (unwind.kind, unwind.intent.side, unwind.intent.size_base) == ("unwind", "sell", SIZE)
