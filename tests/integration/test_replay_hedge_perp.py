"""A simulated session with a Binance USD-M perp book (`MarketConfig.hedge_perp`) replayed with
a `[[pairs.hedges]]` perp: the perp adds frames and nothing else (the spread engine decides
exactly as without it), and the one-legged arbs are hedged on the perp book, then closed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.capture import CaptureWriter
from connectors.journal import read_table
from flows.replay import build_flow
from replay.money import is_hedge, moved
from replay.report import summarize
from sim.market import MarketConfig, simulate_market
from sim.simulate import SAMPLE_MARKETS
from tests.unit.test_perp_hedge import hedged_markets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PERP = "binance-usdm:SOLUSDT:perp"
WALL = ("ts_ingest_ns", "ts_detect_wall_ns", "latency_tick_to_opp_ns")


def _replay(frames: list[Any], markets: Path, out: Path) -> Path:
    cap = out / "cap.parquet"
    with CaptureWriter(cap) as w:
        w.write_all(frames)
    run_main(build_flow(load_settings(markets_path=markets, env={}), [cap], out / "j"))  # type: ignore[no-untyped-call]
    return out / "j"


def _table(journal: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(journal, name)
    assert t is not None
    return [{k: v for k, v in r.items() if k not in WALL} for r in t.to_pylist()]


def test_a_session_with_a_perp_book_hedges_its_one_legged_arbs_and_decides_as_without(
    tmp_path: Path,
) -> None:
    cfg = replace(MarketConfig(), duration_s=240)
    plain = simulate_market(cfg)
    with_perp = simulate_market(replace(cfg, hedge_perp=(0, 0.3)))
    # the perp's own random streams: every other frame is as in the session without it
    assert [f for f in with_perp if f.source != "binance-usdm"] == plain
    perp_frames = [f for f in with_perp if f.source == "binance-usdm"]
    assert [f.kind for f in perp_frames[:2]] == ["ws", "rest"] and len(perp_frames) == 2401

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = _replay(plain, SAMPLE_MARKETS, tmp_path / "a")
    hedged = _replay(with_perp, hedged_markets(tmp_path), tmp_path / "b")
    for name in ("opportunities", "decisions", "intents"):
        assert _table(hedged, name) == _table(base, name), name

    fills = _table(hedged, "fills")
    perp = [f for f in fills if is_hedge(f)]
    assert perp and all(f["venue"] == PERP and moved(f) and f["fee_quote"] > 0 for f in perp)
    hedges = sorted({f["opportunity_id"] for f in perp})
    legs = _table(hedged, "legs")
    for oid in hedges:
        path = [(r["from_state"], r["to_state"]) for r in legs if r["opportunity_id"] == oid]
        assert ("hedging", "hedged") in path and path[-1] == ("unwound", "closed")
        mine = [f for f in fills if f["opportunity_id"] == oid and moved(f)]
        # spot flat and perp flat: every base unit bought was sold again
        for group in ([f for f in mine if is_hedge(f)], [f for f in mine if not is_hedge(f)]):
            assert sum(f["filled_base"] * (1 if f["side"] == "buy" else -1) for f in group) == 0
    s = summarize(hedged, load_settings(markets_path=hedged_markets(tmp_path), env={}))
    assert s.hedge_fees_by_pair == {"SOL/USDC": sum(f["fee_quote"] for f in perp)}
