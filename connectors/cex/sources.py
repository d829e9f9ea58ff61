"""Bytewax sources over the live CEX transports, and the `record_cex` capture helper.

`CexFeedSource` is the two-class Bytewax shape: a `FixedPartitionedSource` with one partition per
venue connection, and a `StatefulSourcePartition` whose `next_batch()` never blocks. The asyncio
`CexTransport` runs on its own event loop in a daemon thread and hands items over through a
thread-safe queue; `next_batch()` drains what has arrived and `next_awake()` asks Bytewax to
poll again after `poll_interval_s` when nothing had. Items are `RawFrame`s (ws and rest, in the
order the transport's own BookSync saw them, so a downstream replica reaches the same state) and
`HealthEvent`s (connected/disconnected, stale, resync, last-frame age): split them with
`op.branch(..., lambda x: isinstance(x, RawFrame))`.

A live feed is not replayable, so the partition snapshot is None: on resume it simply
reconnects, and the BookSync downstream resyncs from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.capture import CaptureWriter
from connectors.cex.transport import CexTransport, TransportConfig, source_id
from connectors.venues import CexAdapter
from operators.errors import FeedError
from operators.events import HealthEvent, RawFrame

Item = RawFrame | HealthEvent


class TransportThread:
    """A `CexTransport` running on a private event loop in a daemon thread, items in a queue."""

    def __init__(self, venue: str, symbols: Sequence[str], market: str, ws_url: str,
                 rest_url: str, *, config: TransportConfig | None = None,
                 adapter: CexAdapter | None = None) -> None:
        self.items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._transport: CexTransport | None = None
        args = (venue, symbols, market, ws_url, rest_url, config, adapter)
        self._thread = threading.Thread(target=self._run, args=args, daemon=True,
                                        name=f"cex-{venue}-{market}")
        self._thread.start()

    def _run(self, venue: str, symbols: Sequence[str], market: str, ws_url: str, rest_url: str,
             config: TransportConfig | None, adapter: CexAdapter | None) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._transport = CexTransport(venue, symbols, market, ws_url, rest_url,
                                           self.items.put, config=config, adapter=adapter)
            await self._transport.run()

        try:
            self._loop.run_until_complete(main())
        except Exception as exc:  # noqa: BLE001 - handed to the Bytewax thread via next_batch
            self.error = exc
        finally:
            self._loop.close()

    @property
    def alive(self) -> bool:
        """Whether the transport thread still runs."""
        return self._thread.is_alive()

    def drain(self, max_items: int) -> list[Item]:
        """Up to `max_items` queued items, without blocking."""
        out: list[Item] = []
        get = self.items.get_nowait
        try:
            while len(out) < max_items:
                out.append(get())
        except queue.Empty:
            pass
        return out

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the transport and join the thread."""
        t = self._transport
        if t is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(t.stop)
        self._thread.join(timeout_s)


class _CexFeedPartition(StatefulSourcePartition[Item, None]):
    def __init__(self, feed: TransportThread, poll_interval_s: float, max_batch: int) -> None:
        self._feed = feed
        self._poll = timedelta(seconds=poll_interval_s)
        self._max_batch = max_batch
        self._idle = False

    def next_batch(self) -> list[Item]:
        if self._feed.error is not None:
            raise FeedError(f"CEX transport died: {self._feed.error}") from self._feed.error
        batch = self._feed.drain(self._max_batch)
        self._idle = not batch
        if batch:
            now = time.perf_counter_ns()
            batch = [RawFrame(f.ts_recv_ns, f.source, f.stream, f.kind, f.payload, f.slot,
                              f.ts_event_ns, now) if isinstance(f, RawFrame) else f
                     for f in batch]
        return batch

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + self._poll if self._idle else None

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._feed.stop()


class CexFeedSource(FixedPartitionedSource[Item, None]):
    """Live order-book feed of one venue+market: RawFrames (ws/rest) and HealthEvents."""

    def __init__(self, venue: str, symbols: Sequence[str], market: str, ws_url: str,
                 rest_url: str, *, config: TransportConfig | None = None,
                 adapter: CexAdapter | None = None, poll_interval_s: float = 0.001,
                 max_batch: int = 1000) -> None:
        self.venue = venue
        self.symbols = list(symbols)
        self.market = market
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.config = config
        self.adapter = adapter
        self.poll_interval_s = poll_interval_s
        self.max_batch = max_batch
        """Stop after this many RawFrames (tests and bounded recordings); None = run forever."""
        self.part = f"{source_id(venue, market)}:{','.join(self.symbols)}"

    def list_parts(self) -> list[str]:
        return [self.part]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _CexFeedPartition:
        feed = TransportThread(self.venue, self.symbols, self.market, self.ws_url,
                               self.rest_url, config=self.config, adapter=self.adapter)
        return _CexFeedPartition(feed, self.poll_interval_s, self.max_batch)


async def record_cex(
    venue: str,
    symbols: Sequence[str],
    market: str,
    ws_url: str,
    rest_url: str,
    writer: CaptureWriter,
    *,
    max_frames: int | None = None,
    duration_s: float | None = None,
    config: TransportConfig | None = None,
    adapter: CexAdapter | None = None,
) -> int:
    """Capture WS+REST frames into `writer` until `max_frames` or `duration_s` seconds; count."""
    if max_frames is None and duration_s is None:
        raise FeedError("record_cex needs max_frames or duration_s (it would never stop)",
                        venue=venue)
    written = 0
    done = asyncio.Event()

    def emit(item: Item) -> None:
        nonlocal written
        if not isinstance(item, RawFrame) or done.is_set():
            return
        writer.write(item)
        written += 1
        if max_frames is not None and written >= max_frames:
            done.set()

    transport = CexTransport(venue, symbols, market, ws_url, rest_url, emit, config=config,
                             adapter=adapter)
    task = asyncio.create_task(transport.run())
    try:
        await asyncio.wait_for(done.wait(), duration_s)
    except TimeoutError:
        pass  # duration reached: a normal end
    finally:
        done.set()
        transport.stop()
        await asyncio.wait_for(task, 10.0)
    return written
