"""Live: the pair engine's estimators learn from execution reports (operators/learning.py,
engine/steps.PairStep with `learn`), and what they learn changes later decisions."""

from __future__ import annotations

from dataclasses import replace

from config import load_settings
from engine.markets import Router
from engine.steps import FILL_REPORTS, PairStep
from operators.events import ExecutionReport, Opportunity
from operators.learning import (
    FillLearner,
    FillObservation,
    LandingObservation,
    engine_cu_price,
    realised_slippage_ppb,
)
from operators.settle import SettleQueue
from sim.simulate import SAMPLE_MARKETS, SimConfig, generate
from tests.unit.test_risk import SEC, _opp

MS = 1_000_000
PAIR = "SOL/USDC"


def _report(
    opp: Opportunity, leg: str, status: str, filled: int, quote: int, ts: int, **extra: str
) -> ExecutionReport:
    return ExecutionReport(
        intent_id=f"{opp.opportunity_id}/{leg}",
        opportunity_id=opp.opportunity_id,
        venue="orca" if leg == "buy" else "binance",
        side="buy" if leg == "buy" else "sell",
        status=status,  # type: ignore[arg-type]
        filled_base=filled,
        quote_amount=quote,
        fee_quote=0,
        reason="",
        ts_event_ns=ts,
        ts_recv_ns=ts,
        ts_fill_ns=ts,
        extra=dict(extra),
    )


def test_realised_slippage_is_ppb_of_the_predicted_price_positive_when_worse() -> None:
    # bought 10 for 1,010 predicted 20 for 2,000: 1 % dearer
    assert realised_slippage_ppb("buy", 2_000, 20, 10, 1_010) == 10_000_000
    # sold 10 for 1,010 predicted 20 for 2,000: 1 % better
    assert realised_slippage_ppb("sell", 2_000, 20, 10, 1_010) == -10_000_000
    assert realised_slippage_ppb("buy", 0, 20, 10, 1_010) == 0  # no prediction


def test_a_transactions_cu_price_is_re_expressed_at_the_engines_cu_limit() -> None:
    # 300k CU at 666 micro-lamports = 199.8 -> 200 lamports = 1,000 per CU at 200k CU
    assert engine_cu_price(666, 300_000, 200_000) == 1_000
    assert engine_cu_price(1_000, 200_000, 200_000) == 1_000


def test_the_learner_turns_leg_fills_and_dex_outcomes_into_observations() -> None:
    lr = FillLearner(frozenset({"orca:P"}), engine_cu_limit=200_000)
    opp = _opp(ts=10 * SEC)  # buys 20 SOL on orca:P for 3,000 USDC, sells on binance for 3,015
    lr.on_signal(opp)
    lr.on_signal(replace(opp, update_seq=1, buy_quote=1))  # an update keeps the prediction
    buy = _report(
        opp, "buy", "filled", 20_000_000_000, 3_003_000_000, 11 * SEC,
        outcome="landed", slot="9", cu_limit="300000", cu_price_micro_lamports="3333",
    )  # fmt: skip
    assert lr.on_report(buy) == [
        FillObservation("orca:P", 1_000_000),  # 10 bps dearer
        LandingObservation("orca:P", 5_000, True),  # 300k x 3,333 = 1,000 lamports at 200k
    ]
    sell = _report(opp, "sell", "filled", 20_000_000_000, 3_015_000_000, 11 * SEC)
    assert lr.on_report(sell) == [FillObservation("binance:SOLUSDC", 0)]
    assert lr.predictions == {}  # both legs final: forgotten
    assert (lr.fills_observed, lr.landings_observed, lr.reports) == (2, 1, 2)


def test_dex_outcomes_land_or_not_and_a_refusal_before_any_block_teaches_nothing() -> None:
    lr = FillLearner(frozenset({"orca:P"}), engine_cu_limit=200_000)
    opps = [_opp(ts=t * SEC) for t in (1, 2, 3, 4)]
    for o in opps:
        lr.on_signal(o)
    expired = _report(opps[0], "buy", "rejected", 0, 0, 5 * SEC, outcome="expired", slot="0")
    failed_on_chain = _report(opps[1], "buy", "rejected", 0, 0, 5 * SEC, outcome="failed",
                              slot="77")  # fmt: skip
    refused = _report(opps[2], "buy", "rejected", 0, 0, 5 * SEC, outcome="failed", slot="0")
    never_sent = _report(opps[3], "buy", "rejected", 0, 0, 5 * SEC)  # gateway refusal: no tx
    # without the transaction's own CU price, the price the engine priced (5,000)
    assert lr.on_report(expired) == [LandingObservation("orca:P", 5_000, False)]
    assert lr.on_report(failed_on_chain) == [LandingObservation("orca:P", 5_000, True)]
    assert lr.on_report(refused) == []
    assert lr.on_report(never_sent) == []


def test_hedges_unwinds_and_unknown_opportunities_teach_nothing() -> None:
    lr = FillLearner(frozenset({"orca:P"}), engine_cu_limit=200_000)
    opp = _opp(ts=10 * SEC)
    lr.on_signal(opp)
    hedge = replace(
        _report(opp, "sell", "filled", 1, 150, 11 * SEC), intent_id=opp.opportunity_id + "/hedge"
    )
    stranger = _report(_opp(ts=99 * SEC), "buy", "filled", 1, 150, 11 * SEC)
    assert lr.on_report(hedge) == [] and lr.on_report(stranger) == []
    assert lr.fills_observed == 0


