"""Manual kill and arm reaching a running paper engine on loopback (flag file + poll).

The loopback Binance simulator and the Solana stand-in serve SOL/USDC at 150; the script moves
the pool 80 bps under the CEX book, a dislocation the guard accepts when armed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.bounded import Bounds
from connectors.control import clear_kill, write_kill
from connectors.journal import read_rows
from flows import paper
from sim.loopback import Loopback
from tests.integration.loop_support import control_settings, run_with_script, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
ROOT = Path(__file__).resolve().parents[2]


def test_solarb_kill_trips_a_running_engine_and_refuses_the_next_dislocation(
    loop: Loopback, tmp_path: Path
) -> None:
    ctl, journal = tmp_path / "control", tmp_path / "journal"
    settings = control_settings(loop, ctl, poll_ms=20)
    lf = paper.build_flow(settings, journal, bounds=Bounds(seconds=5.0))
    mid = float(loop.cex_mid())

    def script() -> None:
        wait_until(lambda: sum(lf.handles.frames().values()) >= 6 + 50)
        write_kill(ctl, "drill", time.time_ns())
        time.sleep(0.5)
        loop.move_pool(mid * (1 - 80 / 1e4))
        time.sleep(1.0)
        loop.move_pool(mid * (1 - 80 / 1e4))

    run_with_script(lf, script)
    (kill,) = read_rows(journal, "kills")
    assert (kill["cause"], kill["reason"], kill["cancelled"]) == (
        "manual", "kill requested by control:manual: drill", "nothing resting"
    )
    trip_ms = (kill["tripped_ns"] - kill["detected_ns"]) / 1e6
    print(f"manual kill: flag written -> guard tripped {trip_ms:.1f} ms")
    assert 0 <= trip_ms < 200
    decisions = read_rows(journal, "decisions")
    assert decisions and {d["rail"] for d in decisions} == {"kill_switch"}
    assert read_rows(journal, "fills") == []


def test_kill_survives_a_restart_until_solarb_arm_then_trades_again(
    loop: Loopback, tmp_path: Path
) -> None:
    ctl, journal = tmp_path / "control", tmp_path / "journal"
    write_kill(ctl, "before restart", time.time_ns())
    settings = control_settings(loop, ctl, poll_ms=20)
    lf = paper.build_flow(settings, journal, bounds=Bounds(seconds=6.0))
    mid = float(loop.cex_mid())

    def script() -> None:
        wait_until(lambda: sum(lf.handles.frames().values()) >= 6 + 50)
        loop.move_pool(mid * (1 - 80 / 1e4))  # refused: killed since start-up
        time.sleep(1.3)  # past the signal debounce, so the next move is a new signal
        loop.move_pool(mid)
        time.sleep(1.3)
        clear_kill(ctl)
        time.sleep(0.3)
        loop.move_pool(mid * (1 - 80 / 1e4))
        time.sleep(1.0)
        loop.move_pool(mid * (1 - 80 / 1e4))

    run_with_script(lf, script)
    assert [k["cause"] for k in read_rows(journal, "kills")] == ["manual"]
    decisions = sorted(read_rows(journal, "decisions"), key=lambda d: d["ts_recv_ns"])
    rails = [d["rail"] for d in decisions]
    # refused while killed (the signal and its updates), accepted once armed, exactly once
    assert rails.count("ok") == 1
    armed_at = rails.index("ok")
    assert armed_at >= 1 and rails[:armed_at] == ["kill_switch"] * armed_at
    rows = read_rows(journal, "health")
    assert "control:tick" not in {h["source"] for h in rows}  # the guard's clock, not journaled
    health = [
        (h["source"], h["status"]) for h in rows
        if h["source"] in ("control:manual", "risk:kill_switch")
    ]
    assert health.count(("control:manual", "rearm")) == 1
    assert ("risk:kill_switch", "up") in health


def test_solarb_kill_from_another_process_reaches_a_running_solarb_paper(tmp_path: Path) -> None:
    """The real path: `solarb paper --loopback` (SIGUSR1 handler, pid file) and `solarb kill`."""
    ctl, journal = tmp_path / "control", tmp_path / "journal"
    env = {**os.environ, "SOLARB__ENGINE__CONTROL_DIR": json.dumps(str(ctl))}
    cmd = [sys.executable, "-m", "cli.main", "paper", "--loopback", "--duration", "6",
           "--loopback-jump-bps", "80", "--journal", str(journal),
           "--report", str(tmp_path / "r.md")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (ctl / "engine.pid").exists(), timeout_s=20.0)
        time.sleep(0.5)  # feeds up
        assert (ctl / "engine.pid").read_text() == f"{proc.pid}\n"
        kill = subprocess.run(
            [sys.executable, "-m", "cli.main", "kill", "--reason", "e2e", "--control-dir",
             str(ctl)], cwd=ROOT, capture_output=True, text=True, timeout=20,
        )
        assert kill.returncode == 0
        assert f"engine pid {proc.pid} signalled" in kill.stdout
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    (row,) = read_rows(journal, "kills")
    assert (row["cause"], row["reason"]) == ("manual", "kill requested by control:manual: e2e")
    print(f"solarb kill -> tripped: {(row['tripped_ns'] - row['detected_ns']) / 1e6:.1f} ms")
    assert not (ctl / "engine.pid").exists()  # removed by the engine at its end
    assert (ctl / "kill").exists()  # the kill holds until `solarb arm`
