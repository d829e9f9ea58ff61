"""`python -m bytewax.run flows.replay` runs the same graph as `solarb replay`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config import load_settings
from connectors.journal import read_table
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

ROOT = Path(__file__).resolve().parents[2]


def test_bytewax_run_of_flows_replay_writes_the_journal(tmp_path: Path) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, SimConfig(duration_s=30, jumps=((20, 70),)))
    env = dict(
        os.environ,
        SOLARB_CAPTURE=str(cap),
        SOLARB_MARKETS=str(SAMPLE_MARKETS),
        SOLARB_JOURNAL=str(tmp_path / "journal"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.replay"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    counters = read_table(tmp_path / "journal", "counters")
    assert counters is not None
    frames = {
        r["key"]: r["value"]
        for r in counters.to_pylist()
        if r["step"] == "market_state" and r["name"] == "frames"
    }
    markets = [
        m.market_id for m in load_settings(markets_path=SAMPLE_MARKETS, env={}).pairs[0].markets
    ]
    assert sorted(frames) == sorted(markets)
    assert frames["binance:SOLUSDC"] == 301  # 300 depth diffs + the REST snapshot
    opps = read_table(tmp_path / "journal", "opportunities")
    assert opps is not None
    assert [o["direction"] for o in opps.to_pylist() if o["update_seq"] == 0] == [
        "buy_dex_sell_cex"
    ]
