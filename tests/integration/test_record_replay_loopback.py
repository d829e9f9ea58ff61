"""`solarb paper|live --record CAPTURE` then `solarb replay CAPTURE`: the replay tells the truth.

Each session is a subprocess of the real CLI on the loopback world (bounded in time); it
records what its graph saw (frames, feed health and control events, and in live trading the
venues' reports and the gateway's journal rows). The replay of that capture must journal the
same rows as the session did: opportunities, risk decisions and intents row for row in order;
fills, legs, health, counters (and live: orders, transactions) the same rows, whose journal
order may differ where the feeds and the execution gateway interleaved by arrival. Only the
wall-clock columns differ (`WALL_CLOCK`): when a frame entered the process, when detection ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.capture import capture_session, read_capture
from connectors.journal import TABLES, read_table, run_dir
from sim.simulate import SAMPLE_MARKETS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK = frozenset({"ts_ingest_ns", "ts_detect_wall_ns"})
"""Columns read from this process's clock, not from the inputs: never reproducible."""
# as in test_live_trading_loopback: a roomier exposure cap so the session trades several arbs
ENV = {**os.environ, "SOLARB__RISK__MAX_EXPOSURE_USD": '"1000000"'}
BASE = [sys.executable, "-m", "cli.main", "--markets", str(SAMPLE_MARKETS)]


def _tables(journal: Path) -> dict[str, list[dict[str, Any]]]:
    root = run_dir(journal)
    out = {}
    for name in sorted(set(TABLES.values())):
        t = read_table(root, name)
        if t is not None and t.num_rows:
            out[name] = [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in t.to_pylist()]
    return out


def _replay(tmp_path: Path, capture: Path) -> dict[str, list[dict[str, Any]]]:
    proc = subprocess.run(
        [*BASE, "replay", str(capture), "--journal", str(tmp_path / "rj"),
         "--report", str(tmp_path / "rr.md")],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _tables(tmp_path / "rj")


def _assert_same_rows(
    session: dict[str, list[dict[str, Any]]], replay: dict[str, list[dict[str, Any]]]
) -> None:
    assert sorted(replay) == sorted(session)
    for name in ("opportunities", "decisions", "intents"):
        assert replay.get(name, []) == session.get(name, []), name  # row for row, in order
    # the other tables hold the same rows; their order may differ where two independent live
    # sources (the feeds and the execution gateway) interleaved in the journal by arrival
    for name in session:
        assert _by_id(replay[name]) == _by_id(session[name]), name


def _by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r["row_id"]))


