"""A paper run on loopback hedges for real: the Binance USD-M perp of `[[pairs.hedges]]` is
subscribed like any book, a one-legged arb is hedged on it, the spot unwound and the perp closed,
and the summary's PnL carries the hedge fees. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config import load_settings
from connectors.bounded import Bounds
from connectors.journal import read_table
from flows import paper
from replay.money import is_hedge
from replay.report import summarize, summary_lines
from sim.loopback import Loopback
from sim.simulate import SAMPLE_POOL
from tests.integration.loop_support import run_with_script
from tests.unit.test_perp_hedge import hedged_markets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
PERP = "binance-usdm:SOLUSDT:perp"


def test_paper_on_loopback_hedges_a_one_legged_arb_on_the_perp_book_and_closes_it(
    loop: Loopback, tmp_path: Path
) -> None:
    markets = hedged_markets(tmp_path)
    settings = loop.settings(None, markets)
    assert settings.engine.leg_order == "both"
    journal = tmp_path / "journal"
    lf = paper.build_flow(settings, journal, bounds=Bounds(seconds=7.0))
    mid = float(loop.cex_mid())
    moved: list[int] = []

    def script() -> None:
        # once the feeds flow, dip the pool 80 bps under the CEX books (an arb: buy DEX, sell
        # CEX), and put it back before the DEX leg's paper latency (400 ms) is up: the CEX sell
        # fills, the DEX buy fails past its limit, and the run is short SOL on the spot
        deadline = time.monotonic() + 10
        while sum(lf.handles.frames().values()) < 6 + 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        moved.append(loop.move_pool(mid * (1 - 80 / 1e4)))
        time.sleep(0.1)
        moved.append(loop.move_pool(mid))
        time.sleep(1.0)
        moved.append(loop.move_pool(mid))  # a pool view past the DEX leg's fill time

    run_with_script(lf, script, join_s=10)
    assert len(moved) == 3
    fills_t = read_table(journal, "fills")
    legs_t = read_table(journal, "legs")
    assert fills_t is not None and legs_t is not None
    fills = fills_t.to_pylist()
    got = sorted((f["intent_id"].split("/")[-1], f["venue"], f["side"], f["status"]) for f in fills)
    assert got == [
        ("buy", DEX, "buy", "rejected"),
        ("hedge", PERP, "buy", "filled"),
        ("hedge-close", PERP, "sell", "filled"),
        ("sell", CEX, "sell", "filled"),
        ("unwind", CEX, "buy", "filled"),
    ]
    by_id = {f["intent_id"].split("/")[-1]: f for f in fills}
    size = by_id["sell"]["filled_base"]
    assert by_id["hedge"]["filled_base"] == by_id["hedge-close"]["filled_base"] == size
    # the perp's taker fee from config, on the notional (rounded up)
    perp_fees = [int(f["fee_quote"]) for f in fills if is_hedge(f)]
    bps = settings.venues["binance-usdm"].taker_fee_bps
    assert all(fee > 0 for fee in perp_fees)
    assert perp_fees[0] == pytest.approx(by_id["hedge"]["quote_amount"] * bps / 10_000, abs=1)
    rows = sorted(legs_t.to_pylist(), key=lambda r: r["ts_ns"])
    path = [(r["from_state"], r["to_state"]) for r in rows]
    assert path == [
        ("planned", "sent"),
        ("sent", "failed"),
        ("failed", "hedging"),
        ("hedging", "hedged"),
        ("hedged", "unwinding"),
        ("unwinding", "unwound"),
        ("unwound", "closed"),
    ]
    s = summarize(journal, load_settings(None, markets, env={}))
    assert (s.accepted, s.arbs_one_legged) == (1, 1)
    assert s.hedge_fees_by_pair == {PAIR: sum(perp_fees)}
    assert any(line.startswith(f"hedge fees     {PAIR}: ") for line in summary_lines(s))