def test_predictions_are_forgotten_after_keep_ns_and_past_the_bound() -> None:
    lr = FillLearner(frozenset(), 200_000, keep_ns=5 * SEC, max_kept=2)
    for t in (1, 2, 3):
        lr.on_signal(_opp(ts=t * SEC))
    assert len(lr.predictions) == 2  # the oldest dropped past the bound
    lr.on_signal(_opp(ts=9 * SEC))  # 1 s and 2 s are older than 5 s by now
    assert [p.ts_ns for p in lr.predictions.values()] == [9 * SEC]


def test_the_settle_queue_holds_items_until_the_event_clock_passes_their_delay() -> None:
    q = SettleQueue(500)
    q.push(1_000, "a")
    q.push(1_200, "b")
    assert q.due(1_499) == []
    assert q.due(1_500) == ["a"]
    assert q.due(1_000) == []  # the clock never goes back
    assert q.drain() == ["b"]


def _signals(
    step: PairStep,
    router: Router,
    frames: list,
    report_at: int | None,
    worse_ppm: int = 0,
    late_frames: int = 0,
) -> list[Opportunity]:
    """Feed `frames`; after the first signal, a report that its orca buy filled `worse_ppm`
    dearer, received `report_at` ns after it and handed to the step `late_frames` frames
    later. Returns every opportunity (signals, updates)."""
    opps: list[Opportunity] = []
    sent = report_at is None
    held: list[tuple[int, ExecutionReport]] = []
    for i, f in enumerate(frames):
        if held and held[0][0] <= i:
            assert step.on_item((FILL_REPORTS, held.pop()[1], PAIR)) == []
        for o in step.on_item((router.market_of(f), f, PAIR)):
            if not isinstance(o, Opportunity):
                continue
            opps.append(o)
            if not sent:
                sent = True
                ts = o.ts_detect_ns + report_at  # type: ignore[operator]
                paid = o.buy_quote * (1_000_000 + worse_ppm) // 1_000_000
                held.append(
                    (i + 1 + late_frames, _report(o, "buy", "filled", o.size_base, paid, ts))
                )
    return opps


def _sessions(
    worse_ppm: int, late_frames: int = 0
) -> tuple[list[Opportunity], list[Opportunity], PairStep]:
    """60 s of the sample (two dislocations), without and with one learned fill."""
    env = {"SOLARB__THRESHOLDS__SLIPPAGE_MIN_FILLS": "1"}
    settings = load_settings(markets_path=SAMPLE_MARKETS, env=env)
    router = Router(settings)
    frames = sorted(generate(SimConfig(duration_s=60)), key=lambda f: f.ts_recv_ns)
    plain = _signals(PairStep(settings, router, PAIR, learn=True), router, frames, None)
    step = PairStep(settings, router, PAIR, learn=True)
    learned = _signals(step, router, frames, 100 * MS, worse_ppm, late_frames)
    return plain, learned, step


def test_where_a_report_lands_among_the_frames_within_the_settle_delay_changes_nothing() -> None:
    # live, the report may reach the pair step a few frames later than a replay hands it over:
    # it takes effect at its receive time + risk.reports_settle_ms either way
    wall = {"ts_detect_wall_ns": 0}
    _, early, _ = _sessions(1_000)
    _, late, _ = _sessions(1_000, late_frames=3)
    assert [replace(o, **wall) for o in late] == [replace(o, **wall) for o in early]


def test_a_pair_step_that_learns_a_dear_fill_prices_its_later_opportunities_with_it() -> None:
    plain, learned, step = _sessions(1_000)  # the orca buy filled 10 bps dearer
    wall = {"ts_detect_wall_ns": 0}
    assert [replace(o, **wall) for o in learned[:1]] == [replace(o, **wall) for o in plain[:1]]
    # the report takes effect 500 ms after its receipt (risk.reports_settle_ms); from then on
    # the orca leg is priced at its realised p95 (10 bps) instead of the 2 bps default
    counters = {(c.key, c.name): c.value for c in step.on_eof()}
    assert counters[(PAIR, "fills_observed")] == 1
    orca = "orca:DpLagCu2hfN5WhJaK9ZEVgW8pyiJFGArEMExH9hGogRc"
    learned_ppb = counters[(orca, "expected_slippage_ppb")]
    assert learned_ppb == 999_999  # 10 bps, the paid amount floored to whole quote units
    assert [o.costs.slippage_bps for o in plain] == [4.0] * 6
    both = (200_000 + learned_ppb) / 1e5  # the CEX leg's 2 bps default + orca's realised p95
    assert [round(o.costs.slippage_bps, 9) for o in learned] == [4.0] + [round(both, 9)] * 5
    lower = [round(p.net_bps - o.net_bps, 4) for p, o in zip(plain[1:], learned[1:])]
    assert lower == [8.0] * 5


def test_a_learned_slippage_above_the_edge_stops_the_signals_it_would_have_given() -> None:
    plain, learned, _ = _sessions(10_000)  # 1 % dearer: more than any edge of the session
    assert [o.update_seq for o in plain] == [0, 1, 2, 0, 1, 2]
    assert [o.update_seq for o in learned] == [0]


def test_a_pair_step_without_learning_journals_no_learning_counters() -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(settings)
    step = PairStep(settings, router, PAIR)
    for f in sorted(generate(SimConfig(duration_s=2)), key=lambda f: f.ts_recv_ns):
        step.on_item((router.market_of(f), f, PAIR))
    names = {c.name for c in step.on_eof()}
    assert "fills_observed" not in names and step.learner is None
