"""Live CEX transport: one WS connection per venue+market, REST snapshots on resync.

The transport is thin: it moves bytes and decides *when* to refetch; the per-venue sans-I/O
`BookSync` (connectors/cex/binance.py, okx.py, bybit.py) decides *whether* a book is in sync.
Every frame is emitted as a `RawFrame` (so `solarb record` captures exactly what a downstream
`BookSync` replica will see, in the same order) and the connection's state as `HealthEvent`s.

Per-venue rules (resync mode, application pings, snapshot depth) come from the venue's adapter
(connectors/venues/<venue>.py): a `rest` venue (Binance) is resynced with a REST depth snapshot
while the `BookSync` buffers diffs; a `resubscribe` venue (OKX, Bybit) by unsubscribing and
subscribing the instrument again, which makes the venue send a fresh `snapshot`.
Reconnects use jittered exponential backoff and resubscribe every symbol.

Health is a small state machine, reported as `HealthEvent`s under the venue id (`source`):
- `down`: no socket (connect failed, or the socket closed);
- `resync`: connected, but some book is not in sync yet (initial snapshot, a gap being
  repaired); every per-symbol resync is reported too, with the symbol in `detail`;
- `up`: market data flows and every book is in sync, reported once all of this holds after a
  connect, a resync or a stall (the sequence checks of the `BookSync`s prove nothing was lost);
- `stale`: no market-data frame for the venue's staleness budget (`CexAdapter.stale_after_ms`,
  derived from the book stream's cadence, or `TransportConfig.stale_after_s`). The socket is
  kept: a stall that ends is repaired by the books' own gap detection, which costs less than a
  reconnect and a snapshot; only after `reconnect_after_s` of silence is the socket replaced.
A heartbeat repeats the current state every `health_interval_s` (not while resyncing: the
resync's own events and its closing `up` say it all), so consumers never wait on one lost event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import orjson

from connectors import venues
from connectors.cex.rest import RestClient, RestConfig, backoff_s
from connectors.redact import redact_text
from connectors.venues import BookSyncLike, CexAdapter
from operators.errors import FeedError
from operators.events import (
    BookDelta,
    BookSnapshot,
    HealthEvent,
    MarketKind,
    RawFrame,
    ResyncRequired,
)
from operators.risk import CLOCK_PREFIX

Emit = Callable[[RawFrame | HealthEvent], None]

log = logging.getLogger(__name__)


def source_id(venue: str, market: str) -> str:
    """The venue id frames carry: `binance` + perp -> `binance-usdm`; others unchanged."""
    return venues.cex(venue).source_for(market)


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Timing of one transport (seconds); defaults suit the live venues, tests shrink them."""

    ping_interval_s: float | None = None
    """None = the venue default (its adapter's `ping_interval_s`)."""
    stale_after_s: float | None = None
    """No market data for this long = `stale`. None = the venue budget (adapter `stale_after_ms`,
    or `[venues.<id>] stale_after_ms` when the live inputs pass it)."""
    reconnect_after_s: float = 10.0
    """No market data for this long = the socket is replaced. Well past the staleness budget, so
    a venue hiccup of a few seconds recovers on the same socket; far under the 30 s an idle
    socket may live, so a dead one is not waited on for long."""
    backoff_initial_s: float = 0.1
    """First reconnect after a socket that carried data: 50-100 ms, so a routine venue-side close
    is repaired well inside the kill budget (`risk.ws_down_kill_ms`); doubles per failed try."""
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.5
    connect_timeout_s: float = 10.0
    health_interval_s: float = 1.0
    time_sync_interval_s: float = 300.0
    resubscribe_timeout_s: float = 5.0
    """A resubscribe whose snapshot has not arrived by then is sent again."""
    snapshot_limit: int | None = None
    rest: RestConfig = field(default_factory=RestConfig)


