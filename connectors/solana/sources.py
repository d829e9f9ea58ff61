"""Bytewax sources for Solana account updates (bootstrap, then subscriptions, with failover).

`AccountFeedSource` runs `SolanaRpc` on an asyncio loop in a background thread and hands its
items to Bytewax through a thread-safe queue, so `next_batch()` never blocks. It emits
`RawFrame(kind="account", stream=f"{market_address}:{account_pubkey}")` (the capture convention)
and `HealthEvent`s: the RPC layer's own (`rpc:*`: endpoint down / lag / switch) plus feed-level
ones under `FEED_SOURCE` (`down`, `lag`, `switch`, `resync`, `up`; a throttled `up` heartbeat
carries the latest slot in `value`) that `ClmmPoolState.on_health` and the risk guard consume.
After a `resync` (WS reconnected, subscriptions resent) the first data that arrives (an account
or a slot) is reported as `up` at once (`FeedStatus`): the feed is never left down for want of
the RPC layer's own `up`.

`want(market, accounts)` adds subscriptions at runtime (thread-safe): the flow calls it when a
pool's wanted tick arrays change.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.solana.rpc import AccountUpdate, RpcSettingsLike, SlotUpdate, SolanaRpc
from operators.errors import FeedError
from operators.events import HealthEvent, RawFrame

FEED_SOURCE = "solana:feed"
"""`HealthEvent.source` of feed-level events (what pool states should react to)."""
_PART = "solana-accounts"
_WS_STATUSES = frozenset({"down", "switch", "up", "resync"})

FeedItem = RawFrame | HealthEvent


class FeedStatus:
    """The account feed's own health (`FEED_SOURCE`) from RPC events and the data after them.

    Sans-I/O: RPC health events and data arrivals in, feed-level `HealthEvent`s out. A WS
    reconnect reports `resync`; data arriving after it proves the feed up again, so `up` goes out
    with it rather than waiting for the next heartbeat or an `up` the RPC layer may never send.
    Otherwise slots give a heartbeat `up` at most every `heartbeat_every_ns`, except while the
    WS endpoint lags: its slots flow but are behind, so only the endpoint's own `up` (caught up)
    or a move to another endpoint (`resync`, then data) ends a `lag`.
    """

    def __init__(self, heartbeat_every_ns: int, stale_after_ns: int | None = None) -> None:
        self.heartbeat_every_ns = heartbeat_every_ns
        self.stale_after_ns = stale_after_ns
        """No slot or account for this long while `up` = `stale` (None: never)."""
        self.last_heartbeat_ns = 0
        self.last_data_ns = 0
        """When the last slot or account arrived (0 before the first)."""
        self.state = "up"
        """The last feed-level status reported."""

    def check(self, now_ns: int) -> list[HealthEvent]:
        """`stale` once no data came for `stale_after_ns` while up, stamped with the last data's
        time (the fault's onset). A dead WS is found here in about a second (slots come every
        ~400 ms), long before the RPC layer's heartbeat timeout replaces the socket."""
        if (
            self.stale_after_ns is None
            or self.state != "up"
            or self.last_data_ns == 0
            or now_ns - self.last_data_ns < self.stale_after_ns
        ):
            return []
        self.state = "stale"
        age_ms = (now_ns - self.last_data_ns) / 1e6
        return [HealthEvent(FEED_SOURCE, "stale", f"no slot or account for {age_ms:.0f} ms",
                            self.last_data_ns, now_ns, age_ms)]

    def on_rpc_health(self, ev: HealthEvent, status: str | None) -> list[HealthEvent]:
        """The feed-level twin of an RPC event (`status` None: the event is not about the feed)."""
        if status is None:
            return []
        self.state = status
        return [
            HealthEvent(FEED_SOURCE, status, ev.detail, ev.ts_event_ns, ev.ts_recv_ns, ev.value)
        ]

    def on_data(self, ts_recv_ns: int, slot: int, what: str, *, is_slot: bool) -> list[HealthEvent]:
        """An account update or slot arrived: `up` when it ends a resync or a stale spell, else
        a heartbeat."""
        self.last_data_ns = max(self.last_data_ns, ts_recv_ns)
        if self.state in ("resync", "stale"):
            detail = f"data after {self.state}: {what}"
        elif (
            is_slot
            and self.state != "lag"  # slots of a lagging node are late: lag ends on its own `up`
            and ts_recv_ns - self.last_heartbeat_ns >= self.heartbeat_every_ns
        ):
            detail = what
        else:
            return []
        self.state = "up"
        self.last_heartbeat_ns = ts_recv_ns
        return [HealthEvent(FEED_SOURCE, "up", detail, ts_recv_ns, ts_recv_ns, float(slot))]


