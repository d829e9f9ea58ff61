"""A replayed session whose USDT perp hedge is worth 0.9998 USDC (`[fx] USDT`): the perp's
fills keep their USDT amounts, say their ratio and where it came from, and the run's PnL is
theirs valued in USDC at that ratio (by hand below), never USDT added to USDC at par."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from config import Settings, load_settings
from connectors.capture import CaptureWriter
from flows.replay import build_flow
from replay.money import is_hedge, moved
from replay.report import summarize
from sim.market import MarketConfig, simulate_market
from tests.integration.test_replay_hedge_perp import PERP, _table
from tests.unit.test_perp_hedge import hedged_markets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _run(frames: list[Any], settings: Settings, out: Path) -> Path:
    out.mkdir()
    cap = out / "cap.parquet"
    with CaptureWriter(cap) as w:
        w.write_all(frames)
    run_main(build_flow(settings, [cap], out / "j"))  # type: ignore[no-untyped-call]
    return out / "j"


def _at_par_minus_at_fx(f: dict[str, Any]) -> int:
    """What a perp fill's cash loses from par to 0.9998 (a buy's cost and the fee rounded up,
    proceeds rounded down), micro-USDC, by hand."""
    q, fee = f["quote_amount"], f["fee_quote"]
    fee_fx = -(-fee * 4999 // 5000)
    if f["side"] == "sell":
        return (q - fee) - (q * 4999 // 5000 - fee_fx)
    return (-q - fee) - ((-q * 4999) // 5000 - fee_fx)  # -ceil(q x 0.9998) = floor(-q x ..)


def test_perp_hedge_fills_are_valued_in_usdc_at_the_fx_constant(tmp_path: Path) -> None:
    frames = simulate_market(replace(MarketConfig(), duration_s=240, hedge_perp=(0, 0.3)))
    markets = hedged_markets(tmp_path)
    over = tmp_path / "fx.toml"
    over.write_text('[fx]\nUSDT = "0.9998"\n')
    par = load_settings(markets_path=markets, env={})
    fx = load_settings(markets_path=markets, env={}, overrides=[over])
    j_par = _run(frames, par, tmp_path / "par")
    j_fx = _run(frames, fx, tmp_path / "fx")
    # the hedge's currency is no leg's: the decisions are the same
    for name in ("opportunities", "decisions", "intents"):
        assert _table(j_fx, name) == _table(j_par, name), name
    fills_par, fills_fx = _table(j_par, "fills"), _table(j_fx, "fills")
    perp = [f for f in fills_fx if is_hedge(f) and moved(f)]
    assert perp and all(f["venue"] == PERP for f in perp)
    for f in perp:
        assert (f["quote_currency"], f["fx"]) == ("USDT", "4999,5000")
        assert '"fx_source": "[fx] constant"' in f["extra"]
    spot = [f for f in fills_fx if not is_hedge(f)]
    assert {(f["quote_currency"], f["fx"]) for f in spot} == {("", "1,1")}
    at_par = [f for f in fills_par if is_hedge(f) and moved(f)]
    assert {(f["quote_currency"], f["fx"]) for f in at_par} == {("USDT", "1,1")}
    # the same fills (the hedge limits in USDT are wide enough either way)
    same = ("intent_id", "side", "filled_base", "quote_amount", "fee_quote")
    assert [tuple(f[k] for k in same) for f in perp] == [tuple(f[k] for k in same) for f in at_par]
    pnl_par = summarize(j_par, par).pnl_by_pair["SOL/USDC"]
    pnl_fx = summarize(j_fx, fx).pnl_by_pair["SOL/USDC"]
    loss = sum(_at_par_minus_at_fx(f) for f in perp)
    assert loss != 0
    assert pnl_fx == pnl_par - loss
