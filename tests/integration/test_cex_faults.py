"""Fault figures: random faults across venues and symbols, every one detected and recovered.

Two levels, both checking at every frame that a book which says `in_sync` equals the venue's
true book at the book's own update id:

- sans-I/O: 1,000 faults (drop / reorder / corrupt checksum / disconnect / stall) fed from the
  simulator's frame generator straight into the venue `BookSync`s, with an in-flight "wire"
  so REST snapshots are newer than the diffs still travelling, as on a real socket;
- real sockets: `SOCKET_FAULTS` faults against the loopback venues with the real transport,
  one connection per venue (two symbols each), the four venues in parallel.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from connectors.cex.transport import CexTransport
from operators.events import ResyncRequired
from sim.cex_frames import SimFeed
from sim.cex_venues import CexVenues, start_venues
from tests.integration.cex_support import (
    CASES,
    FAST,
    Case,
    Replica,
    update_id_of,
    wait_until,
)

pytestmark = [pytest.mark.integration]

SANS_IO_FAULTS = 1000
SOCKET_FAULTS = 1000
FRAME_KINDS = ("drop", "reorder")
LINK_KINDS = ("disconnect", "stall")


def kinds_for(source: str) -> tuple[str, ...]:
    extra = ("corrupt",) if source == "okx" else ()
    return FRAME_KINDS + extra + LINK_KINDS


def available_cases() -> list[Case]:
    cases = list(CASES)
    if not cases:
        pytest.skip("no venue BookSync module (connectors/cex/<venue>.py) exists yet")
    return cases


@dataclass
class SansIoVenue:
    """One venue's symbols driven without sockets: feeds, wires, BookSyncs, checks."""

    case: Case
    mod: Any
    rng: random.Random
    feeds: dict[str, SimFeed] = field(default_factory=dict)
    syncs: dict[str, Any] = field(default_factory=dict)
    wire: dict[str, deque[bytes]] = field(default_factory=dict)
    last_id: dict[str, int | None] = field(default_factory=dict)
    detected: dict[str, bool] = field(default_factory=dict)
    resync_in: dict[str, int] = field(default_factory=dict)
    ts_ms: int = 1_700_000_000_000
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for s in self.case.symbols:
            self.feeds[s] = SimFeed(self.case.source, s, seed=self.rng.randrange(1 << 30))
            self.syncs[s] = self.mod.book_sync(s, self.case.market)
            self.wire[s] = deque()
            self.last_id[s] = None
            self.detected[s] = False
            self.resync_in[s] = 0  # frames until the pending resync lands (0 = none pending)
            self.resync(s)

    def _events(self, sym: str, events: list[Any]) -> None:
        self.last_id[sym] = update_id_of(events, self.last_id[sym])
        if any(isinstance(e, ResyncRequired) for e in events):
            self.detected[sym] = True
            if self.resync_in[sym] == 0:
                self.resync_in[sym] = 1 + self.rng.randint(0, 3)
        sync = self.syncs[sym]
        if sync.in_sync:
            uid = self.last_id[sym]
            self.checked += 1
            if uid is None:
                self.violations.append(f"{sym}: in sync without update id")
                return
            truth = self.feeds[sym].truth(uid)
            bids, asks = sync.book.top(25)
            if tuple(bids) != truth.bids or tuple(asks) != truth.asks:
                self.violations.append(f"{self.case.source} {sym}: wrong book at id {uid}")

    def resync(self, sym: str) -> None:
        """What the transport does on ResyncRequired: REST snapshot (Binance) or resubscribe."""
        feed = self.feeds[sym]
        sync = self.syncs[sym]
        if self.case.source.startswith("binance"):
            self._events(sym, sync.on_snapshot(feed.rest_snapshot(1000, self.ts_ms), 0))
        else:
            # The resubscribe snapshot overtakes nothing: frames already on the wire come first.
            self.wire[sym].append(feed.ws_snapshot(self.ts_ms))

    def step(self) -> None:
        """One venue tick: generate, let the wire carry 0-3 frames of latency, deliver."""
        self.ts_ms += 5
        for sym, feed in self.feeds.items():
            self.wire[sym].extend(feed.next_frames(self.ts_ms))
            while len(self.wire[sym]) > self.rng.randint(0, 3):
                frame = self.wire[sym].popleft()
                self._events(sym, self.syncs[sym].on_frame(frame, 0))
            if self.resync_in[sym] > 0:
                self.resync_in[sym] -= 1
                if self.resync_in[sym] == 0:
                    self.resync(sym)
                    if not self.syncs[sym].in_sync and self.case.source.startswith("binance"):
                        self.resync_in[sym] = 1

    def link_fault(self, sym: str, lost_steps: int) -> None:
        """Disconnect/stall: frames on the wire and for `lost_steps` ticks never arrive, then
        the reconnect resubscribes (OKX/Bybit send a snapshot; Binance finds the gap itself)."""
        for s in self.feeds:
            self.wire[s].clear()
            for _ in range(lost_steps):
                self.feeds[s].next_frames(self.ts_ms)
            if not self.case.source.startswith("binance"):
                self.wire[s].append(self.feeds[s].ws_snapshot(self.ts_ms))
                self.detected[s] = True  # the transport saw the socket go; the sync needn't

    def quiet(self) -> bool:
        """No resync pending or under way on any symbol: a new fault cannot be masked."""
        return all(n == 0 for n in self.resync_in.values()) and all(
            s.in_sync for s in self.syncs.values())

    def settled(self, sym: str) -> bool:
        return self.detected[sym] and not self.wire[sym] and self.quiet()