class AccountFeedPartition(StatefulSourcePartition[FeedItem, None]):
    """The one partition: owns the RPC loop thread and drains its queue without blocking."""

    def __init__(
        self,
        rpc_settings: RpcSettingsLike,
        markets: Mapping[str, Sequence[str]],
        venues: Mapping[str, str],
        *,
        batch_size: int,
        poll_interval_s: float,
        heartbeat_every_ns: int,
        rpc_kwargs: Mapping[str, Any],
        stale_after_ns: int | None = None,
    ) -> None:
        self._q: queue.SimpleQueue[FeedItem | BaseException] = queue.SimpleQueue()
        self._markets_of: dict[str, set[str]] = {}
        self._venues = dict(venues)
        self._lock = threading.Lock()
        for market, keys in markets.items():
            self._index(market, keys)
        self._batch_size = batch_size
        self._poll = timedelta(seconds=poll_interval_s)
        self._status = FeedStatus(heartbeat_every_ns, stale_after_ns)
        self._idle = False
        self._loop = asyncio.new_event_loop()
        self._rpc: SolanaRpc | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(rpc_settings, dict(rpc_kwargs)), name="solana-feed", daemon=True
        )
        self._thread.start()
        self._ready.wait(10.0)

    # ------------------------------------------------------------------ bytewax API
    def next_batch(self) -> list[FeedItem]:
        """Up to `batch_size` queued items; never blocks."""
        out: list[FeedItem] = []
        now = time.monotonic_ns()
        while len(out) < self._batch_size:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, RawFrame):
                item = RawFrame(
                    item.ts_recv_ns,
                    item.source,
                    item.stream,
                    item.kind,
                    item.payload,
                    item.slot,
                    item.ts_event_ns,
                    now,
                )
            out.append(item)
        self._idle = not out
        return out

    def next_awake(self) -> datetime | None:
        """Poll again shortly when the queue was empty; immediately otherwise."""
        return datetime.now(UTC) + self._poll if self._idle else None

    def snapshot(self) -> None:
        """Nothing to resume: a restarted feed re-bootstraps every account."""
        return None

    def close(self) -> None:
        """Stop the RPC loop and join its thread."""
        if self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    # ------------------------------------------------------------------ control
    def want(self, market: str, accounts: Sequence[str]) -> None:
        """Watch more accounts of `market` (thread-safe); they are bootstrapped then streamed."""
        self._index(market, accounts)
        if self._rpc is not None:
            asyncio.run_coroutine_threadsafe(
                self._rpc.subscribe_accounts(list(accounts)), self._loop
            )

    def _index(self, market: str, accounts: Sequence[str]) -> None:
        with self._lock:
            for key in accounts:
                self._markets_of.setdefault(key, set()).add(market)

    # ------------------------------------------------------------------ background loop
    def _run(self, settings: RpcSettingsLike, kwargs: dict[str, Any]) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start(settings, kwargs))
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self, settings: RpcSettingsLike, kwargs: dict[str, Any]) -> None:
        self._rpc = SolanaRpc(settings, **kwargs)
        await self._rpc.start()
        with self._lock:
            keys = list(self._markets_of)
        self._pump_task = asyncio.create_task(self._pump(self._rpc, keys))
        self._watch_task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Look for a silent feed (`FeedStatus.check`) on the loop that feeds `FeedStatus`."""
        budget = self._status.stale_after_ns
        if budget is None:
            return
        every = min(0.05, budget / 1e9 / 10)
        while True:
            await asyncio.sleep(every)
            for ev in self._status.check(time.time_ns()):
                self._q.put(ev)

    async def _pump(self, rpc: SolanaRpc, keys: list[str]) -> None:
        try:
            await rpc.subscribe_accounts(keys)
            while True:
                self._forward(rpc, await rpc.recv())
        except FeedError as exc:
            self._q.put(exc)

    async def _shutdown(self) -> None:
        for task in (self._pump_task, self._watch_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._rpc is not None:
            await self._rpc.close()

    def _forward(self, rpc: SolanaRpc, item: AccountUpdate | SlotUpdate | HealthEvent) -> None:
        if isinstance(item, AccountUpdate):
            for ev in self._status.on_data(
                item.ts_recv_ns, item.slot, f"account {item.pubkey} at slot {item.slot}",
                is_slot=False,
            ):
                self._q.put(ev)
            with self._lock:
                markets = sorted(self._markets_of.get(item.pubkey, ()))
            for market in markets:
                self._q.put(
                    RawFrame(
                        item.ts_recv_ns,
                        self._venues.get(market, "solana"),
                        f"{market}:{item.pubkey}",
                        "account",
                        item.data,
                        item.slot,
                    )
                )
        elif isinstance(item, SlotUpdate):
            for ev in self._status.on_data(
                item.ts_recv_ns, item.slot, f"slot {item.slot} from {item.endpoint}", is_slot=True
            ):
                self._q.put(ev)
        else:
            self._q.put(item)
            for ev in self._status.on_rpc_health(item, self._feed_status(rpc, item)):
                self._q.put(ev)

    @staticmethod
    def _feed_status(rpc: SolanaRpc, ev: HealthEvent) -> str | None:
        # only the WS endpoint in use decides whether the account feed is trustworthy
        if ev.source.startswith("rpc:ws:") and ev.status in _WS_STATUSES:
            return ev.status
        current = rpc.ws_endpoint
        if current is not None and ev.source == f"rpc:{current.name}" and ev.status in (
            "lag", "up"
        ):
            # the probe of the WS endpoint in use: `lag`, or `up` once it has caught up again
            return ev.status
        return None


class AccountFeedSource(FixedPartitionedSource[FeedItem, None]):
    """Solana account feed: `markets` maps a market address to the account pubkeys to watch."""

    def __init__(
        self,
        rpc_settings: RpcSettingsLike,
        markets: Mapping[str, Sequence[str]],
        *,
        venue: str = "solana",
        venues: Mapping[str, str] | None = None,
        batch_size: int = 256,
        poll_interval_s: float = 0.002,
        heartbeat_every_ms: int = 500,
        rpc_kwargs: Mapping[str, Any] | None = None,
        stale_after_ms: int | None = None,
    ) -> None:
        self.rpc_settings = rpc_settings
        self.markets = {m: list(keys) for m, keys in markets.items()}
        self.venues = {m: (venues or {}).get(m, venue) for m in self.markets}
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.heartbeat_every_ns = heartbeat_every_ms * 1_000_000
        self.stale_after_ns = None if stale_after_ms is None else stale_after_ms * 1_000_000
        self.rpc_kwargs = dict(rpc_kwargs or {})
        self._part: AccountFeedPartition | None = None
        self._pending: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    def list_parts(self) -> list[str]:
        """One partition: a single RPC connection set serves every market."""
        return [_PART]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> AccountFeedPartition:
        """Start the RPC loop thread for the partition."""
        with self._lock:
            for market, keys in self._pending:
                self.markets.setdefault(market, []).extend(keys)
            self._pending.clear()
            self._part = AccountFeedPartition(
                self.rpc_settings,
                self.markets,
                self.venues,
                batch_size=self.batch_size,
                poll_interval_s=self.poll_interval_s,
                heartbeat_every_ns=self.heartbeat_every_ns,
                rpc_kwargs=self.rpc_kwargs,
                stale_after_ns=self.stale_after_ns,
            )
            return self._part

    def want(self, market: str, accounts: Sequence[str]) -> None:
        """Watch more accounts of `market` at runtime (thread-safe, before or after build)."""
        with self._lock:
            if self._part is None:
                self._pending.append((market, list(accounts)))
                return
            part = self._part
        part.want(market, accounts)
