"""Shared pieces of the tests that run `solarb paper` against the loopback venues with a script
beside it (kill switch, restart, unwinds): the control-dir settings, a bounded wait, and running a
flow with a script thread that stops with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from bytewax.testing import run_main

from config import Settings
from flows import paper
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS


def wait_until(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll `pred` every 20 ms until it holds or `timeout_s` passes (the caller asserts after)."""
    deadline = time.monotonic() + timeout_s
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.02)


def control_settings(lb: Loopback, control_dir: Path, poll_ms: int | None = None) -> Settings:
    """The loopback's sample settings with `control_dir` (and a control poll, default 100 ms)."""
    s = lb.settings(None, SAMPLE_MARKETS)
    update: dict[str, object] = {"control_dir": str(control_dir)}
    if poll_ms is not None:
        update["control_poll_ms"] = poll_ms
    return s.model_copy(update={"engine": s.engine.model_copy(update=update)})


def run_with_script(lf: paper.LiveFlow, script: Callable[[], None], join_s: float = 10.0) -> None:
    """Run the flow to its bound with `script` in a daemon thread beside it."""
    t = threading.Thread(target=script, name="test-script", daemon=True)
    t.start()
    try:
        run_main(lf.flow)  # type: ignore[no-untyped-call]
    finally:
        lf.handles.close()
        t.join(join_s)