def test_thousand_faults_sans_io_all_detected_and_recovered() -> None:
    cases = available_cases()
    rng = random.Random(20261126)
    venues = {c.source: SansIoVenue(c, c.adapter(), random.Random(rng.random())) for c in cases}
    for v in venues.values():
        for _ in range(20):
            v.step()
        assert all(s.in_sync for s in v.syncs.values()), v.case.source
    done: Counter[str] = Counter()
    for i in range(SANS_IO_FAULTS):
        v = venues[rng.choice(sorted(venues))]
        sym = rng.choice(v.case.symbols)
        kind = rng.choice(kinds_for(v.case.source))
        for _ in range(200):
            if v.quiet():
                break
            v.step()
        assert v.quiet(), f"{v.case.source} never settled before fault #{i}"
        for s in v.detected:
            v.detected[s] = False
        if kind in LINK_KINDS:
            v.link_fault(sym, rng.randint(1, 5) if kind == "disconnect" else rng.randint(10, 40))
        else:
            v.feeds[sym].inject(kind)
        for _ in range(200):
            v.step()
            if v.settled(sym):
                break
        assert v.settled(sym), f"fault #{i} {kind} on {v.case.source}/{sym} not recovered"
        for _ in range(3):  # a few clean frames checked after each recovery
            v.step()
        done[f"{v.case.source}:{kind}"] += 1
    print(f"sans-I/O faults: {sorted(done.items())}; in-sync checks: "
          f"{sum(v.checked for v in venues.values())}")
    assert sum(done.values()) == SANS_IO_FAULTS
    for v in venues.values():
        assert v.violations == []
        assert v.checked > 0


@dataclass
class SocketRun:
    case: Case
    transport: CexTransport
    replica: Replica
    task: asyncio.Task[None]
    done: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _more_connects(t: CexTransport, before: int) -> bool:
    return t.stats.connects > before


def _more_resyncs(rep: Replica, sym: str, before: int) -> bool:
    return rep.resyncs[sym] > before


def _recovered(t: CexTransport, rep: Replica, min_checked: int) -> bool:
    return rep.all_in_sync() and t.connected and rep.checked >= min_checked


async def _fault_loop(venues: CexVenues, run: SocketRun, n: int, rng: random.Random) -> None:
    t, rep, case = run.transport, run.replica, run.case
    assert await wait_until(lambda: rep.all_in_sync() and rep.checked >= 10, 5.0)
    for i in range(n):
        sym = rng.choice(case.symbols)
        kind = rng.choice(kinds_for(case.source))
        resyncs, connects = rep.resyncs[sym], t.stats.connects
        venues.inject(case.source, kind, None if kind in LINK_KINDS else sym,
                      market=case.market, seconds=0.4)
        if kind in LINK_KINDS:
            detected = await wait_until(partial(_more_connects, t, connects), 3.0)
        else:
            detected = await wait_until(partial(_more_resyncs, rep, sym, resyncs), 3.0)
        recovered = detected and await wait_until(partial(_recovered, t, rep, rep.checked + 4),
                                                  5.0)
        if not (detected and recovered):
            run.failures.append(f"#{i} {kind} {sym}: detected={detected} recovered={recovered}")
            return
        run.done[kind] += 1


@pytest.mark.timeout(120)
async def test_socket_faults_all_detected_and_recovered() -> None:
    cases = available_cases()
    venues = await start_venues(seed=11, frame_interval_s=0.004, server_ping_interval_s=1.0)
    rng = random.Random(7)
    runs: list[SocketRun] = []
    try:
        for c in cases:
            rep = Replica(venues, c, c.adapter())
            ws_url, rest_url = c.urls(venues)
            t = CexTransport(c.venue, list(c.symbols), c.market, ws_url, rest_url, rep,
                             config=FAST, seed=rng.randrange(1 << 30))
            runs.append(SocketRun(c, t, rep, asyncio.create_task(t.run())))
        per_venue = [SOCKET_FAULTS // len(runs)] * len(runs)
        per_venue[0] += SOCKET_FAULTS - sum(per_venue)
        await asyncio.gather(*(_fault_loop(venues, r, n, random.Random(rng.random()))
                               for r, n in zip(runs, per_venue)))
    finally:
        for r in runs:
            r.transport.stop()
        for r in runs:
            await asyncio.wait_for(r.task, 5.0)
        await venues.stop()
    for r in runs:
        assert r.failures == [], r.case.source
        assert r.replica.violations == [], r.case.source
    for r in runs:
        print(f"socket faults {r.case.source}: {sorted(r.done.items())}; "
              f"in-sync checks: {r.replica.checked}; connects: {r.transport.stats.connects}")
    assert sum(sum(r.done.values()) for r in runs) == SOCKET_FAULTS
