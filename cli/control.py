"""`solarb kill` / `solarb arm`: the manual kill switch of a running (or the next) engine.

`kill` writes the flag file in `engine.control_dir` and sends SIGUSR1 to the engine named in
its `engine.pid`; the engine's risk guard trips (cause `manual`) and stays disarmed, across
restarts too, until `arm` removes the flag. With no engine running the flag still holds: the
next `solarb paper` / `live` starts disarmed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from connectors.control import (
    clear_kill,
    engine_pid,
    read_kill,
    request_arm,
    signal_engine,
    write_kill,
)


def _control_dir(args: argparse.Namespace) -> Path:
    from config import load_settings

    if args.control_dir:
        return Path(args.control_dir)
    return Path(load_settings(args.config, args.markets).engine.control_dir)


def cmd_kill(args: argparse.Namespace) -> int:
    """Put a manual kill in force and tell the running engine; exit 0."""
    d = _control_dir(args)
    flag = write_kill(d, args.reason, time.time_ns())
    pid = signal_engine(d)
    where = f"engine pid {pid} signalled" if pid is not None else "no engine running"
    print(f"solarb kill: manual kill in force ({flag.reason!r}); {where}; `solarb arm` lifts it")
    return 0


def cmd_arm(args: argparse.Namespace) -> int:
    """Lift the manual kill, or ask the running engine to re-arm; exit 1 if neither applies."""
    d = _control_dir(args)
    flag = clear_kill(d)
    if flag is None:
        # the running engine may hold kills only an explicit arm clears (fill risk): ask it
        if engine_pid(d) is None:
            print(f"solarb arm: no manual kill in force in {d}, and no engine running")
            return 1
        request_arm(d, time.time_ns())
        pid = signal_engine(d)
        print(f"solarb arm: no manual kill in force in {d}; re-arm requested of engine pid {pid}")
        return 0
    pid = signal_engine(d)
    where = f"engine pid {pid} signalled" if pid is not None else "no engine running"
    print(f"solarb arm: manual kill ({flag.reason!r}) lifted; {where}")
    return 0


def cmd_kill_status(args: argparse.Namespace) -> int:
    """Print whether a manual kill is in force; exit 1 if it is."""
    flag = read_kill(_control_dir(args))
    print("armed" if flag is None else f"killed: {flag.reason}")
    return 0 if flag is None else 1


def add_control_parsers(sub: Any) -> None:
    """`kill [--reason]` and `arm`."""
    k = sub.add_parser("kill", help="manual kill switch: stop new trades until `solarb arm`")
    k.add_argument("--reason", default="manual", help="recorded in the journal's kills table")
    k.add_argument("--status", action="store_true", help="only print whether a kill is in force")
    k.add_argument("--control-dir", help="default: engine.control_dir")
    k.set_defaults(func=lambda a: cmd_kill_status(a) if a.status else cmd_kill(a))
    a = sub.add_parser("arm", help="lift a manual kill, or re-arm the running engine (fill risk)")
    a.add_argument("--control-dir", help="default: engine.control_dir")
    a.set_defaults(func=cmd_arm)
