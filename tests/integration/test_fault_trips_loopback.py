"""Fault -> kill switch trip on the loopback venues, measured (README "Kill switch trips").

Each test runs the paper flow on the loopback Binance simulator + Solana stand-in with default
risk settings, injects one fault once both feeds flow, and reads the `kills` row: its cause and
`tripped_ns` minus the wall time of the injection. The figures are printed (`pytest -s`) and
bounded loosely here: a test never pins a wall-clock time, the README table holds the figures.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bytewax.testing import run_main

from config import Settings
from connectors.bounded import Bounds
from connectors.cex.transport import TransportConfig
from connectors.journal import read_table
from flows import paper
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from sim.standin import SolanaStandIn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(40)]


@pytest.fixture
def loop() -> Iterator[Loopback]:
    lb = Loopback([SAMPLE_POOL]).start()
    try:
        yield lb
    finally:
        lb.stop()


def _settings(lb: Loopback, tmp: Path) -> Settings:
    s = lb.settings(None, SAMPLE_MARKETS)
    return s.model_copy(
        update={"engine": s.engine.model_copy(update={"control_dir": str(tmp / "control")})}
    )


def _trip(
    lb: Loopback,
    tmp: Path,
    inject: Callable[[], None],
    seconds: float = 6.0,
    transport: TransportConfig | None = None,
    settings: Settings | None = None,
) -> tuple[dict, float]:
    """Run paper on loopback, inject once both feeds flow; (the first kills row, fault->trip ms)."""
    journal = tmp / "journal"
    lf = paper.build_flow(
        settings or _settings(lb, tmp),
        journal,
        bounds=Bounds(seconds=seconds),
        transport_config=transport,
        rpc_kwargs={"health_interval_s": 0.1},
    )
    injected: list[int] = []

    def script() -> None:
        deadline = time.monotonic() + 10
        while sum(lf.handles.frames().values()) < 6 + 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        injected.append(time.time_ns())
        inject()

    t = threading.Thread(target=script, name="test-script", daemon=True)
    t.start()
    try:
        run_main(lf.flow)  # type: ignore[no-untyped-call]
    finally:
        lf.handles.close()
        t.join(10)
    table = read_table(journal, "kills")
    assert table is not None, "no kill tripped"
    first = table.to_pylist()[0]
    return first, (first["tripped_ns"] - injected[0]) / 1e6


def test_cex_feed_stalled_trips_a_feed_kill(loop: Loopback, tmp_path: Path) -> None:
    assert loop.venues is not None
    v = loop.venues.venues
    kill, ms = _trip(loop, tmp_path, lambda: v.inject("binance", "stall", None, seconds=10.0))
    print(f"CEX WS stalled -> kill: {ms:.0f} ms ({kill['reason']})")
    assert kill["cause"] == "feed" and kill["reason"].startswith("feed binance stale for")
    assert 0 < ms < 5_000


def test_venue_clock_drift_trips_a_clock_kill(loop: Loopback, tmp_path: Path) -> None:
    assert loop.venues is not None
    sim = loop.venues.venues.sims["binance"]

    def skew() -> None:
        sim.clock_skew_ms = 3_000

    fast_sync = TransportConfig(time_sync_interval_s=0.1)
    kill, ms = _trip(loop, tmp_path, skew, seconds=3.0, transport=fast_sync)
    print(f"venue clock +3 s -> kill: {ms:.0f} ms ({kill['reason']})")
    assert kill["cause"] == "clock"
    # the measured offset is the skew give or take half a round trip on loopback
    m = re.fullmatch(r"clock drift (\d+) ms > 1000 ms on clock:binance", kill["reason"])
    assert m is not None and 2_900 <= int(m.group(1)) <= 3_100, kill["reason"]
    assert 0 < ms < 1_500


def test_every_rpc_silent_trips_a_feed_kill(loop: Loopback, tmp_path: Path) -> None:
    assert loop.standin is not None
    standin = loop.standin

    def silence() -> None:
        standin.mute_ws(True)
        standin.stall_http(30.0)

    kill, ms = _trip(loop, tmp_path, silence, seconds=8.0)
    print(f"every RPC silent -> kill: {ms:.0f} ms ({kill['reason']})")
    assert kill["cause"] == "feed" and kill["reason"].startswith("feed solana:feed")
    assert 0 < ms < 8_000


def test_slot_lag_of_the_rpc_in_use_trips_a_feed_kill(loop: Loopback, tmp_path: Path) -> None:
    assert loop.standin is not None
    primary = loop.standin
    other = SolanaStandIn(name="second", start_slot=primary.slot)
    other.start_in_thread()
    try:
        s = _settings(loop, tmp_path)
        rpc = s.rpc.model_copy(
            update={
                "http": [primary.http_url, other.http_url],
                "ws": [primary.ws_url, other.ws_url],
            }
        )

        def lag() -> None:
            primary.set_lagging(True)  # the node the account feed listens to stops
            other.advance_slot(50)  # while the cluster moves on: 50 > max_slot_lag 20

        kill, ms = _trip(loop, tmp_path, lag, settings=s.model_copy(update={"rpc": rpc}))
    finally:
        other.stop_thread()
    print(f"slot lag 50 -> kill: {ms:.0f} ms ({kill['reason']})")
    # 50 slots ahead of the frozen node, give or take the slot it advanced meanwhile
    assert kill["cause"] == "feed" and kill["reason"].endswith(" > 20 on solana:feed")
    assert int(kill["reason"].split()[2]) in range(48, 51)
    assert 0 < ms < 1_500
