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

import numpy as np
import pytest

from config import load_settings
from connectors.journal import read_table, run_dir
from connectors.keypair import seal_keypair, write_keypair_file
from engine.exec_step import pair_lot_base
from replay.figures import realised_slippages
from replay.html_report import go_no_go_of
from replay.money import fill_cash, gas_quote, moved, net_base
from replay.report import summarize
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = "12"
# the guard's exposure per venue grows with every arb (each moves inventory between venues,
# booked from the fills): without a roomier cap it stops accepting after two arbs, and the test
# wants more of them
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
    ok = [f for f in fills if moved(f)]
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
    # a live run's go/no-go judges the fills' realised slippage (a paper run's says n/a)
    [slip] = [c for c in go_no_go_of(root) if c.name == "p95 slippage"]
    realised = realised_slippages(fills)
    assert realised and slip.value == float(np.percentile(realised, 95)) and slip.passed is not None
    _check_learned_and_booked_from_the_reports(root, fills)
    return {"accepted": accepted, "fills": fills, "orders": orders, "txs": txs, "legs": legs}


def _is_leg(fill: dict[str, Any]) -> bool:
    return str(fill["intent_id"]).endswith(("/buy", "/sell"))


def _landed_or_not(extra: dict[str, str]) -> bool:
    outcome = extra.get("outcome")
    return outcome in ("landed", "expired") or (
        outcome == "failed" and int(extra.get("slot", "0")) > 0
    )


def _check_learned_and_booked_from_the_reports(root: Path, fills: list[dict[str, Any]]) -> None:
    """The venues' reports reached the pair engine's estimators and the risk guard: every leg
    fill was observed, every DEX transaction's outcome too, and the guard's exposure per venue
    is what the fills moved (USDC: one quote unit is one micro-USD)."""
    counters = {(c["step"], c["key"], c["name"]): c["value"] for c in _rows(root, "counters")}
    reports = [f for f in fills if not str(f["reason"]).startswith("refused:")]
    leg_fills = [f for f in reports if _is_leg(f) and int(f["filled_base"]) > 0]
    # the legs' transactions that reached a block or expired (an unwind's has no prediction;
    # a transaction refused before any block says nothing about its fee)
    landings = [f for f in reports if _is_leg(f) and _landed_or_not(_extra(f))]
    pair = ("pair_engine", "SOL/USDC")
    assert counters[(*pair, "reports_seen")] == len(reports)
    assert counters[(*pair, "fills_observed")] == len(leg_fills) > 0
    assert counters[(*pair, "landings_observed")] == len(landings) > 0
    assert counters[("risk_guard", "risk", "reports")] == len(reports)
    filled: dict[str, int] = {}
    for f in reports:
        if int(f["filled_base"]) > 0:
            signed = int(f["quote_amount"]) * (1 if f["side"] == "buy" else -1)
            filled[f["venue"]] = filled.get(f["venue"], 0) + signed
    booked = {k: v for (step, k, name), v in counters.items()
              if step == "risk_guard" and name == "filled_usd_micro" and v}  # fmt: skip
    assert booked == {k: v for k, v in filled.items() if v}
    if counters[("risk_guard", "risk", "open_legs")] == 0:
        exposure = {k: v for (step, k, name), v in counters.items()
                    if step == "risk_guard" and name == "exposure_usd_micro" and v}  # fmt: skip
        assert exposure == booked
    assert counters[("risk_guard", "SOL/USDC", "net_base")] == net_base(
        [f for f in reports if moved(f)]
    )


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
    # every leg's reservation was settled by its reports: none left open
    counters = {(c["step"], c["key"], c["name"]): c["value"]
                for c in _rows(run_dir(tmp_path / "j"), "counters")}  # fmt: skip
    assert counters[("risk_guard", "risk", "open_legs")] == 0
    reasons = Counter(r["reason"] for r in seen["legs"] if r["to_state"] == "filled")
    assert reasons == {"both legs filled": len(seen["accepted"])}
    by_venue = Counter((f["venue"], f["side"], f["status"]) for f in seen["fills"])
    n = len(seen["accepted"])
    assert by_venue == {("binance", "sell", "filled"): n, ("orca", "buy", "filled"): n}
    # the venue's own limit ([dex_compute.cu_limits] orca)
    assert all(t["status"] == "landed" and t["cu_limit"] == 300_000 for t in seen["txs"])


