"""A kill outlives the engine: kill a running paper engine, stop it, start it again on the same
control directory: it starts disarmed (the kill journaled in the new run's `kills` table, every
signal refused) until `solarb arm`, which re-enables trading in the running engine."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.bounded import Bounds
from connectors.control import read_kill, write_kill
from connectors.journal import read_rows
from flows import paper
from sim.loopback import Loopback
from tests.integration.loop_support import control_settings, run_with_script, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
ROOT = Path(__file__).resolve().parents[2]


def _run(lb: Loopback, ctl: Path, journal: Path, seconds: float,
         script: Callable[[paper.LiveFlow], None]) -> None:
    lf = paper.build_flow(control_settings(lb, ctl), journal, bounds=Bounds(seconds=seconds))
    run_with_script(lf, lambda: script(lf), join_s=15)


def test_restart_after_a_kill_stays_disarmed_until_solarb_arm(
    loop: Loopback, tmp_path: Path
) -> None:
    ctl = tmp_path / "control"
    first, second = tmp_path / "run1", tmp_path / "run2"
    mid = float(loop.cex_mid())
    dislocated = mid * (1 - 80 / 1e4)

    def kill_midway(lf: paper.LiveFlow) -> None:
        wait_until(lambda: sum(lf.handles.frames().values()) >= 6 + 50)
        write_kill(ctl, "restart drill", time.time_ns())  # what `solarb kill` writes

    _run(loop, ctl, first, 3.0, kill_midway)  # the engine stops at its bound, killed
    assert [k["cause"] for k in read_rows(first, "kills")] == ["manual"]
    assert read_kill(ctl) is not None
    loop.move_pool(mid)

    armed_ns: list[int] = []

    def restart_script(lf: paper.LiveFlow) -> None:
        wait_until(lambda: sum(lf.handles.frames().values()) >= 6 + 50)
        loop.move_pool(dislocated)  # refused: disarmed since start-up
        time.sleep(1.3)  # past the signal debounce, so the next move is a new signal
        loop.move_pool(mid)
        time.sleep(1.3)
        arm = subprocess.run(
            [sys.executable, "-m", "cli.main", "arm", "--control-dir", str(ctl)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
        assert arm.returncode == 0, arm.stderr
        armed_ns.append(time.time_ns())
        time.sleep(0.5)
        loop.move_pool(dislocated)
        time.sleep(1.0)
        loop.move_pool(dislocated)

    _run(loop, ctl, second, 9.0, restart_script)
    assert armed_ns, "the script never armed"
    # the restart: still killed, journaled as a kill of its own (the flag's reason), at start-up
    [kill] = read_rows(second, "kills")
    assert (kill["cause"], kill["reason"]) == (
        "manual", "kill requested by control:manual: restart drill")
    assert kill["tripped_ns"] < armed_ns[0]
    # the restart's kill reached the pair's execution step too (nothing was open to flatten)
    [effect] = read_rows(second, "kill_effects")
    assert (effect["scope"], effect["cause"], effect["tripped_ns"], effect["open_legs"]) == (
        "SOL/USDC", "manual", kill["tripped_ns"], 0)  # fmt: skip
    decisions = sorted(read_rows(second, "decisions"), key=lambda d: d["ts_recv_ns"])
    before = [d["rail"] for d in decisions if d["ts_recv_ns"] < armed_ns[0]]
    after = [d["rail"] for d in decisions if d["ts_recv_ns"] >= armed_ns[0]]
    assert before and set(before) == {"kill_switch"}  # the dislocation was seen and refused
    assert after.count("ok") == 1  # `solarb arm` re-enabled the running engine
    health = [(h["source"], h["status"]) for h in read_rows(second, "health")
              if h["source"] in ("control:manual", "risk:kill_switch")]
    assert sorted(health) == [("control:manual", "kill"), ("control:manual", "rearm"),
                              ("risk:kill_switch", "kill"), ("risk:kill_switch", "up")]
    assert read_kill(ctl) is None
