"""The dashboard's data layer over a replayed journal: exact figures, read incrementally."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli.dash import view
from cli.dash.state import DashFold, DashState, KillState
from cli.dash.tail import JournalTail
from connectors.journal import read_rows
from operators.risk import KILL_SOURCE
from replay.figures import realised_slippages
from replay.report import pair_units, summarize
from tests.integration.dash_support import RUN_ID, replay_journal, sample_settings

ORCA = "orca:DpLagCu2hfN5WhJaK9ZEVgW8pyiJFGArEMExH9hGogRc"
BINANCE = "binance:SOLUSDC"


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a part file per row, as a slow live run writes them
    return replay_journal(tmp_path_factory.mktemp("dash"), flush_rows=1, batch_size=1)


def _state(journal: Path) -> DashState:
    fold = DashFold()
    for table, rows in JournalTail(journal).poll().rows.items():
        fold.add(table, rows)
    return fold.state()


def test_dash_figures_of_the_replay_are_exact(journal: Path) -> None:
    s = _state(journal)
    assert s.clock_ns == 1767225647101428639  # the newest event: the last signal update
    assert s.rows == 47  # 41 records and 6 leg state changes
    (p,) = s.pairs
    assert (p.pair, p.signals, p.accepted, p.hits, p.completed, p.one_legged) == (
        "SOL/USDC", 2, 2, 2, 2, 0,
    )
    assert (p.pnl_quote, p.notional_quote, p.volume_base) == (
        49_517_604, 9_004_258_445, 60_000_000_000,
    )
    spreads = [(x.direction, x.buy_venue, x.sell_venue, x.update_seq, x.age_ns) for x in p.spreads]
    assert spreads == [
        ("buy_cex_sell_dex", BINANCE, ORCA, 2, 0),
        ("buy_dex_sell_cex", ORCA, BINANCE, 2, 24_499_841_606),
    ]
    feeds = [(f.source, f.status, f.in_sync, f.events, f.age_ns, f.frames) for f in s.feeds]
    assert feeds == [
        # a replayed CEX book sends no health event; its counters come at the end of the run
        (BINANCE, "", None, 0, None, 601),
        (ORCA, "up", True, 1, 47_101_428_638, 86),
    ]
    assert s.kill == KillState(False, 0, "", 0, 0, 0)
    assert s.latency is not None and s.latency.n == 6  # wall-clock stamps: only the count
    # paper fills carry their slippage vs the decision-time price, as live ones do
    slips = realised_slippages(read_rows(journal, "fills"))
    assert slips and s.slippage_p95_bps == pytest.approx(float(np.percentile(slips, 95)))
    assert s.awaiting_fill == 0
    assert (s.open_legs, s.stuck_legs) == ({}, 0)  # both arbs closed
    assert [(x.direction, x.decision, x.legs_filled, x.pnl_quote) for x in s.recent] == [
        ("buy_cex_sell_dex", "accepted", 2, 26_367_985),  # gas at the live SOL price
        ("buy_dex_sell_cex", "accepted", 2, 23_149_619),
    ]


def test_dash_pnl_equals_the_replay_summary(journal: Path) -> None:
    summary = summarize(journal, sample_settings())
    (p,) = _state(journal).pairs
    assert p.pnl_quote == summary.pnl_by_pair["SOL/USDC"]
    assert p.notional_quote == summary.notional_by_pair["SOL/USDC"]
    assert p.completed == summary.arbs_completed


def test_dash_text_shows_human_units(journal: Path) -> None:
    s = _state(journal)
    u = pair_units(sample_settings())["SOL/USDC"]
    assert view.pair_line(s.pairs[0], u) == (
        "SOL/USDC  signals 2 (accepted 2)  hit rate 2/2 = 100.0 %  "
        "arbs 2 completed, 0 one-legged\n"
        "  PnL +49.52 USDC on 9,004.26 USDC = +54.99 bps  volume 60.000 SOL"
    )
    assert view.spread_row(s.pairs[0].spreads[1], u) == (
        "buy_dex_sell_cex", "orca:DpLa…ogRc", BINANCE, "68.59", "24.21", "+44.38",
        "30.000 SOL", "24.5 s",
    )
    assert view.signal_row(s.recent[0], u)[-3:] == ("+47.56", "accepted", "2/2 filled, +26.37 USDC")
    assert view.figures_lines(s)[1:] == [
        f"p95 slippage         {s.slippage_p95_bps:.2f} bps (fills vs decision-time price)",
        "open legs            0",
    ]
    assert view.kill_line(s) == "kill switch: armed | 0 trips, 0 re-arms, 0 signals rejected by it"


def _copy_parts_one_by_one(src: Path, dst: Path) -> list[Path]:
    parts = sorted(src.rglob("*.parquet"), key=lambda p: (p.stat().st_mtime_ns, str(p)))
    return [dst / p.relative_to(src) for p in parts]


def test_incremental_polls_read_each_part_once_and_end_with_the_same_figures(
    journal: Path, tmp_path: Path
) -> None:
    src = journal / RUN_ID
    dst = tmp_path / "journal" / RUN_ID
    dst.mkdir(parents=True)
    (tmp_path / "journal" / "latest").write_text(RUN_ID + "\n")
    tail, fold = JournalTail(tmp_path / "journal"), DashFold()
    parts = _copy_parts_one_by_one(src, dst)
    assert len(parts) == 25
    rows_per_poll = []
    for target in parts:
        target.parent.mkdir(exist_ok=True)
        shutil.copy(src / target.relative_to(dst), target)
        new = tail.poll()
        assert new.parts == 1  # only the part that just appeared is read
        rows_per_poll.append(sum(len(r) for r in new.rows.values()))
        for table, rows in new.rows.items():
            fold.add(table, rows)
    assert tail.poll().empty
    assert sum(rows_per_poll) == 47
    assert fold.state() == _state(journal)


def test_tail_starts_over_when_latest_names_a_new_run(journal: Path, tmp_path: Path) -> None:
    root = tmp_path / "journal"
    shutil.copytree(journal, root)
    tail = JournalTail(root)
    assert tail.poll().restarted
    shutil.copytree(root / RUN_ID, root / "second-run")
    (root / "latest").write_text("second-run\n")
    new = tail.poll()
    assert (new.restarted, new.run.name, sum(len(r) for r in new.rows.values())) == (
        True, "second-run", 47,
    )


def test_a_rewritten_row_id_is_read_once(journal: Path, tmp_path: Path) -> None:
    root = tmp_path / "journal"
    shutil.copytree(journal, root)
    fills = root / RUN_ID / "fills"
    first = sorted(fills.iterdir())[0]
    # a resumed run journals the replayed batch again under a new part number
    shutil.copy(first, fills / "w0-00099.parquet")
    assert _state(root) == _state(journal)


def _health(source: str, status: str, ts: int, detail: str = "") -> dict[str, Any]:
    return {
        "source": source, "status": status, "detail": detail, "ts_event_ns": ts,
        "ts_recv_ns": ts, "value": 0.0,
    }


def _kill_decision(ts: int, reason: str) -> dict[str, Any]:
    return {
        "opportunity_id": f"o{ts}", "pair": "SOL/USDC", "accepted": False,
        "rail": "kill_switch", "reason": reason, "ts_recv_ns": ts,
    }


def test_kill_switch_follows_the_latest_trip_rearm_or_rejection() -> None:
    fold = DashFold()
    fold.add("health", [_health(KILL_SOURCE, "kill", 10, "feed binance down 1600 ms")])
    assert fold.state().kill == KillState(True, 10, "feed binance down 1600 ms", 1, 0, 0)
    fold.add("health", [_health(KILL_SOURCE, "up", 30, "every feed up 5000 ms")])
    assert fold.state().kill == KillState(False, 30, "every feed up 5000 ms", 1, 1, 0)
    # the config kill switch trips before any event: only its rejections say so
    fold.add("decisions", [_kill_decision(40, "config kill_switch")])
    assert fold.state().kill == KillState(True, 40, "config kill_switch", 1, 1, 1)
    assert fold.state().feeds == ()  # the guard's own events are not a feed


def test_feed_keeps_its_latest_status_whatever_the_row_order() -> None:
    fold = DashFold()
    fold.add("health", [_health("binance", "up", 50), _health("binance", "down", 20)])
    (f,) = fold.state(now_ns=80).feeds
    assert (f.status, f.in_sync, f.age_ns, f.events, f.not_up_events) == ("up", True, 30, 2, 1)
    assert view.feed_row(f) == (
        "binance", "up", "yes", "00:00:00.000", "0 ms", "2", "1", "-", "-", "",
    )


def test_latency_percentiles_interpolate_like_the_replay_summary() -> None:
    fold = DashFold()
    rows = [
        {
            "opportunity_id": f"o{i}", "pair": "SOL/USDC", "direction": "d", "buy_venue": "a",
            "sell_venue": "b", "update_seq": 0, "ts_detect_ns": i, "ts_ingest_ns": 1_000,
            "ts_detect_wall_ns": 1_000 + lat, "spread_bps": 30.0, "threshold_bps": 20.0,
            "net_bps": 10.0, "size_base": 1,
        }
        for i, lat in enumerate([100_000, 200_000, 300_000, 400_000])
    ]
    fold.add("opportunities", rows)
    lat = fold.state().latency
    assert lat is not None
    figures = (lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us, lat.n)
    assert figures == (250.0, 370.0, 397.0, 400.0, 4)


def test_p95_slippage_comes_from_filled_legs_that_carry_it() -> None:
    fold = DashFold()
    fills = [
        {
            "intent_id": f"i{n}", "opportunity_id": "o", "status": status, "side": "buy",
            "ts_fill_ns": n, "predicted_quote": 100 if n < 9 else 0, "slippage_bps": float(n),
            "filled_base": 0, "quote_amount": 0, "fee_quote": 0,
        }
        for n, status in [(1, "filled"), (2, "filled"), (3, "partial"), (9, "rejected")]
    ]
    fold.add("fills", fills)
    assert fold.state().slippage_p95_bps == pytest.approx(2.9)
    assert fold.state().awaiting_fill == 0


def test_a_one_legged_position_is_marked_at_the_worse_quote_like_the_report() -> None:
    fold = DashFold()
    opp = {
        "opportunity_id": "o", "pair": "SOL/USDC", "direction": "buy_cex_sell_dex",
        "buy_venue": "a", "sell_venue": "b", "update_seq": 0, "ts_detect_ns": 1,
        "spread_bps": 30.0, "threshold_bps": 20.0, "net_bps": 10.0, "size_base": 10,
        "buy_quote": 100, "sell_quote": 110, "cost_gas_bps": 0.0,
    }
    buy = {
        "intent_id": "o/buy", "opportunity_id": "o", "status": "filled", "side": "buy",
        "filled_base": 10, "quote_amount": 100, "fee_quote": 1, "ts_fill_ns": 2, "extra": "{}",
    }
    fold.add("opportunities", [opp])
    fold.add("fills", [buy])
    (p,) = fold.state().pairs
    # -100 paid - 1 fee + 10 base marked at min(100, 110)
    assert (p.pnl_quote, p.notional_quote, p.completed, p.one_legged, p.hits) == (-1, 100, 0, 1, 0)
    # the unwind sells the 10 back at 98: the position is flat, the loss realised
    unwind = buy | {"intent_id": "o/unwind", "side": "sell", "quote_amount": 98, "ts_fill_ns": 3}
    fold.add("fills", [unwind])
    (p,) = fold.state().pairs
    assert (p.pnl_quote, p.notional_quote, p.one_legged) == (-4, 100, 1)


def _leg(oid: str, to_state: str, ts: int, reason: str = "") -> dict[str, Any]:
    return {
        "opportunity_id": oid, "from_state": "x", "to_state": to_state, "reason": reason,
        "net_base": 0, "ts_ns": ts,
    }


def test_open_legs_count_opportunities_not_closed_per_state() -> None:
    fold = DashFold()
    assert fold.state().open_legs is None  # a journal without a legs table
    fold.add("legs", [_leg("a", "sent", 1), _leg("a", "closed", 2), _leg("b", "sent", 3)])
    fold.add("legs", [_leg("c", "unwinding", 4, "UNWIND TIMED OUT after 3 tries")])
    s = fold.state()
    assert (s.open_legs, s.stuck_legs) == ({"sent": 1, "unwinding": 1}, 1)
    assert view.open_legs_text(s) == "2 (sent 1, unwinding 1); 1 UNWIND TIMED OUT, close by hand"


def test_amounts_round_half_up_with_integer_maths() -> None:
    assert view.amount(49_518_035, 6, 2) == "49.52"
    assert view.amount(-5_000, 6, 2) == "-0.01"
    assert view.amount(1_234_567_890_123, 9, 3) == "1,234.568"
    assert view.amount(7, 0, 2) == "7.00"
    assert view.quote(0, None) == "0"