@dataclass
class TransportStats:
    """Counters of one transport (tests, health, benches)."""

    connects: int = 0
    disconnects: int = 0
    stale_flags: int = 0
    """Times the feed went `stale` (no market data for the budget)."""
    stale_timeouts: int = 0
    """Times a silent socket was replaced (no market data for `reconnect_after_s`)."""
    frames: int = 0
    pings_sent: int = 0
    pongs: int = 0
    rest_snapshots: int = 0
    resubscribes: int = 0
    resyncs: Counter[str] = field(default_factory=Counter)
    last_frame_mono: float = 0.0
    last_data_mono: float = 0.0
    """Monotonic time of the last market-data frame (0.0 before the first)."""


def _toggle_subscription(payload: bytes) -> bytes:
    """The unsubscribe twin of a subscribe message (op/method flipped, args kept)."""
    msg = orjson.loads(payload)
    if "op" in msg:
        msg["op"] = "unsubscribe"
    elif "method" in msg:
        msg["method"] = "UNSUBSCRIBE"
    else:
        raise FeedError(f"cannot derive an unsubscribe from {payload[:80]!r}")
    return orjson.dumps(msg)


def wall_clock_ns() -> Callable[[], int]:
    """A monotonic-anchored wall clock (ns): wall time at start, monotonic increments after."""
    anchor = time.time_ns() - time.perf_counter_ns()
    return lambda: anchor + time.perf_counter_ns()


