"""Test support for the CEX transport tests: venue cases, a downstream book replica, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors import venues
from connectors.cex.transport import TransportConfig, source_id
from operators.events import BookDelta, BookSnapshot, HealthEvent, RawFrame, ResyncRequired
from sim.cex_venues import CexVenues


@dataclass(frozen=True)
class Case:
    venue: str
    market: str
    symbols: tuple[str, str]

    @property
    def source(self) -> str:
        return source_id(self.venue, self.market)

    def adapter(self) -> venues.CexAdapter:
        """The venue's adapter (codec, rules) from the registry."""
        return venues.cex(self.source)

    def urls(self, venues: CexVenues) -> tuple[str, str]:
        return venues.ws_url(self.source, self.market), venues.rest_url(self.source)


CASES = [
    Case("binance", "spot", ("SOLUSDC", "ETHUSDC")),
    Case("binance", "perp", ("SOLUSDT", "ETHUSDT")),
    Case("okx", "spot", ("SOL-USDC", "ETH-USDC")),
    Case("bybit", "spot", ("SOLUSDT", "ETHUSDT")),
]
CASE_IDS = [c.source for c in CASES]

FAST = TransportConfig(
    ping_interval_s=0.1,
    stale_after_s=0.25,
    reconnect_after_s=0.25,
    backoff_initial_s=0.02,
    backoff_max_s=0.2,
    health_interval_s=0.1,
    resubscribe_timeout_s=1.0,
    snapshot_limit=100,
)
"""Timings shrunk for loopback tests (the live defaults are seconds to minutes)."""


def update_id_of(events: list[Any], current: int | None) -> int | None:
    """The book's update id after `events` (snapshot id or last delta id)."""
    for ev in events:
        if isinstance(ev, BookSnapshot):
            current = ev.update_id
        elif isinstance(ev, BookDelta):
            current = ev.last_update_id
    return current


@dataclass
class Replica:
    """A downstream BookSync per symbol fed with the emitted RawFrames, checked against truth.

    At every frame after which a replica book says `in_sync`, its top 25 levels per side must
    equal the simulator's true book at the replica's update id; anything else is a violation.
    """

    venues: CexVenues
    case: Case
    mod: Any
    syncs: dict[str, Any] = field(default_factory=dict)
    last_id: dict[str, int | None] = field(default_factory=dict)
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    resyncs: dict[str, int] = field(default_factory=dict)
    health: list[HealthEvent] = field(default_factory=list)
    frames: list[RawFrame] = field(default_factory=list)
    in_sync_broken: dict[str, int] = field(default_factory=dict)
    on_frame: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        for s in self.case.symbols:
            self.syncs[s] = self.mod.book_sync(s, self.case.market)
            self.last_id[s] = None
            self.resyncs[s] = 0
            self.in_sync_broken[s] = 0

    def __call__(self, item: RawFrame | HealthEvent) -> None:
        if isinstance(item, HealthEvent):
            self.health.append(item)
            return
        self.frames.append(item)
        sym = self.mod.stream_symbol(item.stream)
        sync = self.syncs.get(sym) if sym is not None else None
        if sync is None or sym is None:
            return
        was_in_sync = sync.in_sync
        if item.kind == "rest":
            events = sync.on_snapshot(item.payload, item.ts_recv_ns)
        else:
            events = sync.on_frame(item.payload, item.ts_recv_ns)
        self.resyncs[sym] += sum(isinstance(e, ResyncRequired) for e in events)
        self.last_id[sym] = update_id_of(events, self.last_id[sym])
        if was_in_sync and not sync.in_sync:
            self.in_sync_broken[sym] += 1
        if sync.in_sync:
            self.check(sym)
        if self.on_frame is not None:
            self.on_frame(sym)

    def check(self, sym: str) -> None:
        uid = self.last_id[sym]
        if uid is None:
            self.violations.append(f"{sym}: in sync without an update id")
            return
        truth = self.venues.truth(self.case.source, sym, uid, self.case.market)
        bids, asks = self.syncs[sym].book.top(25)
        self.checked += 1
        if tuple(bids) != truth.bids or tuple(asks) != truth.asks:
            self.violations.append(f"{sym}: book differs from truth at update id {uid}")

    def all_in_sync(self) -> bool:
        return all(s.in_sync for s in self.syncs.values())


async def wait_until(pred: Callable[[], bool], timeout_s: float, step_s: float = 0.005) -> bool:
    """Poll `pred` until true or `timeout_s` passes; returns the last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while loop.time() < end:
        if pred():
            return True
        await asyncio.sleep(step_s)
    return pred()
