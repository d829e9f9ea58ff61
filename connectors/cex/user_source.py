"""Bytewax source of order updates: one venue account's private stream per partition.

The two-class Bytewax shape (as connectors/cex/sources.py): `UserStreamSource` lists one
partition per stream; the partition runs the asyncio `UserStream` on a private event loop in a
daemon thread and hands `OrderUpdate`s and `HealthEvent`s over a thread-safe queue;
`next_batch()` never blocks, `next_awake()` asks to be polled again after `poll_interval_s`
when nothing had arrived. How a stream is built (credentials, reconcile, URLs) is the caller's
`StreamFactory`, so the wiring decides and this module holds no secrets.

A live stream is not replayable: the snapshot is None, and a resumed run reconnects (the
stream reconciles tracked orders on every login, so nothing is missed).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.cex.orders.updates import OrderUpdate
from connectors.cex.user_stream import Item, UserStream
from operators.errors import FeedError

StreamFactory = Callable[[aiohttp.ClientSession, Callable[[Item], None]], UserStream]
"""`(session, emit) -> UserStream`, called on the stream's own event loop."""


class _StreamThread:
    def __init__(self, name: str, factory: StreamFactory) -> None:
        self.items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stream: UserStream | None = None
        self._thread = threading.Thread(target=self._run, args=(factory,), daemon=True,
                                        name=f"user-stream-{name}")
        self._thread.start()

    def _run(self, factory: StreamFactory) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            async with aiohttp.ClientSession() as session:
                self._stream = factory(session, self.items.put)
                await self._stream.run()

        try:
            self._loop.run_until_complete(main())
        except Exception as exc:  # noqa: BLE001 - handed to the Bytewax thread via next_batch
            self.error = exc
        finally:
            self._loop.close()

    def drain(self, max_items: int) -> list[Item]:
        out: list[Item] = []
        try:
            while len(out) < max_items:
                out.append(self.items.get_nowait())
        except queue.Empty:
            pass
        return out

    def stop(self, timeout_s: float = 5.0) -> None:
        s = self._stream
        if s is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(s.stop)
        self._thread.join(timeout_s)


class _UserStreamPartition(StatefulSourcePartition[Item, None]):
    def __init__(self, thread: _StreamThread, poll_interval_s: float, max_batch: int,
                 max_updates: int | None, stop: threading.Event | None) -> None:
        self._thread = thread
        self._poll = timedelta(seconds=poll_interval_s)
        self._max_batch = max_batch
        self._left = max_updates
        self._stop = stop
        self._idle = False

    def next_batch(self) -> list[Item]:
        if self._thread.error is not None:
            err = self._thread.error
            raise FeedError(f"user stream died: {err}") from err
        if (self._left is not None and self._left <= 0) or (
                self._stop is not None and self._stop.is_set()):
            raise StopIteration
        batch = self._thread.drain(self._max_batch)
        if self._left is not None:
            kept: list[Item] = []
            for item in batch:
                if isinstance(item, OrderUpdate):
                    if self._left <= 0:
                        break  # past the budget: never emitted
                    self._left -= 1
                kept.append(item)
            batch = kept
        self._idle = not batch
        return batch

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + self._poll if self._idle else None

    def snapshot(self) -> None:
        return None  # a live stream resumes by reconnecting and reconciling

    def close(self) -> None:
        self._thread.stop()


class UserStreamSource(FixedPartitionedSource[Item, None]):
    """Order updates of one or more venue accounts (`{partition name: stream factory}`)."""

    def __init__(self, factories: dict[str, StreamFactory], *, poll_interval_s: float = 0.001,
                 max_batch: int = 1000, max_updates: int | None = None,
                 stop: threading.Event | None = None) -> None:
        self.factories = dict(factories)
        self.poll_interval_s = poll_interval_s
        self.max_batch = max_batch
        self.max_updates = max_updates
        """End each partition after this many `OrderUpdate`s (tests, bounded runs)."""
        self.stop = stop

    def list_parts(self) -> list[str]:
        return sorted(self.factories)

    def build_part(self, step_id: str, for_part: str,
                   resume_state: None) -> _UserStreamPartition:
        thread = _StreamThread(for_part, self.factories[for_part])
        return _UserStreamPartition(thread, self.poll_interval_s, self.max_batch,
                                    self.max_updates, self.stop)