def test_paper_session_stopped_by_sigint_replays_row_for_row(tmp_path: Path) -> None:
    capture = tmp_path / "paper.parquet"
    argv = [*BASE, "paper", "--loopback", "--journal", str(tmp_path / "j"),
            "--report", str(tmp_path / "r.md"), "--record", str(capture)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        time.sleep(10.0)  # the loopback jumps the pool every 4 s: two dislocations at least
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # SIGINT ends the feeds cleanly: the journal and the capture are flushed and closed
    assert proc.returncode == 130, out[-3000:]
    assert f"recording      {capture}" in out
    assert capture_session(capture) == "paper"
    kinds = {f.kind for f in read_capture(capture)}
    assert {"ws", "rest", "account", "health"} <= kinds and "exec" not in kinds
    session = _tables(tmp_path / "j")
    assert any(d["accepted"] for d in session["decisions"]), "no accepted opportunity"
    assert session["fills"]
    _assert_same_rows(session, _replay(tmp_path, capture))


def test_live_session_with_faults_replays_row_for_row_on_its_recorded_reports(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "live.parquet"
    proc = subprocess.run(
        [*BASE, "live", "--loopback", "--faults", "--duration", "12",
         "--journal", str(tmp_path / "j"), "--report", str(tmp_path / "r.md"),
         "--record", str(capture)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert capture_session(capture) == "live"
    kinds = {f.kind for f in read_capture(capture)}
    assert {"ws", "rest", "account", "health", "exec"} <= kinds
    session = _tables(tmp_path / "j")
    assert any(d["accepted"] for d in session["decisions"]), "no accepted opportunity"
    # the faults really hit the orders, so the replay has more than clean fills to reproduce
    troubles = (
        [f for f in session["fills"] if f["status"] != "filled"]
        + [o for o in session.get("orders", []) if o["outcome"].startswith("error")]
        + [t for t in session.get("transactions", []) if t["sends"] > 1 or t["status"] != "landed"]
    )
    assert troubles
    # the reports reached the pair engine's estimators and the guard's book in the session,
    # and the replay of the recorded reports reproduces both (counters compared row for row)
    counters = {(c["step"], c["key"], c["name"]): c["value"] for c in session["counters"]}
    assert counters[("pair_engine", "SOL/USDC", "fills_observed")] > 0
    assert counters[("risk_guard", "risk", "reports")] > 0
    _assert_same_rows(session, _replay(tmp_path, capture))
    # calibration's mode: the same capture with paper fills in place of the recorded reports
    # decides the same here (the estimators have fewer fills than they need to replace their
    # defaults, and the session's fills never bound a rail) and sends through no gateway
    from bytewax.testing import run_main

    from config import load_settings
    from flows.replay import build_flow

    env = {"SOLARB__RISK__MAX_EXPOSURE_USD": ENV["SOLARB__RISK__MAX_EXPOSURE_USD"]}
    settings = load_settings(markets_path=SAMPLE_MARKETS, env=env)
    run_main(build_flow(settings, [capture], tmp_path / "pj", run_id="p", paper_fills=True))
    paper = _tables(tmp_path / "pj")
    for name in ("opportunities", "decisions", "intents"):
        assert paper[name] == session[name], name
    assert "orders" not in paper and "transactions" not in paper


def test_a_live_session_whose_estimators_learn_replays_its_learned_decisions_row_for_row(
    tmp_path: Path,
) -> None:
    """With one fill / one landing enough for the estimators, the live session's later
    opportunities are priced with what its fills taught (the loopback fills at the quote, so
    the realised p95 replaces the 2 bps default); the replay of its capture applies each
    recorded report at the same point of the event clock (risk.reports_settle_ms) and journals
    the same opportunities, decisions and intents row for row."""
    learn = {
        **ENV,
        "SOLARB__THRESHOLDS__SLIPPAGE_MIN_FILLS": "1",
        "SOLARB__GAS__LANDING_MIN_SAMPLES": "1",
    }
    capture = tmp_path / "live.parquet"
    proc = subprocess.run(
        [*BASE, "live", "--loopback", "--duration", "12", "--journal", str(tmp_path / "j"),
         "--report", str(tmp_path / "r.md"), "--record", str(capture)],
        cwd=ROOT, env=learn, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    session = _tables(tmp_path / "j")
    slippage = [o["cost_slippage_bps"] for o in session["opportunities"]]
    assert slippage[0] == 4.0 and any(x != 4.0 for x in slippage), slippage
    replay = subprocess.run(
        [*BASE, "replay", str(capture), "--journal", str(tmp_path / "rj"),
         "--report", str(tmp_path / "rr.md")],
        cwd=ROOT, env=learn, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    _assert_same_rows(session, _tables(tmp_path / "rj"))


def test_bytewax_run_of_flows_paper_records_from_its_environment_variable(
    tmp_path: Path,
) -> None:
    """`python -m bytewax.run flows.paper` with SOLARB_PAPER_RECORD: a `paper` session capture
    whose replay journals the same health and decision rows as the run."""
    from sim.loopback import Loopback
    from sim.simulate import SAMPLE_POOL

    capture = tmp_path / "bw.parquet"
    loop = Loopback([SAMPLE_POOL]).start()
    try:
        loop.start_scenario(80.0)
        env = {
            **ENV, **loop.env(), "SOLARB_MARKETS": str(SAMPLE_MARKETS),
            "SOLARB_JOURNAL": str(tmp_path / "j"), "SOLARB_PAPER_SECONDS": "6",
            "SOLARB_PAPER_RECORD": str(capture),
        }  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "bytewax.run", "flows.paper"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        loop.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert capture_session(capture) == "paper"
    session = _tables(tmp_path / "j")
    assert session["health"], "the run journaled no health event"
    _assert_same_rows(session, _replay(tmp_path, capture))
