"""Thin async client of a venue's private order stream: connect, log in, read, reconnect.

The venue's `PrivateStream` (its order codec's `user_stream`) says what to send after
connecting and how to read pushes; this module only moves frames. After every successful
login it reconciles: orders the engine placed and still tracks are queried by client id over
REST (`reconcile_by_query`), so an event lost while the socket was down is never missed. A
refused login (wrong key, signature or passphrase) ends the run with
`ExecutionError(retryable=False)`: retrying cannot fix keys. Everything else reconnects with a
capped exponential backoff. A stream with a `ListenKey` (Binance USD-M) first opens the key
over REST (`rest_url`), connects to the URL that carries it and keeps it alive with a `PUT`
every `keepalive_s` while connected; a lost or expired key means a new one on reconnect.
Items emitted: `OrderUpdate`s and `HealthEvent`s (`up` / `down`,
source `<venue>:orders`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from config import Settings
from connectors import venues
from connectors.cex.order_transport import OrderTransport
from connectors.cex.orders.codec import OrderCodec
from connectors.cex.orders.common import Credentials, SymbolFilters, venue_now_ms
from connectors.cex.orders.private import ListenKey, PrivateStream, update_from_result
from connectors.cex.orders.updates import OrderUpdate
from operators.errors import ConfigError, ExecutionError, FeedError
from operators.events import HealthEvent

Item = OrderUpdate | HealthEvent
Reconcile = Callable[[], Awaitable[list[OrderUpdate]]]


@dataclass(frozen=True, slots=True)
class UserStreamConfig:
    """Timings of the private stream client (seconds)."""

    step_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    ping_interval_s: float | None = None
    """None = the venue's own interval."""


def stream_config(settings: Settings) -> UserStreamConfig:
    """The private stream client's settings from the typed config (`[execution]`)."""
    return UserStreamConfig(backoff_max_s=settings.execution.user_stream_backoff_max_ms / 1000)


@dataclass
class UserStreamStats:
    """What the client did."""

    connects: int = 0
    logins: int = 0
    updates: int = 0
    reconciled: int = 0
    gaps: int = 0
    listen_keys: int = 0
    keepalives: int = 0


