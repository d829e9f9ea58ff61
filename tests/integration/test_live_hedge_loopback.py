"""`solarb live --loopback --faults` with a `[[pairs.hedges]]` USD-M perp: a rejected CEX leg is
hedged on the perp, then the DEX fill unwound and the perp closed; every leg closes flat, no
client id twice, and the report's PnL (hedge fees in it) is the fills' cash to the unit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.journal import run_dir
from replay.money import is_hedge, moved
from tests.integration.test_live_trading_loopback import (
    ENV,
    ROOT,
    _check_closed_flat_unique_and_reconciled,
    _rows,
)
from tests.unit.test_perp_hedge import hedged_markets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_live_loopback_hedges_a_rejected_cex_leg_on_the_perp_and_closes_it(
    tmp_path: Path,
) -> None:
    argv = [
        sys.executable, "-m", "cli.main", "--markets", str(hedged_markets(tmp_path)), "live",
        "--loopback", "--duration", "14", "--faults", "--journal", str(tmp_path / "j"),
        "--report", str(tmp_path / "report.md"),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, env={**os.environ, **ENV}, capture_output=True,
                          text=True, timeout=150)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = _check_closed_flat_unique_and_reconciled(tmp_path / "j")
    rows = sorted(seen["legs"], key=lambda r: r["ts_ns"])
    moves = [(r["opportunity_id"], r["from_state"], r["to_state"]) for r in rows]
    hedged = {oid for oid, a, b in moves if (a, b) == ("hedging", "hedged")}
    assert hedged, "no one-legged arb was hedged (the faults reject a CEX order at 1 s)"
    for oid in hedged:
        path = [(a, b) for o, a, b in moves if o == oid]
        assert ("hedged", "unwinding") in path and path[-1] == ("unwound", "closed")
        perp = [f for f in seen["fills"] if f["opportunity_id"] == oid and moved(f)
                and is_hedge(f)]  # fmt: skip
        assert sorted((f["intent_id"].rsplit("/", 1)[1], f["side"]) for f in perp) == [
            ("hedge", "sell"), ("hedge-close", "buy"),
        ]  # fmt: skip
        assert all(f["venue"] == "binance-usdm" and f["fee_quote"] > 0 for f in perp)
    assert "hedge fees     SOL/USDC: " in proc.stdout
    assert "live fills" in proc.stdout and "paper fills" not in proc.stdout
    orders = _rows(run_dir(tmp_path / "j"), "orders")
    assert {o["path"] for o in orders if o["venue"] == "binance-usdm"} == {"/fapi/v1/order"}
