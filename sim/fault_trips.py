"""Inject one fault into a paper run on loopback and measure fault -> kill switch trip.

Dev tooling (tests and `bench/bench_kill_trips.py`, never production). Each `Fault` runs the
paper flow on the loopback Binance simulator + Solana stand-in at the default config (risk,
staleness budgets, RPC probes, control poll), injects its fault once both feeds flow, and reads
the journal's first `kills` row: the trip's cause and reason, and `tripped_ns` minus the wall
time of the injection (the fault's start as the outside world sees it), and each pair's
`kill_effects` row for it (what its execution step cancelled / unwound).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bytewax.testing import run_main

from config import Settings
from connectors.bounded import Bounds
from connectors.cex.transport import TransportConfig
from connectors.control import write_kill
from connectors.journal import read_table
from flows import paper
from operators.errors import ConfigError
from sim.cex_venues import CexVenues
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from sim.standin import SolanaStandIn

WARM_FRAMES = 6 + 50
"""Frames both feeds have delivered before the fault is injected (books and pool in sync)."""


@dataclass(frozen=True, slots=True)
class Trip:
    """One measured trip: the first `kills` row and fault -> trip in ms."""

    cause: str
    reason: str
    ms: float
    detected_ns: int
    tripped_ns: int
    effects: tuple[tuple[str, int, int, str], ...] = ()
    """The pairs' `kill_effects` rows of this trip: (pair, tripped_ns, cancelled, detail)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault scenario: how to inject it and what it must trip, within `target_ms`."""

    name: str
    label: str
    target_ms: int
    inject: Callable[[World], None]
    seconds: float = 5.0
    """How long the paper run lasts (bounded); the trip must come well before."""
    second_rpc: bool = False
    """Run a second RPC node the cluster moves on (slot lag needs a node ahead)."""
    transport: TransportConfig | None = None


@dataclass(frozen=True, slots=True)
class World:
    """The started loopback: CEX venues, the stand-in the feed listens to, maybe a second node."""

    venues: CexVenues
    standin: SolanaStandIn
    second: SolanaStandIn | None
    control_dir: Path


def _stall(w: World) -> None:
    w.venues.inject("binance", "stall", None, seconds=10.0)


def _down(w: World) -> None:
    w.venues.inject("binance", "down", None, seconds=10.0)


def _out_of_sync(w: World) -> None:
    w.venues.inject("binance", "http", status=500, retry_after_s=None, count=10_000)
    w.venues.inject("binance", "drop", "SOLUSDC")  # a gap: the book needs a snapshot to repair


def _rpc_silent(w: World) -> None:
    w.standin.mute_ws(True)
    w.standin.stall_http(30.0)


def _slot_lag(w: World) -> None:
    if w.second is None:
        raise ConfigError("slot lag needs a second RPC node")
    w.standin.set_lagging(True)  # the node the account feed listens to stops
    w.second.advance_slot(50)  # while the cluster moves on: 50 > max_slot_lag 20


def _reconnect(w: World) -> None:
    w.venues.inject("binance", "disconnect", None)  # closed once; the next connect is served


def _manual(w: World) -> None:
    write_kill(w.control_dir, "bench", time.time_ns())  # what `solarb kill` writes (+ SIGUSR1)


def _clock(w: World) -> None:
    w.venues.sims["binance"].clock_skew_ms = 3_000


ROUTINE_RECONNECT = Fault("cex_reconnect", "CEX WS closed once by the venue (a routine "
                          "reconnect)", 0, _reconnect, seconds=5.0)
"""Not a fault to trip on: the transport reconnects and resyncs inside the kill budget."""

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("cex_stale", "CEX WS stalled (socket open, no data)", 1500, _stall),
        Fault("cex_down", "CEX WS down (closed, reconnects refused)", 1500, _down),
        Fault("book_out_of_sync", "CEX book out of sync (gap, snapshots fail)", 1500,
              _out_of_sync),
        Fault("rpc_silent", "every RPC unhealthy (WS silent, HTTP stalled)", 1500, _rpc_silent),
        Fault("slot_lag", "Solana slot lag 50 > 20 on the WS node", 1500, _slot_lag,
              second_rpc=True),
        Fault("manual", "`solarb kill` flag (read at the 100 ms poll, no signal)", 200, _manual,
              seconds=3.0),
        Fault("clock_drift", "venue clock +3 s (from the drift sample)", 200, _clock,
              seconds=3.0, transport=TransportConfig(time_sync_interval_s=0.1)),
    )
}
"""Every feed-fault trip cause, keyed by name. Clock drift is sampled by the transport's time
sync (every 5 min by default; 0.1 s here), so its figure is from the sample to the trip."""


