"""Per-arb outcomes and go/no-go figures from journal rows: exact, and honest about gaps."""

from __future__ import annotations

from typing import Any

import numpy as np

from replay.figures import DAY_NS, arbs_of, go_no_go, max_signals_per_minute, realised_slippages

MIDNIGHT_NS = 1_796_428_800_000_000_000  # 2026-12-05T00:00:00Z


def _opp(oid: str, ts: int, buy_quote: int = 1_000_000_000, gas_bps: float = 1.0) -> dict[str, Any]:
    return {
        "opportunity_id": oid,
        "pair": "SOL/USDC",
        "direction": "buy_cex_sell_dex",
        "size_base": 10_000_000_000,
        "buy_quote": buy_quote,
        "sell_quote": 1_010_000_000,
        "cost_gas_bps": gas_bps,
        "net_bps": 50.0,
        "update_seq": 0,
        "ts_detect_ns": ts,
    }


def _fill(oid: str, side: str, status: str, quote: int, fee: int, ts: int) -> dict[str, Any]:
    return {
        "opportunity_id": oid,
        "venue": "binance:SOLUSDC" if side == "buy" else "orca:P",
        "side": side,
        "status": status,
        "filled_base": 10_000_000_000 if status == "filled" else 0,
        "quote_amount": quote if status == "filled" else 0,
        "fee_quote": fee,
        "reason": "",
        "ts_fill_ns": ts,
    }


def _accepted(*oids: str) -> list[dict[str, Any]]:
    return [{"opportunity_id": o, "accepted": True} for o in oids]


def test_one_legged_outcome_is_counted_and_has_no_pnl() -> None:
    opps = [_opp("a", 1), _opp("b", 2)]
    fills = [
        _fill("a", "buy", "filled", 1_000_000_000, 1_000_000, 10),
        _fill("a", "sell", "filled", 1_010_000_000, 0, 11),
        _fill("b", "buy", "filled", 1_000_000_000, 1_000_000, 12),
        _fill("b", "sell", "rejected", 0, 0, 13),
    ]
    a, b = arbs_of(opps, _accepted("a", "b"), fills)
    # 1_010_000_000 - 1_000_000_000 - 1_000_000 fee - 100_000 gas (1 bps of 1_000 USDC)
    assert (a.outcome, a.gas_quote, a.net_quote) == ("completed", 100_000, 8_900_000)
    assert a.net_bps == 89.0
    assert (b.outcome, b.net_quote, b.net_bps) == ("one-legged (buy filled)", None, None)


def test_hit_rate_counts_profitable_completed_arbs_over_accepted_signals() -> None:
    opps = [_opp("a", 1), _opp("b", 2), _opp("c", 3)]
    fills = [
        _fill("a", "buy", "filled", 1_000_000_000, 0, 10),
        _fill("a", "sell", "filled", 1_010_000_000, 0, 11),
        _fill("b", "buy", "filled", 1_000_000_000, 0, 12),
        _fill("b", "sell", "filled", 990_000_000, 0, 13),  # a completed loss
    ]
    arbs = arbs_of(opps, _accepted("a", "b", "c"), fills)
    hit = go_no_go(arbs, [1, 2, 3], (0, 60_000_000_000), kills=0)[0]
    assert (hit.value, hit.passed) == (1 / 3, False)
    assert hit.text == "33.3% (1 profitable completed / 3 accepted signals)"


def test_storm_is_the_most_signals_in_any_sixty_seconds() -> None:
    s = 1_000_000_000
    assert max_signals_per_minute([0, 10 * s, 59 * s, 60 * s, 61 * s, 200 * s]) == 4
    assert max_signals_per_minute([]) == 0


def test_pnl_per_day_is_per_whole_utc_day_and_never_extrapolated() -> None:
    opps = [_opp("a", MIDNIGHT_NS + 1), _opp("b", MIDNIGHT_NS + DAY_NS + 1)]
    fills = [
        _fill("a", "buy", "filled", 1_000_000_000, 0, MIDNIGHT_NS + 5),
        _fill("a", "sell", "filled", 1_002_000_000, 0, MIDNIGHT_NS + 6),  # 20 bps - 1 gas
        _fill("b", "buy", "filled", 1_000_000_000, 0, MIDNIGHT_NS + DAY_NS + 5),
        _fill("b", "sell", "filled", 1_001_000_000, 0, MIDNIGHT_NS + DAY_NS + 6),  # 10 - 1
    ]
    arbs = arbs_of(opps, _accepted("a", "b"), fills)
    two_days = (MIDNIGHT_NS - 1, MIDNIGHT_NS + 2 * DAY_NS)
    per_day = go_no_go(arbs, [], two_days, kills=0)[2]
    assert (per_day.value, per_day.passed) == (9.0, False)
    assert per_day.text == "worst whole day 9.00 bps (2 days)"
    short = go_no_go(arbs, [], (MIDNIGHT_NS, MIDNIGHT_NS + 180_000_000_000), kills=0)[2]
    assert (short.value, short.passed) == (None, None)
    assert short.text == (
        "n/a (the session covers 3.0 min of market time, no whole UTC day; session net: 14.00 bps)"
    )


def test_kill_switch_trips_fail_the_incident_criterion() -> None:
    crit = go_no_go([], [], None, kills=2)
    assert [(c.name, c.passed) for c in crit] == [
        ("hit rate", None),
        ("p95 slippage", None),
        ("net PnL per day", None),
        ("signal storm", True),
        ("critical incidents", False),
    ]


def test_a_live_runs_p95_slippage_is_judged_on_its_fills_own_realised_slippage() -> None:
    fills = [
        {"status": "filled", "predicted_quote": 100, "slippage_bps": float(b)} for b in range(20)
    ] + [
        {"status": "partial", "predicted_quote": 50, "slippage_bps": 40.0},  # counts
        {"status": "cancelled", "predicted_quote": 0, "slippage_bps": None},  # filled nothing
        {"status": "filled", "predicted_quote": 0, "slippage_bps": 0.0},  # a hedge: no prediction
    ]
    realised = realised_slippages(fills)
    assert realised == [float(b) for b in range(20)] + [40.0]
    [slip] = [c for c in go_no_go([], [], None, 0, realised) if c.name == "p95 slippage"]
    assert slip.value == float(np.percentile(realised, 95)) and slip.passed is False  # > 10 bps
    assert "21 live fills" in slip.text
    [calm] = [c for c in go_no_go([], [], None, 0, [1.0, 2.0]) if c.name == "p95 slippage"]
    assert calm.passed is True
    # paper / replay: n/a; a live run without fills says so
    [paper] = [c for c in go_no_go([], [], None, 0) if c.name == "p95 slippage"]
    [empty] = [c for c in go_no_go([], [], None, 0, []) if c.name == "p95 slippage"]
    assert paper.passed is None and empty.passed is None and "without fills" in empty.text
