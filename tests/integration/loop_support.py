"""Shared pieces of the tests that run against the loopback venues: for `solarb paper` with a
script beside it (kill switch, restart, unwinds) the control-dir settings, a bounded wait and
running a flow with a script thread that stops with it; for the live execution gateway, waiting
for its reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bytewax.testing import run_main

from config import Settings
from connectors.execution import ExecutionGateway
from flows import paper
from operators.events import ExecutionReport
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL


@contextmanager
def loopback_gateway(
    markets: Path = SAMPLE_MARKETS, pools: tuple[str, ...] = (SAMPLE_POOL,), rpcs: int = 2
) -> Iterator[tuple[Loopback, ExecutionGateway]]:
    """The loopback venues serving `markets`, and a started live execution gateway on them with
    the loopback's trading keys; both stopped on exit."""
    loop = Loopback(list(pools), rpcs=rpcs).start()
    try:
        settings = loop.settings(None, markets)
        keys = loop.trading(settings)
        gw = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer)
        gw.start()
        try:
            yield loop, gw
        finally:
            gw.close()
    finally:
        loop.stop()


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


def gateway_items(gw: ExecutionGateway, n: int, timeout_s: float = 20.0) -> list[tuple[str, Any]]:
    """What the live gateway emitted (keyed by pair) until `n` execution reports are among it
    and it has drained; `AssertionError` naming what came when they do not within `timeout_s`."""
    out: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out += gw.take()
        if sum(isinstance(x, ExecutionReport) for _, x in out) >= n and gw.drained(0.2):
            return out
        time.sleep(0.02)
    raise AssertionError(f"no {n} reports in {timeout_s} s: {out}")


def gateway_values(gw: ExecutionGateway, n: int, timeout_s: float = 20.0) -> list[Any]:
    """`gateway_items` without the pair keys."""
    return [x for _, x in gateway_items(gw, n, timeout_s)]