class CexTransport:
    """One venue+market WS session with REST/resubscribe resync, emitting RawFrame/HealthEvent."""

    def __init__(
        self,
        venue: str,
        symbols: Sequence[str],
        market: str,
        ws_url: str,
        rest_url: str,
        emit: Emit,
        *,
        config: TransportConfig | None = None,
        clock_ns: Callable[[], int] | None = None,
        seed: int | None = None,
        adapter: CexAdapter | None = None,
    ) -> None:
        self.source = source_id(venue, market)
        self.rules = adapter or venues.cex(self.source)
        self.symbols = list(symbols)
        if market not in ("spot", "perp"):
            raise FeedError(f"market must be 'spot' or 'perp', not {market!r}", venue=venue)
        self.market: MarketKind = "spot" if market == "spot" else "perp"
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.emit = emit
        self.config = config or TransportConfig()
        self.clock_ns = clock_ns or wall_clock_ns()
        self.rng = random.Random(seed)
        self.syncs: dict[str, BookSyncLike] = {
            s: self.rules.book_sync(s, self.market) for s in self.symbols
        }
        self.stats = TransportStats()
        cfg = self.config
        self.stale_after_s = (
            cfg.stale_after_s if cfg.stale_after_s is not None
            else self.rules.stale_after_ms / 1000.0
        )  # fmt: skip
        self.state = "down"
        """Feed state as last reported: down | resync | up | stale (module docstring)."""
        self._stale_since_ns: int | None = None
        """While `stale`: the wall time of the last market data (the fault's onset)."""
        self.rest: RestClient | None = None
        self.connected = False
        self._connected_mono = 0.0
        self._fresh: set[str] = set()
        """Symbols whose book was updated in sync on the current socket: a book held from before
        a reconnect says `in_sync` until the new socket's first frame proves otherwise."""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._resyncing: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()

    # -- health ---------------------------------------------------------------------------

    def _health(
        self, status: str, detail: str, value: float = 0.0, since_ns: int | None = None
    ) -> None:
        """Emit one event; `since_ns` (event time) is when the condition began, if earlier."""
        ts = self.clock_ns()
        # details quote URLs and socket errors; a key in a URL must not reach the journal
        clean = redact_text(detail)
        # INFO, not WARNING: a retried or failed-over endpoint is routine and journaled as
        # health; the default (WARNING) stderr stays one `error:` line on failure
        log.info(
            "%s %s: %s",
            self.source,
            status,
            clean,
            extra={"source": self.source, "status": status, "value": value},
        )
        self.emit(HealthEvent(self.source, status, clean, since_ns or ts, ts, value))

    def _report(
        self, status: str, detail: str, value: float = 0.0, since_ns: int | None = None
    ) -> None:
        """Move the feed state to `status` and say so."""
        self.state = status
        self._stale_since_ns = since_ns if status == "stale" else None
        self._health(status, detail, value, since_ns)

    def _maybe_up(self, detail: str) -> None:
        """Report `up` once connected, no resync is running and every book is in sync."""
        if (
            self.state != "up"
            and self.connected
            and not self._resyncing
            and len(self._fresh) == len(self.syncs)
            and all(sync.in_sync for sync in self.syncs.values())
        ):
            self._report("up", detail)

    def _beat(self, detail: str, value: float) -> None:
        """Repeat the current state (not while resyncing: its own events cover it)."""
        if self.state != "resync":
            self._health(self.state, detail, value, self._stale_since_ns)

    def last_frame_age_s(self) -> float:
        """Seconds since the last WS frame (inf before the first)."""
        if self.stats.last_frame_mono == 0.0:
            return float("inf")
        return time.monotonic() - self.stats.last_frame_mono

    def data_age_s(self) -> float:
        """Seconds since the last market-data frame, or since connecting if none came yet."""
        last = max(self.stats.last_data_mono, self._connected_mono)
        return float("inf") if last == 0.0 else time.monotonic() - last

    def connect_url(self) -> str:
        """The WS URL to dial: Binance's combined `/stream` gets `?streams=` of our subscription."""
        if not self.source.startswith("binance") or "?" in self.ws_url:
            return self.ws_url
        if not self.ws_url.rstrip("/").endswith("/stream"):
            return self.ws_url
        params = orjson.loads(self.rules.subscribe_message(self.symbols, self.market))["params"]
        return f"{self.ws_url.rstrip('/')}?streams={'/'.join(params)}"

    # -- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to finish (closes the socket; safe from the transport's loop)."""
        self._stop.set()
        if self._ws is not None and not self._ws.closed:
            asyncio.get_running_loop().create_task(self._ws.close())

    async def run(self) -> None:
        """Connect, subscribe, read, resync and reconnect until `stop()`."""
        cfg = self.config
        async with aiohttp.ClientSession() as session:
            self.rest = RestClient(self.source, self.rest_url, session, config=cfg.rest,
                                   rng=self.rng, clock_ns=self.clock_ns)
            health = asyncio.create_task(self._health_loop())
            attempt = 0
            try:
                while not self._stop.is_set():
                    got_data = await self._session(session)
                    if self._stop.is_set():
                        break
                    attempt = 0 if got_data else attempt + 1
                    delay = backoff_s(attempt, cfg.backoff_initial_s, cfg.backoff_max_s,
                                      cfg.backoff_jitter, self.rng)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
            finally:
                health.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await health

    async def _session(self, session: aiohttp.ClientSession) -> bool:
        """One connection's life; returns whether it delivered market data."""
        cfg = self.config
        got_data = False
        tasks: list[asyncio.Task[None]] = []
        interval = cfg.ping_interval_s or self.rules.ping_interval_s
        try:
            # Binance: WS ping frames (aiohttp heartbeat) prove liveness; others ping in-band.
            ws = await asyncio.wait_for(session.ws_connect(
                self.connect_url(), autoping=True, max_msg_size=0,
                heartbeat=interval if self.rules.client_ping is None else None,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            ), cfg.connect_timeout_s)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._report("down", f"connect failed: {type(exc).__name__}: {exc}")
            return False
        self._ws = ws
        self.connected = True
        self._connected_mono = time.monotonic()
        self._fresh.clear()
        self.stats.connects += 1
        # not `up` yet: the books are only trustworthy once in sync on this socket
        self._report("resync", f"connected {self.ws_url}; books syncing")
        try:
            await ws.send_str(self.rules.subscribe_message(self.symbols, self.market).decode())
            if self.rules.client_ping is not None:
                tasks.append(asyncio.create_task(self._ping_loop(ws)))
            tasks.append(asyncio.create_task(self._time_loop()))
            got_data = await self._read_loop(ws)
        except (aiohttp.ClientError, ConnectionError) as exc:
            self._report("down", f"socket error: {type(exc).__name__}: {exc}")
        finally:
            self.connected = False
            self.stats.disconnects += 1
            for t in [*tasks, *self._resyncing.values()]:
                t.cancel()
            for t in [*tasks, *self._resyncing.values()]:
                with contextlib.suppress(
                    asyncio.CancelledError, FeedError, aiohttp.ClientError, ConnectionError
                ):
                    await t
            self._resyncing.clear()
            if not ws.closed:
                await ws.close()
            self._ws = None
            self._report("down", f"disconnected (close code {ws.close_code})")
        return got_data

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        got_data = False
        stale, reconnect = self.stale_after_s, self.config.reconnect_after_s
        while not self._stop.is_set():
            # wake at the next deadline: the staleness budget, then the reconnect limit
            age = self.data_age_s()
            deadline = reconnect if self.state == "stale" else min(stale, reconnect)
            try:
                msg = await asyncio.wait_for(ws.receive(), max(deadline - age, 0.0))
            except TimeoutError:
                age = self.data_age_s()
                if age >= stale and self.state != "stale":
                    self.stats.stale_flags += 1
                    # stamped with the last data's time: the risk guard's budget runs from there
                    self._report("stale", f"no market data for {age:.3f} s "
                                          f"(budget {stale:g} s)", age,
                                 since_ns=self.clock_ns() - int(age * 1e9))
                if age >= reconnect:
                    self.stats.stale_timeouts += 1
                    self._health("stale", f"no market data for {age:.3f} s; reconnecting", age,
                                 self._stale_since_ns)
                    return got_data
                continue
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return got_data
            if msg.type == aiohttp.WSMsgType.TEXT:
                payload = msg.data.encode()
            elif msg.type == aiohttp.WSMsgType.BINARY:
                payload = bytes(msg.data)
            else:
                continue
            self.stats.last_frame_mono = time.monotonic()
            if self._on_payload(payload):
                got_data = True
                self.stats.last_data_mono = self.stats.last_frame_mono
                self._maybe_up("market data flowing, books in sync")
        return got_data

    # -- frames ---------------------------------------------------------------------------

    def _on_payload(self, payload: bytes) -> bool:
        """Route one WS payload: pong bookkeeping, emit RawFrame, feed the symbol's BookSync."""
        ts = self.clock_ns()
        # Parsed once: the codec reads the envelope here and the symbol's BookSync decodes
        # the body that the envelope left raw.
        try:
            wire = self.rules.decode_frame(payload, self.source)
        except FeedError:
            self._health("resync", f"undecodable frame {payload[:60]!r}")
            return False
        if wire.kind == "pong":
            self.stats.pongs += 1
            return False
        stream = wire.stream
        self.stats.frames += 1
        self.emit(RawFrame(ts, self.source, stream, "ws", payload))
        if not wire.market_data:
            return False
        symbol = self.rules.stream_symbol(stream)
        sync = self.syncs.get(symbol) if symbol is not None else None
        if sync is None or symbol is None:
            return True
        try:
            events = sync.on_wire(wire, ts)
        except FeedError as exc:
            self._start_resync(symbol, f"bad frame: {exc}")
            return True
        self._after_events(symbol, sync, events)
        return True

    def _after_events(self, symbol: str, sync: BookSyncLike, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, ResyncRequired):
                self._start_resync(symbol, ev.reason)
                return
        if sync.in_sync and any(isinstance(ev, BookDelta | BookSnapshot) for ev in events):
            self._fresh.add(symbol)
        # Binance needs a REST snapshot on start and after a reconnect: ask once frames flow.
        if self.rules.resync == "rest" and sync.needs_snapshot and symbol not in self._resyncing:
            self._start_resync(symbol, "initial snapshot" if not sync.in_sync else "snapshot")

    def _start_resync(self, symbol: str, reason: str) -> None:
        if symbol in self._resyncing:
            return
        self.stats.resyncs[symbol] += 1
        # a stale or down feed stays so until `up`: a resync does not make it fresh
        if self.state == "up":
            self._report("resync", f"{symbol}: {reason}")
        else:
            self._health("resync", f"{symbol}: {reason}")
        task = asyncio.get_running_loop().create_task(self._resync(symbol))
        self._resyncing[symbol] = task
        task.add_done_callback(partial(self._resync_done, symbol))

    def _resync_done(self, symbol: str, task: asyncio.Task[None]) -> None:
        if self._resyncing.get(symbol) is task:
            del self._resyncing[symbol]
        if task.cancelled():
            return
        if task.exception() is not None:
            self._health("resync", f"{symbol}: resync failed: {task.exception()}")
            return
        if self.syncs[symbol].in_sync:
            self._fresh.add(symbol)
        if self.data_age_s() < self.stale_after_s:
            self._maybe_up(f"{symbol}: in sync")

    async def _resync(self, symbol: str) -> None:
        sync = self.syncs[symbol]
        if self.rules.resync == "rest":
            await self._rest_snapshot(symbol, sync)
        else:
            await self._resubscribe(symbol, sync)

    async def _rest_snapshot(self, symbol: str, sync: BookSyncLike) -> None:
        """Fetch REST snapshots until the BookSync is in sync (it buffers diffs meanwhile)."""
        assert self.rest is not None
        limit = self.config.snapshot_limit or self.rules.snapshot_limit
        path = self.rules.snapshot_path(symbol, self.market, limit)
        for attempt in range(5):
            body, ts = await self.rest.get(path, weight=self.rules.depth_weight(limit))
            self.stats.rest_snapshots += 1
            self.emit(RawFrame(ts, self.source, f"GET {path}", "rest", body))
            events = sync.on_snapshot(body, ts)
            if sync.in_sync and not any(isinstance(e, ResyncRequired) for e in events):
                return
            # Snapshot older than the buffered diffs: wait one frame period, then refetch.
            await asyncio.sleep(min(1.0, 0.05 * (attempt + 1)))
        raise FeedError("REST snapshot never lined up with the diff stream", venue=self.source,
                        symbol=symbol)

    async def _resubscribe(self, symbol: str, sync: BookSyncLike) -> None:
        """Unsubscribe + subscribe one symbol; the venue answers with a fresh WS snapshot."""
        sub = self.rules.subscribe_message([symbol], self.market)
        while self._ws is not None and not self._ws.closed:
            self.stats.resubscribes += 1
            await self._ws.send_str(_toggle_subscription(sub).decode())
            await self._ws.send_str(sub.decode())
            deadline = time.monotonic() + self.config.resubscribe_timeout_s
            while time.monotonic() < deadline:
                await asyncio.sleep(0.005)
                if sync.in_sync:
                    return

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        ping = self.rules.client_ping
        assert ping is not None
        interval = self.config.ping_interval_s or self.rules.ping_interval_s
        numbered = self.rules.numbered_ping
        while not ws.closed:
            await asyncio.sleep(interval)
            text = (ping if numbered is None else numbered(self.stats.pings_sent)).decode()
            try:
                await ws.send_str(text)
            except (aiohttp.ClientError, ConnectionError):
                return  # the socket is closing: the read loop sees it and reconnects
            self.stats.pings_sent += 1

    async def _time_loop(self) -> None:
        assert self.rest is not None
        while True:
            try:
                off = await self.rest.sync_time()
                self._beat("clock offset (venue - local), ms", off / 1e6)
                # the risk guard trips on this value past risk.max_clock_drift_ms: signed
                # requests outside the venue's recvWindow are refused, and our timestamps lie
                ts = self.clock_ns()
                self.emit(HealthEvent(f"{CLOCK_PREFIX}{self.source}", "drift",
                                      "venue clock - local, ms", ts, ts, off / 1e6))
            except FeedError as exc:
                self._health("lag", f"server time unavailable: {exc}")
            await asyncio.sleep(self.config.time_sync_interval_s)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            age = self.data_age_s()
            self._beat("market data age, s", age if age != float("inf") else -1.0)

    @property
    def clock_offset_ns(self) -> int:
        """Venue clock minus local clock, ns (0 until measured)."""
        return self.rest.clock_offset_ns if self.rest is not None else 0
