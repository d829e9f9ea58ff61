"""The engine's control directory: `solarb kill` / `solarb arm` reaching a running engine.

Layout of `engine.control_dir`:

    kill        JSON {"reason": str, "requested_ns": int}: present = a manual kill is in force.
                Written by `solarb kill` (atomically), removed only by `solarb arm`, so a kill
                outlives the run that saw it: a restart reads it and starts disarmed.
    arm         JSON {"requested_ns": int}: `solarb arm` with no manual kill held, while an
                engine runs: a re-arm request (fill-risk kills, guard kills waiting for a
                `rearm`). The engine removes it when read; one found at start-up is dropped.
    engine.pid  the pid of the running engine whose `ControlSource` installed the SIGUSR1
                handler; `solarb kill` / `arm` signal it so it reads the directory at once
                rather than at its next poll (`engine.control_poll_ms`).

`ControlSource` is a one-partition Bytewax input emitting `HealthEvent`s from `MANUAL_SOURCE`:
`kill` when the flag file appears (or is there at start-up), `rearm` when it goes or an arm
request is read. Every read
also emits a `tick` from `TICK_SOURCE`: the risk guard's clock is its events' own, so without a
tick a feed that went silent would trip the kill only at the next event (a heartbeat, up to a
second late); ticks reach the guard only, never the journal. Timestamps are wall-clock
(`time.time_ns`) like every live source's; replay never wires this source, so replayed
decisions stay deterministic.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from operators.errors import ConfigError
from operators.events import HealthEvent
from operators.risk import MANUAL_SOURCE

TICK_SOURCE = "control:tick"
"""`HealthEvent.source` of the guard's clock ticks (`status="tick"`); not journaled."""
KILL_FILE = "kill"
ARM_FILE = "arm"
PID_FILE = "engine.pid"


@dataclass(frozen=True, slots=True)
class KillFlag:
    """A manual kill request as stored in the control directory."""

    reason: str
    requested_ns: int


def is_tick(ev: HealthEvent) -> bool:
    """Whether `ev` is a guard clock tick (kept out of the journal)."""
    return ev.source == TICK_SOURCE


