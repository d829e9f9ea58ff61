"""Bench: the live CEX transport against the loopback venue simulators (127.0.0.1 only).

- frame handling: time inside the transport per WS frame (JSON route + RawFrame emit + the
  venue BookSync applying the diff), p50/p99, Binance spot, 2 symbols;
- drop -> back in sync: from injecting a dropped diff to the symbol's book being in sync again
  (gap seen on the next frame, REST snapshot over loopback, buffered diffs bridged), p50, for
  Binance (REST resync) and OKX (unsubscribe/subscribe resync).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from connectors.cex.transport import CexTransport, TransportConfig
from operators.events import HealthEvent, RawFrame
from sim.cex_venues import CexVenues, start_venues

CFG = TransportConfig(ping_interval_s=1.0, stale_after_s=2.0, backoff_initial_s=0.02,
                      snapshot_limit=100, health_interval_s=1.0)


class _TimedTransport(CexTransport):
    """Records the ns spent in `_on_payload` for every frame."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.handling_ns: list[int] = []

    def _on_payload(self, payload: bytes) -> bool:
        t0 = time.perf_counter_ns()
        out = super()._on_payload(payload)
        self.handling_ns.append(time.perf_counter_ns() - t0)
        return out


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _wait(pred: object, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.0005)
    return False


async def _handling(venues: CexVenues, seconds: float) -> list[int]:
    sink: list[RawFrame | HealthEvent] = []
    t = _TimedTransport("binance", ["SOLUSDC", "ETHUSDC"], "spot", venues.ws_url("binance"),
                        venues.rest_url("binance"), sink.append, config=CFG, seed=1)
    task = asyncio.create_task(t.run())
    await _wait(lambda: all(s.in_sync for s in t.syncs.values()), 5.0)
    t.handling_ns.clear()
    await asyncio.sleep(seconds)
    t.stop()
    await task
    return t.handling_ns


async def _recovery(venues: CexVenues, venue: str, symbols: list[str], n: int) -> list[float]:
    sink: list[RawFrame | HealthEvent] = []
    t = CexTransport(venue, symbols, "spot", venues.ws_url(venue), venues.rest_url(venue),
                     sink.append, config=CFG, seed=2)
    task = asyncio.create_task(t.run())
    out: list[float] = []
    sym = symbols[0]
    sync = t.syncs[sym]
    await _wait(lambda: all(s.in_sync for s in t.syncs.values()), 5.0)
    for _ in range(n):
        before = t.stats.resyncs[sym]
        t0 = time.perf_counter()
        venues.inject(venue, "drop", sym)
        await _wait(lambda b=before: t.stats.resyncs[sym] > b, 5.0)
        await _wait(lambda: sync.in_sync, 5.0)
        out.append((time.perf_counter() - t0) * 1e3)
        await asyncio.sleep(0.01)
    t.stop()
    await task
    return out


async def _main(quick: bool) -> list[dict[str, object]]:
    venues = await start_venues(seed=5, frame_interval_s=0.002)
    try:
        handling = await _handling(venues, 0.5 if quick else 3.0)
        n = 10 if quick else 60
        rec_bin = await _recovery(venues, "binance", ["SOLUSDC", "ETHUSDC"], n)
        rec_okx = await _recovery(venues, "okx", ["SOL-USDC", "ETH-USDC"], n)
    finally:
        await venues.stop()
    us = [x / 1e3 for x in handling]
    note = f"{len(us)} frames, loopback sim at 2 ms/frame/symbol"
    return [
        {"name": "cex_transport_frame_handling_p50", "value": statistics.median(us), "unit": "us",
         "target": "<= 100 us p50", "better": "lower", "note": note},
        {"name": "cex_transport_frame_handling_p99", "value": _pct(us, 0.99), "unit": "us",
         "target": "<= 500 us p99", "better": "lower", "note": note},
        {"name": "cex_binance_drop_to_in_sync_p50", "value": statistics.median(rec_bin),
         "unit": "ms", "target": "<= 25 ms p50", "better": "lower",
         "note": f"{len(rec_bin)} drops; gap on next frame + REST snapshot over loopback"},
        {"name": "cex_okx_drop_to_in_sync_p50", "value": statistics.median(rec_okx),
         "unit": "ms", "target": "<= 25 ms p50", "better": "lower",
         "note": f"{len(rec_okx)} drops; gap on next frame + unsubscribe/subscribe snapshot"},
    ]


def run(quick: bool = False) -> list[dict[str, object]]:
    """Run the CEX transport bench; quick=True takes a few seconds."""
    return asyncio.run(_main(quick))


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