def test_sigkill_mid_trade_then_restart_resolves_the_order_by_query_and_never_resends(
    tmp_path: Path,
) -> None:
    """The venues and stand-ins run in this process, so they outlive the engine: a `solarb
    live` run (keys from a keychain handed over in memory, sealed keypair file) is killed with
    SIGKILL while its CEX order is accepted but unanswered; the rerun with the same recovery
    folder resumes the legs, asks the venue about that client id and closes them, and the venue
    saw every client id once."""
    loop = Loopback([SAMPLE_POOL], rpcs=2).start()
    try:
        env = _engine_env(loop, tmp_path)
        # a longer order timeout widens the window in which the order is unanswered
        env["SOLARB__EXECUTION__ORDER_TIMEOUT_MS"] = "6000"
        assert loop.venues is not None
        desk = loop.venues.venues.desk("binance")
        desk.inject("timeout_after_accept", seconds=8.0)  # the first order: accepted, no answer
        loop.start_scenario(80.0)
        argv = [
            sys.executable, "-m", "cli.main", "--markets", str(SAMPLE_MARKETS), "live",
            "--skip-check", "--journal", str(tmp_path / "j"),
            "--report", str(tmp_path / "r.md"), "--recovery-dir", str(tmp_path / "rec"),
            "--snapshot-interval", "0.5",
        ]  # fmt: skip
        first = subprocess.Popen(
            [*argv, "--duration", "60"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not desk.stats.placements and time.monotonic() < deadline:
                time.sleep(0.05)
            assert desk.stats.placements, "no order reached the venue"
            time.sleep(2.0)  # snapshots taken with the legs sent and the answer outstanding
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        cid = desk.stats.placements[0]  # the order accepted and left unanswered
        again = subprocess.run(
            [*argv, "--duration", "12"], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "resuming run" in again.stdout
        # the venue accepted every client id once: the killed order was never sent again
        placed = Counter(desk.stats.placements)
        assert placed[cid] == 1 and max(placed.values()) == 1
        root = run_dir(tmp_path / "j")
        legs = _rows(root, "legs")
        last: dict[str, str] = {}
        for row in sorted(legs, key=lambda r: r["ts_ns"]):
            last[row["opportunity_id"]] = row["to_state"]
        accepted = {d["opportunity_id"] for d in _rows(root, "decisions") if d["accepted"]}
        assert {oid: last.get(oid) for oid in accepted} == {oid: "closed" for oid in accepted}
        # the killed run's order was resolved by asking the venue about its client id
        by_query = [f for f in _rows(root, "fills") if f["reason"] == "by query"]
        assert cid in {_extra(f)["client_order_id"] for f in by_query}
        # every order's fill is in the journal once (a repeated answer is an exec:repeat row)
        fills_per_order = Counter(f["intent_id"] for f in _rows(root, "fills") if moved(f))
        assert max(fills_per_order.values()) == 1
    finally:
        loop.stop()


def _engine_env(loop: Loopback, tmp_path: Path) -> dict[str, str]:
    """The environment of a real (non-loopback) `solarb live` / `bytewax.run flows.live` on
    this process's loopback world: venue URLs, throwaway API keys in a keychain handed over in
    memory (tests/env_keyring.py), a funded wallet sealed in a keypair file."""
    keys = loop.trading(loop.settings(None, SAMPLE_MARKETS))
    api_key, api_secret = "engine-test-key", "engine-test-secret"
    assert loop.venues is not None
    loop.venues.venues.desk("binance").add_account(api_key, api_secret)
    password = "loopback-keypair-password"
    keypair = write_keypair_file(
        tmp_path / "wallet.sealed",
        seal_keypair(bytes(keys.signer.solders_keypair()), password, scrypt_n=2**10),
    )
    return {
        **os.environ, **ENV, **loop.env(),
        "SOLARB_MARKETS": str(SAMPLE_MARKETS),
        "PYTHON_KEYRING_BACKEND": "tests.env_keyring.EnvKeyring",
        "SOLARB_TEST_KEYRING": json.dumps({
            "solarb:binance_api_key": api_key,
            "solarb:binance_api_secret": api_secret,
            "solarb-test:keypair": password,
        }),
        "SOLARB__DEX_EXECUTION__KEYPAIR_PATH": json.dumps(str(keypair)),
        "SOLARB__DEX_EXECUTION__KEYPAIR_PASSWORD": '"keychain:solarb-test:keypair"',
    }  # fmt: skip


def test_bytewax_run_of_flows_live_trades_and_closes_every_leg(tmp_path: Path) -> None:
    loop = Loopback([SAMPLE_POOL], rpcs=2).start()
    try:
        env = _engine_env(loop, tmp_path)
        env.update({"SOLARB_JOURNAL": str(tmp_path / "j"), "SOLARB_LIVE_SECONDS": "9"})
        env.pop("SOLARB_LIVE_SIGNALS_ONLY", None)
        loop.start_scenario(80.0)
        proc = subprocess.run(
            [sys.executable, "-m", "bytewax.run", "flows.live"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        seen = _check_closed_flat_unique_and_reconciled(tmp_path / "j")
        assert loop.venues is not None
        placed = Counter(loop.venues.venues.desk("binance").stats.placements)
        assert placed and max(placed.values()) == 1
        assert {o["client_order_id"] for o in seen["orders"]} == set(placed)
    finally:
        loop.stop()