class UserStream:
    """The private order stream of one venue account."""

    def __init__(self, venue: str, ws_url: str, session: aiohttp.ClientSession,
                 creds: Credentials, emit: Callable[[Item], None], *,
                 reconcile: Reconcile | None = None, config: UserStreamConfig | None = None,
                 clock_ns: Callable[[], int] = time.time_ns, offset_ns: int = 0,
                 rest_url: str = "") -> None:
        codec = venues.cex(venue).orders
        if codec is None or codec.user_stream is None:
            raise ConfigError(f"venue {venue!r} has no private order stream")
        self.venue = venue
        self.codec: OrderCodec = codec
        self.stream: PrivateStream = codec.user_stream
        if self.stream.listen_key is not None and not rest_url:
            raise ConfigError(f"venue {venue!r}: its user stream needs a listenKey, so a "
                              "REST URL")
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.session = session
        self.creds = creds
        self.emit = emit
        self.reconcile = reconcile
        self.config = config or UserStreamConfig()
        self.clock_ns = clock_ns
        self.offset_ns = offset_ns
        """Venue clock minus local clock, ns (timestamps in login messages)."""
        self.stats = UserStreamStats()
        self.up = asyncio.Event()
        self._stop = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing: asyncio.Future[bool] | None = None

    def stop(self) -> None:
        """Ask `run` to end (closes the socket)."""
        self._stop.set()
        if self._ws is not None and not self._ws.closed:
            self._closing = asyncio.ensure_future(self._ws.close())

    def _health(self, status: str, detail: str) -> None:
        now = self.clock_ns()
        self.emit(HealthEvent(f"{self.venue}:orders", status, detail, now, now))

    async def run(self) -> None:
        """Connect, log in, reconcile, read; reconnect on loss until `stop`."""
        cfg = self.config
        attempt = 0
        while not self._stop.is_set():
            keeper: asyncio.Task[None] | None = None
            try:
                url = self.ws_url
                if self.stream.listen_key is not None:
                    key = await self._listen_key("POST")
                    url = self.stream.listen_key.url(self.ws_url, key)
                    keeper = asyncio.create_task(self._keepalive(self.stream.listen_key))
                async with self.session.ws_connect(url, heartbeat=None) as ws:
                    self._ws = ws
                    self.stats.connects += 1
                    await self._login(ws)
                    attempt = 0
                    self.up.set()
                    self._health("up", "logged in and subscribed")
                    if self.reconcile is not None:
                        for u in await self.reconcile():
                            self.stats.reconciled += 1
                            self.emit(u)
                    await self._read(ws)
            except (aiohttp.ClientError, TimeoutError, ConnectionError, FeedError) as exc:
                # A bad push may hide an update: reconnect, and the login reconciles.
                detail = f"{type(exc).__name__}: {exc}"
            else:
                detail = "closed by the venue"
            finally:
                self._ws = None
                if keeper is not None:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
            if self._stop.is_set():
                break
            self.up.clear()
            self.stats.gaps += 1
            self._health("down", detail)
            await asyncio.sleep(min(cfg.backoff_max_s, cfg.backoff_initial_s * 2**attempt))
            attempt += 1

    async def _listen_key(self, method: str) -> str:
        """Open (POST) or keep alive (PUT) the listenKey; its value. A refused key (wrong API
        key) is `ExecutionError(retryable=False)`; anything else a `FeedError` (reconnect)."""
        assert self.stream.listen_key is not None
        req = self.stream.listen_key.request(self.creds, method)
        async with self.session.request(
            req.method, self.rest_url + req.target, headers=dict(req.headers),
            timeout=aiohttp.ClientTimeout(total=self.config.step_timeout_s),
        ) as resp:
            body = await resp.read()
        err = self.codec.error(resp.status, body)
        if err is not None:
            if not err.retryable and err.action != "not_found":
                raise err
            raise FeedError(f"listenKey {method} refused: {err}", venue=self.venue)
        if method == "POST":
            self.stats.listen_keys += 1
        return self.stream.listen_key.parse(body)

    async def _keepalive(self, rules: ListenKey) -> None:
        """PUT the key every `keepalive_s`; a lapsed key closes the socket (reconnect)."""
        while True:
            await asyncio.sleep(rules.keepalive_s)
            try:
                await self._listen_key("PUT")
                self.stats.keepalives += 1
            except (FeedError, ExecutionError, aiohttp.ClientError, TimeoutError):
                # A lapsed key (-1125) or any failure: close, and run() opens a new key (a
                # refused API key then ends the run there, not here).
                if self._ws is not None and not self._ws.closed:
                    await self._ws.close()
                return

    async def _login(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        now_ms = venue_now_ms(self.clock_ns(), self.offset_ns)
        for step in self.stream.steps(self.creds, now_ms):
            await ws.send_str(step.decode())  # every venue wants text frames
            async with asyncio.timeout(self.config.step_timeout_s):
                while True:
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"socket {msg.type.name} during login")
                    frame = msg.data.encode()
                    reply = self.stream.step_reply(frame)
                    if reply is True:
                        break
                    if reply is False:
                        raise ExecutionError(f"private stream login refused: {frame[:200]!r}",
                                             retryable=False, venue=self.venue, code="auth")
                    self._updates(frame)
        self.stats.logins += 1

    def _updates(self, frame: bytes) -> None:
        for u in self.stream.parse(frame, self.clock_ns()):
            self.stats.updates += 1
            self.emit(u)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        pinger = asyncio.create_task(self._pings(ws)) if self.stream.ping else None
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._updates(msg.data.encode())
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        finally:
            if pinger is not None:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger

    async def _pings(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        interval = self.config.ping_interval_s or self.stream.ping_interval_s
        ping = self.stream.ping
        assert ping is not None
        while not ws.closed:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(ping.decode())


@dataclass
class TrackedOrders:
    """Orders the engine placed and has not seen final yet, by client id (for reconciling)."""

    orders: dict[str, tuple[SymbolFilters, str]] = field(default_factory=dict)

    def track(self, filters: SymbolFilters, client_order_id: str, side: str) -> None:
        """Remember an order before it is sent."""
        self.orders[client_order_id] = (filters, side)

    def settle(self, update: OrderUpdate) -> None:
        """Forget an order once an update says it is final."""
        if update.kind in ("fill", "cancel", "expire", "reject"):
            self.orders.pop(update.client_order_id, None)


def reconcile_by_query(transport: OrderTransport, tracked: TrackedOrders,
                       clock_ns: Callable[[], int] = time.time_ns) -> Reconcile:
    """A `Reconcile` that queries every tracked order by client id (absent ones are skipped)."""

    async def reconcile() -> list[OrderUpdate]:
        out = []
        for cid, (filters, side) in list(tracked.orders.items()):
            result = await transport.query(filters, cid)
            if result is None:
                continue  # never reached the venue (yet): the placing side resolves it
            update = update_from_result(result, filters, side, clock_ns())
            tracked.settle(update)
            out.append(update)
        return out

    return reconcile
