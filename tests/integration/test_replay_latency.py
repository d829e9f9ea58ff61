"""Replayed outcomes depend on how fast we are: the `[paper.latency]` model on a market session."""

from __future__ import annotations

from pathlib import Path

import pytest
from bytewax.testing import run_main

from cli.main import main as solarb
from config import load_settings
from connectors.journal import read_table, run_dir
from flows.replay import build_flow
from replay.report import Summary, summarize
from sim.market import MarketConfig, MarketTruth, write_market_capture, write_multi_pair_capture
from sim.scoring import SessionScore, score_session
from sim.simulate import SAMPLE_MARKETS, SAMPLE_MARKETS_MULTI

FAST = {  # a co-located CEX order path, a DEX transaction landing within the slot
    "SOLARB__PAPER__LATENCY__BINANCE__ACK": "{median_ms = 5, p99_ms = 30}",
    "SOLARB__PAPER__LATENCY__ORCA__ACK": "{median_ms = 150, p99_ms = 600}",
}
SLOW = {  # a slow market-data path and order path, DEX landing three slots later
    "SOLARB__PAPER__LATENCY__BINANCE__FEED": "{median_ms = 50, p99_ms = 300}",
    "SOLARB__PAPER__LATENCY__BINANCE__ACK": "{median_ms = 80, p99_ms = 400}",
    "SOLARB__PAPER__LATENCY__ORCA__ACK": "{median_ms = 1200, p99_ms = 4000}",
}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MarketTruth]:
    truth = MarketTruth()
    cap = tmp_path_factory.mktemp("cap") / "market.parquet"
    write_market_capture(cap, MarketConfig(duration_s=240), truth)
    return cap, truth


def _replay(
    session: tuple[Path, MarketTruth], env: dict[str, str], journal: Path
) -> tuple[Summary, SessionScore]:
    cap, truth = session
    settings = load_settings(markets_path=SAMPLE_MARKETS, env=env)
    run_main(build_flow(settings, [cap], journal, batch_size=1000, run_id="r"))
    return summarize(journal / "r", settings), score_session(journal / "r", truth)


def test_slower_latency_gives_fewer_and_worse_fills(
    session: tuple[Path, MarketTruth], tmp_path: Path
) -> None:
    fast, fast_score = _replay(session, FAST, tmp_path / "fast")
    slow, slow_score = _replay(session, SLOW, tmp_path / "slow")
    # the same two signals either way: latency acts on the fills, not the decisions
    assert (fast.signals, slow.signals) == (2, 2)
    assert (fast.legs_filled, fast.legs_rejected) == (4, 0)
    assert (slow.legs_filled, slow.legs_rejected) == (2, 2)
    assert (fast_score.completed, slow_score.completed) == (2, 0)
    assert (fast_score.one_legged, slow_score.one_legged) == (0, 2)
    assert fast_score.pnl_quote > 0 > slow_score.pnl_quote


def test_latency_draws_are_the_same_at_any_batch_size(
    session: tuple[Path, MarketTruth], tmp_path: Path
) -> None:
    cap, _ = session
    settings = load_settings(markets_path=SAMPLE_MARKETS, env=SLOW)
    fills = []
    for batch in (1, 1000):
        run_main(build_flow(settings, [cap], tmp_path / f"b{batch}", batch_size=batch, run_id="r"))
        t = read_table(tmp_path / f"b{batch}" / "r", "fills")
        assert t is not None
        fills.append(sorted((r["intent_id"], r["status"], r["ts_fill_ns"]) for r in t.to_pylist()))
    assert fills[0] == fills[1]


def test_two_workers_draw_the_same_latencies_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = tmp_path / "multi.parquet"
    write_multi_pair_capture(cap, duration_s=240)  # both pairs trade; they land on w0 and w1

    def fills(workers: int, tag: str) -> list[tuple[str, str, int, int]]:
        journal = tmp_path / tag
        args = ["--markets", str(SAMPLE_MARKETS_MULTI), "replay", str(cap)]
        args += ["--workers", str(workers), "--journal", str(journal)]
        assert solarb([*args, "--report", str(tmp_path / f"{tag}.md")]) == 0
        t = read_table(run_dir(journal), "fills")
        assert t is not None
        return sorted(
            (r["intent_id"], r["status"], r["ts_fill_ns"], r["quote_amount"])
            for r in t.to_pylist()
        )

    fixed = fills(1, "fixed")
    for key, value in SLOW.items():
        monkeypatch.setenv(key, value)
    one = fills(1, "one")
    assert one == fills(2, "two")
    assert one != fixed  # the model was in force
