"""`solarb arm` with no manual kill held: an arm request re-arms the running engine once."""

from __future__ import annotations

from pathlib import Path

from connectors.control import ARM_FILE, request_arm, write_kill
from tests.unit.test_control import _manual, _part


def test_an_arm_request_emits_one_rearm_and_is_consumed(tmp_path: Path) -> None:
    p = _part(tmp_path)
    assert _manual(p) == []
    request_arm(tmp_path, 7)
    p.wake.set()  # what SIGUSR1 does
    [(ev)] = _manual(p)
    assert (ev.status, ev.detail) == ("rearm", "solarb arm (request)")
    assert not (tmp_path / ARM_FILE).exists()
    p.wake.set()
    assert _manual(p) == []


def test_an_arm_request_left_from_before_start_up_is_dropped_so_a_restart_stays_disarmed(
    tmp_path: Path,
) -> None:
    request_arm(tmp_path, 7)
    p = _part(tmp_path)
    assert _manual(p) == []
    assert not (tmp_path / ARM_FILE).exists()


def test_an_arm_request_does_not_lift_a_manual_kill(tmp_path: Path) -> None:
    write_kill(tmp_path, "drill", 1)
    p = _part(tmp_path)
    assert [e.status for e in _manual(p)] == ["kill"]
    request_arm(tmp_path, 7)
    p.wake.set()
    assert _manual(p) == []  # only removing the flag (`solarb arm`) lifts it
