"""`solarb live --loopback [--faults]`: the whole live trading loop on 127.0.0.1.

Loopback CEX venues take signed orders; two Solana stand-ins execute the swaps; the loopback
scenario moves the pool 80 bps under the CEX books every 4 s (a simulator knob, so the market
produces opportunities), and `--faults` injects rejects, timeouts after accept, dropped and
failed transactions and user-stream drops. Each run is a subprocess of the real CLI, bounded in
time; the checks read its journal: every accepted opportunity's legs end `closed`, base is flat
within one lot, no client order id reached a venue twice and no signature was used twice, and
the report's PnL is the fills table's cash to the unit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from connectors.journal import read_table, run_dir
from engine.exec_step import pair_lot_base
from replay.money import fill_cash, gas_quote, net_base
from replay.report import summarize
from sim.simulate import SAMPLE_MARKETS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = "12"
# the risk guard does not learn fills yet (operators/fill_risk.py is being built): without a
# roomier exposure cap it stops accepting after two arbs, and the test wants more of them
ENV = {"SOLARB__RISK__MAX_EXPOSURE_USD": '"1000000"'}


def _live(
    tmp_path: Path, *extra: str, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "cli.main", "--markets", str(SAMPLE_MARKETS), "live", "--loopback",
        "--duration", DURATION_S, "--journal", str(tmp_path / "j"),
        "--report", str(tmp_path / "report.md"), *extra,
    ]  # fmt: skip
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **ENV}, capture_output=True, text=True,
        timeout=timeout_s,
    )  # fmt: skip


def _rows(journal: Path, table: str) -> list[dict[str, Any]]:
    t = read_table(journal, table)
    return [] if t is None else t.to_pylist()


def _extra(fill: dict[str, Any]) -> dict[str, str]:
    extra = fill["extra"]
    return dict(json.loads(extra) if isinstance(extra, str) else extra or {})


def _check_closed_flat_unique_and_reconciled(journal: Path) -> dict[str, Any]:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    root = run_dir(journal)
    accepted = {d["opportunity_id"] for d in _rows(root, "decisions") if d["accepted"]}
    legs = _rows(root, "legs")
    fills = _rows(root, "fills")
    orders = _rows(root, "orders")
    txs = _rows(root, "transactions")
    assert accepted, "the loopback market produced no accepted opportunity"
    # every accepted opportunity's legs end closed
    last: dict[str, str] = {}
    for row in sorted(legs, key=lambda r: r["ts_ns"]):
        last[row["opportunity_id"]] = row["to_state"]
    assert {oid: last.get(oid) for oid in accepted} == {oid: "closed" for oid in accepted}
    # net base per pair flat within one lot (over every fill: legs, hedges, unwinds)
    lot = pair_lot_base(settings, "SOL/USDC")
    ok = [f for f in fills if f["status"] == "filled"]
    assert abs(net_base(ok)) < lot
    # no client order id accepted by a venue twice; no signature used by two legs (the
    # transactions table keeps one row per signature, so the legs' fills are what can tell)
    placed = Counter(o["client_order_id"] for o in orders if not o["outcome"].startswith("error"))
    assert [cid for cid, n in placed.items() if n > 1] == []
    dex_fills = [f for f in fills if _extra(f).get("signature")]
    sigs = Counter(_extra(f)["signature"] for f in dex_fills)
    assert [s for s, n in sigs.items() if n > 1] == []
    assert Counter(t["intent_id"] for t in txs) == Counter(f["intent_id"] for f in dex_fills)
    # the report's PnL is the fills' cash to the unit (less the gas the opportunities priced)
    opps = {o["opportunity_id"]: o for o in _rows(root, "opportunities") if o["update_seq"] == 0}
    traded = {f["opportunity_id"] for f in ok}
    expected = sum(fill_cash(f) for f in ok) - sum(gas_quote(opps[oid]) for oid in traded)
    summary = summarize(journal, settings)
    assert summary.pnl_quote == expected
    return {"accepted": accepted, "fills": fills, "orders": orders, "txs": txs, "legs": legs}


def test_live_loopback_with_faults_closes_every_leg_flat_with_no_duplicate_and_pnl_reconciles(
    tmp_path: Path,
) -> None:
    proc = _live(tmp_path, "--faults")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "solarb live: TRADING on binance:SOLUSDC" in proc.stdout
    seen = _check_closed_flat_unique_and_reconciled(tmp_path / "j")
    # the faults really hit the orders: something other than a clean first-try fill happened
    troubles = (
        [f for f in seen["fills"] if f["status"] != "filled"]
        + [o for o in seen["orders"] if o["outcome"].startswith("error")]
        + [t for t in seen["txs"] if t["sends"] > 1 or t["status"] != "landed"]
    )
    assert troubles
    assert "== solarb live summary" in proc.stdout
    # the private order stream was dropped by the fault and came back (journaled health)
    stream = [(h["status"]) for h in _rows(run_dir(tmp_path / "j"), "health")
              if h["source"] == "binance:orders"]  # fmt: skip
    assert stream[0] == "up" and "down" in stream and stream[-1] == "up"


def test_live_loopback_without_faults_fills_both_legs_of_every_arb(tmp_path: Path) -> None:
    proc = _live(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = _check_closed_flat_unique_and_reconciled(tmp_path / "j")
    reasons = Counter(r["reason"] for r in seen["legs"] if r["to_state"] == "filled")
    assert reasons == {"both legs filled": len(seen["accepted"])}
    by_venue = Counter((f["venue"], f["side"], f["status"]) for f in seen["fills"])
    n = len(seen["accepted"])
    assert by_venue == {("binance", "sell", "filled"): n, ("orca", "buy", "filled"): n}
    assert all(t["status"] == "landed" and t["cu_limit"] == 200_000 for t in seen["txs"])


def test_sigkill_mid_run_then_restart_sends_no_duplicate_order(tmp_path: Path) -> None:
    """Killed hard mid-session, a rerun with the same recovery folder resumes its journal run
    and never re-sends an order the first process sent (client ids are deterministic)."""
    rec = tmp_path / "recovery"
    argv = [
        sys.executable, "-m", "cli.main", "--markets", str(SAMPLE_MARKETS), "live", "--loopback",
        "--duration", "30", "--journal", str(tmp_path / "j"), "--report",
        str(tmp_path / "r.md"), "--recovery-dir", str(rec), "--snapshot-interval", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=ROOT, env={**os.environ, **ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        journal = tmp_path / "j"
        # wait until at least one order reached a venue, then kill without warning
        while time.monotonic() < deadline:
            runs = sorted(journal.glob("2*")) if journal.exists() else []
            if runs and read_table(runs[-1], "orders") is not None:
                break
            time.sleep(0.25)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = {o["client_order_id"] for o in _rows(run_dir(tmp_path / "j"), "orders")}
    assert first
    again = _live(tmp_path, "--recovery-dir", str(rec), "--snapshot-interval", "1")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    orders = _rows(run_dir(tmp_path / "j"), "orders")
    placed = Counter(o["client_order_id"] for o in orders if not o["outcome"].startswith("error"))
    assert [cid for cid, n in placed.items() if n > 1] == []
