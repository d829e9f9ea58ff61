"""The control directory: `solarb kill` / `arm` as flag file, pid file, SIGUSR1 and events."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from cli.main import main
from connectors.control import (
    PID_FILE,
    TICK_SOURCE,
    ControlPartition,
    ControlSource,
    KillFlag,
    is_tick,
    read_kill,
    write_kill,
)
from operators.errors import ConfigError
from operators.events import HealthEvent
from operators.risk import MANUAL_SOURCE


def _manual(p: ControlPartition) -> list[HealthEvent]:
    """The kill / rearm events of one read (without the guard's clock tick)."""
    return [e for e in p.next_batch() if e.source == MANUAL_SOURCE]


def _part(d: Path, done: bool = False) -> ControlPartition:
    return ControlSource(d, 3600.0, lambda: done, install_signal=False).build_part("s", "c", None)


def test_kill_flag_present_at_start_up_is_emitted_first_so_a_restart_starts_disarmed(
    tmp_path: Path,
) -> None:
    write_kill(tmp_path, "fat finger", 1_234)
    (ev,) = _manual(_part(tmp_path))
    assert (ev.source, ev.status, ev.detail, ev.ts_event_ns) == (
        MANUAL_SOURCE, "kill", "fat finger", 1_234
    )


def test_removing_the_flag_emits_rearm_once_and_nothing_after(tmp_path: Path) -> None:
    write_kill(tmp_path, "x", 1)
    p = _part(tmp_path)
    assert [e.status for e in _manual(p)] == ["kill"]
    assert p.next_batch() == []  # next read is an hour away and no signal came: not even a tick
    (tmp_path / "kill").unlink()
    p.wake.set()  # what SIGUSR1 does
    assert [e.status for e in _manual(p)] == ["rearm"]
    p.wake.set()
    assert _manual(p) == []


def test_no_flag_at_start_emits_only_the_guard_clock_tick(tmp_path: Path) -> None:
    (tick,) = _part(tmp_path).next_batch()
    assert (tick.source, tick.status, is_tick(tick)) == (TICK_SOURCE, "tick", True)


def test_partition_ends_when_the_feeds_are_over(tmp_path: Path) -> None:
    with pytest.raises(StopIteration):
        _part(tmp_path, done=True).next_batch()


def test_malformed_flag_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "kill").write_text("not json")
    with pytest.raises(ConfigError, match=r"malformed kill flag .*kill"):
        read_kill(tmp_path)


def test_sigusr1_wakes_the_control_partition_and_the_pid_file_names_this_process(
    tmp_path: Path,
) -> None:
    old = signal.getsignal(signal.SIGUSR1)
    try:
        src = ControlSource(tmp_path, 3600.0, lambda: False, install_signal=True)
        assert (tmp_path / PID_FILE).read_text() == f"{os.getpid()}\n"
        p = src.build_part("s", "c", None)
        assert _manual(p) == []  # first read: no flag
        write_kill(tmp_path, "signalled", 5)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert [(e.status, e.detail) for e in _manual(p)] == [("kill", "signalled")]
        p.close()
        assert not (tmp_path / PID_FILE).exists()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_cli_kill_then_arm_writes_and_removes_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "ctl")
    assert main(["kill", "--reason", "drill", "--control-dir", d]) == 0
    flag = read_kill(Path(d))
    assert isinstance(flag, KillFlag) and flag.reason == "drill"
    assert main(["kill", "--status", "--control-dir", d]) == 1
    assert main(["arm", "--control-dir", d]) == 0
    assert read_kill(Path(d)) is None
    assert main(["arm", "--control-dir", d]) == 1  # nothing to lift
    out = capsys.readouterr().out
    assert "manual kill in force ('drill'); no engine running" in out
    assert "manual kill ('drill') lifted; no engine running" in out
    assert "no manual kill in force" in out