def read_kill(control_dir: Path) -> KillFlag | None:
    """The kill flag in force, or None; a malformed flag file is a ConfigError, never ignored."""
    path = control_dir / KILL_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return KillFlag(str(data["reason"]), int(data["requested_ns"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"control: malformed kill flag {path}: {exc}") from exc


def request_arm(control_dir: Path, requested_ns: int) -> None:
    """Ask the running engine to re-arm (no manual kill held): its fill-risk kills, and guard
    kills that wait for a `rearm` (atomic rename; the engine removes the request once read)."""
    control_dir.mkdir(parents=True, exist_ok=True)
    tmp = control_dir / f".{ARM_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"requested_ns": requested_ns}))
    os.replace(tmp, control_dir / ARM_FILE)


def take_arm(control_dir: Path) -> bool:
    """Whether an arm request was waiting (it is removed: one request, one `rearm`)."""
    try:
        (control_dir / ARM_FILE).unlink()
    except FileNotFoundError:
        return False
    return True


def write_kill(control_dir: Path, reason: str, requested_ns: int) -> KillFlag:
    """Put a manual kill in force (atomic rename: the engine never reads half a file)."""
    control_dir.mkdir(parents=True, exist_ok=True)
    flag = KillFlag(reason, requested_ns)
    tmp = control_dir / f".{KILL_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"reason": reason, "requested_ns": requested_ns}))
    os.replace(tmp, control_dir / KILL_FILE)
    return flag


def clear_kill(control_dir: Path) -> KillFlag | None:
    """Lift the manual kill; returns the flag that was in force, or None."""
    flag = read_kill(control_dir)
    (control_dir / KILL_FILE).unlink(missing_ok=True)
    return flag


def engine_pid(control_dir: Path) -> int | None:
    """The pid in `engine.pid` if that process is alive, else None (no engine to signal)."""
    try:
        pid = int((control_dir / PID_FILE).read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"control: malformed {control_dir / PID_FILE}: {exc}") from exc
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def signal_engine(control_dir: Path) -> int | None:
    """SIGUSR1 the running engine so it reads the control directory now; its pid, or None."""
    pid = engine_pid(control_dir)
    if pid is not None:
        os.kill(pid, signal.SIGUSR1)
    return pid


class ControlPartition(StatefulSourcePartition[HealthEvent, None]):
    """Reads the control directory every poll (or at once after SIGUSR1); never blocks."""

    def __init__(
        self,
        control_dir: Path,
        poll_s: float,
        wake: threading.Event,
        done: Callable[[], bool],
        on_close: Callable[[], None],
    ) -> None:
        self.dir = control_dir
        self.poll = timedelta(seconds=poll_s)
        self.wake = wake
        self.done = done
        self.on_close = on_close
        self.seen: KillFlag | None = None
        self.first = True
        self.closed = False
        self.next_read = datetime.now(UTC)

    def next_batch(self) -> list[HealthEvent]:
        if self.done():
            self.close()
            raise StopIteration
        now = datetime.now(UTC)
        if not (self.wake.is_set() or self.first or now >= self.next_read):
            return []
        self.wake.clear()
        self.next_read = now + self.poll
        flag = read_kill(self.dir)
        out: list[HealthEvent] = []
        now_ns = time.time_ns()
        # an arm request left from before this engine started is dropped unread: a restart
        # stays disarmed until someone arms the engine that is running
        armed = take_arm(self.dir) and not self.first and flag is None
        if flag is not None and flag != self.seen:
            out.append(HealthEvent(MANUAL_SOURCE, "kill", flag.reason, flag.requested_ns, now_ns))
        elif flag is None and self.seen is not None:
            out.append(HealthEvent(MANUAL_SOURCE, "rearm", "solarb arm", now_ns, now_ns))
        elif armed:
            out.append(HealthEvent(MANUAL_SOURCE, "rearm", "solarb arm (request)", now_ns, now_ns))
        self.seen, self.first = flag, False
        out.append(HealthEvent(TICK_SOURCE, "tick", "", now_ns, now_ns))
        return out

    def next_awake(self) -> datetime | None:
        return None if self.wake.is_set() else self.next_read

    def snapshot(self) -> None:
        return None  # the flag file is the state: a restart reads it again

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()


class ControlSource(FixedPartitionedSource[HealthEvent, None]):
    """Manual kill / arm as health events; ends when `done()` says the run is over.

    `install_signal` (main thread only: Python's rule for signal handlers) makes SIGUSR1 wake
    the partition and writes `engine.pid`; without it `solarb kill` is seen at the next poll.
    """

    def __init__(
        self,
        control_dir: Path,
        poll_s: float,
        done: Callable[[], bool],
        *,
        install_signal: bool,
    ) -> None:
        self.dir = control_dir
        self.poll_s = poll_s
        self.done = done
        self.wake = threading.Event()
        self.pid_written = False
        if install_signal:
            if threading.current_thread() is not threading.main_thread():
                raise ConfigError("control: SIGUSR1 can only be handled from the main thread")
            signal.signal(signal.SIGUSR1, self._on_signal)
            control_dir.mkdir(parents=True, exist_ok=True)
            (control_dir / PID_FILE).write_text(f"{os.getpid()}\n")
            self.pid_written = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.wake.set()

    def _on_close(self) -> None:
        if self.pid_written and engine_pid(self.dir) == os.getpid():
            (self.dir / PID_FILE).unlink(missing_ok=True)

    def list_parts(self) -> list[str]:
        return ["control"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> ControlPartition:
        return ControlPartition(self.dir, self.poll_s, self.wake, self.done, self._on_close)