def settings_for(lb: Loopback, tmp: Path) -> Settings:
    """The sample markets on loopback, default config, a control dir of this run's own."""
    s = lb.settings(None, SAMPLE_MARKETS)
    return s.model_copy(
        update={"engine": s.engine.model_copy(update={"control_dir": str(tmp / "control")})}
    )


@contextmanager
def loopback_world(fault: Fault, tmp: Path) -> Iterator[tuple[World, Settings]]:
    """A started loopback and the run's settings (two RPC nodes when the fault needs them)."""
    lb = Loopback([SAMPLE_POOL]).start()
    other: SolanaStandIn | None = None
    try:
        if lb.venues is None or lb.standin is None:
            raise ConfigError("loopback not started")
        settings = settings_for(lb, tmp)
        if fault.second_rpc:
            other = SolanaStandIn(name="second", start_slot=lb.standin.slot)
            other.start_in_thread()
            rpc = settings.rpc.model_copy(update={
                "http": [lb.standin.http_url, other.http_url],
                "ws": [lb.standin.ws_url, other.ws_url],
            })
            settings = settings.model_copy(update={"rpc": rpc})
        yield (World(lb.venues.venues, lb.standin, other, Path(settings.engine.control_dir)),
               settings)
    finally:
        if other is not None:
            other.stop_thread()
        lb.stop()


def measure(fault: Fault, tmp: Path) -> Trip:
    """Run paper on a fresh loopback, inject `fault` once both feeds flow, return the trip."""
    journal, injected_ns = run_fault(fault, tmp)
    table = read_table(journal, "kills")
    if table is None:
        raise ConfigError(f"fault {fault.name}: no kill tripped")
    first = table.to_pylist()[0]
    effects = read_table(journal, "kill_effects")
    mine = sorted(
        (e["scope"], e["tripped_ns"], e["cancelled"], e["detail"])
        for e in ([] if effects is None else effects.to_pylist())
        if (e["cause"], e["tripped_ns"]) == (first["cause"], first["tripped_ns"])
    )
    return Trip(first["cause"], first["reason"], (first["tripped_ns"] - injected_ns) / 1e6,
                first["detected_ns"], first["tripped_ns"], tuple(mine))


def run_fault(fault: Fault, tmp: Path) -> tuple[Path, int]:
    """Run paper on a fresh loopback and inject `fault` once both feeds flow: (the journal,
    the injection's wall time in ns)."""
    journal = tmp / "journal"
    injected: list[int] = []
    with loopback_world(fault, tmp) as (world, settings):
        lf = paper.build_flow(settings, journal, bounds=Bounds(seconds=fault.seconds),
                              transport_config=fault.transport)

        def script() -> None:
            deadline = time.monotonic() + 10
            while sum(lf.handles.frames().values()) < WARM_FRAMES and time.monotonic() < deadline:
                time.sleep(0.02)
            injected.append(time.time_ns())
            fault.inject(world)

        t = threading.Thread(target=script, name="fault-script", daemon=True)
        t.start()
        try:
            run_main(lf.flow)  # type: ignore[no-untyped-call]
        finally:
            lf.handles.close()
            t.join(10)
    if not injected:
        raise ConfigError(f"fault {fault.name}: the feeds never flowed, nothing injected")
    return journal, injected[0]


def summary(trips: dict[str, list[Trip]]) -> list[dict[str, object]]:
    """Per fault: target, p50 and max of fault -> trip over the runs (ms), and the causes."""
    rows: list[dict[str, object]] = []
    for name, runs in trips.items():
        ms = sorted(t.ms for t in runs)
        rows.append({
            "fault": name, "label": FAULTS[name].label, "target_ms": FAULTS[name].target_ms,
            "runs": len(ms), "p50_ms": round(ms[len(ms) // 2], 1), "max_ms": round(ms[-1], 1),
            "causes": sorted({t.cause for t in runs}),
        })
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    """The README table of `summary` rows."""
    out = ["| fault injected (loopback, default config) | target | p50 | max | runs |",
           "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['label']} | < {r['target_ms']} ms | {r['p50_ms']:.0f} ms | "
                   f"{r['max_ms']:.0f} ms | {r['runs']} |")
    return "\n".join(out)
