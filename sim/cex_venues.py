"""Loopback CEX venue simulators: aiohttp servers on 127.0.0.1 speaking Binance, OKX and Bybit.

One server per venue id (`binance`, `binance-usdm`, `okx`, `bybit`), each on an ephemeral port:

- Binance spot / USD-M: WS `/stream?streams=a/b` (combined, `{"stream","data"}`) and `/ws` (raw)
  with `SUBSCRIBE` / `UNSUBSCRIBE` (`{"result":null,"id":..}`); the server sends WS ping frames and
  counts the pongs; REST `/api/v3/depth`, `/api/v3/time` (spot), `/fapi/v1/depth`, `/fapi/v1/time`
  (USD-M) with an `X-MBX-USED-WEIGHT-1M` header.
- OKX: WS `/ws/v5/public`, `{"op":"subscribe","args":[{"channel":"books","instId":..}]}` -> ack
  then `snapshot` and `update` frames; text `ping` -> `pong`. REST `/api/v5/market/books`,
  `/api/v5/public/time`.
- Bybit: WS `/v5/public/spot|linear`, `{"op":"subscribe","args":["orderbook.50.SOLUSDT"]}` -> ack,
  `snapshot`, `delta`; `{"op":"ping"}` -> pong. REST `/v5/market/orderbook`, `/v5/market/time`.

Books come from `cex_frames.SimFeed` (seeded, one per symbol, created on first use). Faults:
`drop`, `reorder`, `corrupt` (frames of one symbol), `disconnect`, `stall` (connections),
`http` (the next REST answers get a status such as 429 with `Retry-After`). The same module
serves tests, `solarb record` and paper mode: `start_venues(...)` from async code,
`start_venues_in_thread(...)` from sync code.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from aiohttp import WSMsgType, web

from connectors import venues
from operators.errors import FeedError
from sim.cex_frames import VENUES, SimFeed, Truth
from sim.cex_orders import INFO_PATHS, ORDER_PATHS, OrderDesk
from sim.cex_private import LISTEN_KEY_ROUTES, PRIVATE_PATHS, TRADE_PATHS, PrivateHub

_BINANCE = ("binance", "binance-usdm")


@dataclass(frozen=True, slots=True)
class RestHit:
    """One REST request as the simulator saw it (`t_mono_s`: simulator monotonic seconds)."""

    venue: str
    path: str
    status: int
    t_mono_s: float


@dataclass(frozen=True, slots=True)
class VenueUrls:
    """Where a simulated venue listens: WS base URL (venue path included) and REST base URL."""

    ws_url: str
    rest_url: str


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    category: str
    combined: bool
    conn_id: str = field(default_factory=lambda: secrets.token_hex(4))
    subs: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    stalled_until: float = 0.0

    def stalled(self) -> bool:
        return time.monotonic() < self.stalled_until

    def send(self, text: str) -> None:
        if not self.stalled():  # frames generated during a stall are lost, as on a real hiccup
            self.queue.put_nowait(text)


class VenueSim:
    """One simulated venue: its feeds, connections, fault queues and request records."""

    def __init__(self, venue: str, *, seed: int, clock_skew_ms: int, server_ping_interval_s: float,
                 pong_timeout_s: float) -> None:
        self.venue = venue
        self.seed = seed
        self.clock_skew_ms = clock_skew_ms
        self.server_ping_interval_s = server_ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.feeds: dict[str, SimFeed] = {}
        self.conns: set[_Conn] = set()
        self.http_faults: list[tuple[int, float | None]] = []
        self.ws_refused_until = 0.0
        """Monotonic time until which WS upgrades are refused (fault `down`: venue unreachable)."""
        self.rest_log: list[RestHit] = []
        self.pings_sent = 0
        self.pongs_received = 0
        self.client_pings_answered = 0
        self.connections_opened = 0
        self.subscribe_requests = 0
        self._weight: list[tuple[float, int]] = []
        self.orders = OrderDesk(self)
        """Order entry: signed orders, cancels and queries on the venue's real paths."""
        self.private = PrivateHub(self.orders)
        """Private stream: login and the account's order events (sim/cex_private.py)."""

    # -- feeds ----------------------------------------------------------------------------

    def feed_key(self, symbol: str, category: str) -> str:
        """Feeds are per symbol, and per category on Bybit (spot and linear share symbols)."""
        return f"{category}:{symbol}" if self.venue == "bybit" else symbol

    def feed(self, symbol: str, category: str = "spot", stream: str | None = None) -> SimFeed:
        """The feed of `symbol`, created (seeded from venue, category and symbol) on first use."""
        key = self.feed_key(symbol, category)
        f = self.feeds.get(key)
        if f is None:
            seed = zlib.crc32(f"{self.seed}:{self.venue}:{key}".encode())
            f = SimFeed(self.venue, symbol, seed=seed, stream=stream)
            self.feeds[key] = f
        return f

    def now_ms(self) -> int:
        """Venue clock in ms (wall clock plus the configured skew)."""
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    def tick(self) -> None:
        """Advance every feed by one update and fan the (possibly faulted) frames out."""
        ts = self.now_ms()
        for key, f in list(self.feeds.items()):
            frames = f.next_frames(ts)
            if not frames:
                continue
            targets = [c for c in self.conns if key in c.subs]
            for raw in frames:
                text = raw.decode()
                for c in targets:
                    c.send(text if c.combined or self.venue not in _BINANCE
                           else orjson.dumps(orjson.loads(raw)["data"]).decode())

    # -- faults ---------------------------------------------------------------------------

    def _targets(self, symbol: str | None, category: str) -> list[_Conn]:
        if symbol is None:
            return list(self.conns)
        key = self.feed_key(symbol, category)
        return [c for c in self.conns if key in c.subs]

    async def disconnect(self, symbol: str | None, category: str) -> int:
        """Close the connections carrying `symbol` (all when None); returns how many."""
        targets = self._targets(symbol, category)
        for c in targets:
            c.queue.put_nowait(None)
            await c.ws.close(code=1001, message=b"simulated disconnect")
        return len(targets)

    def stall(self, symbol: str | None, category: str, seconds: float) -> int:
        """Stop answering and sending on the connections carrying `symbol` for `seconds`."""
        targets = self._targets(symbol, category)
        for c in targets:
            c.stalled_until = time.monotonic() + seconds
        return len(targets)

    # -- REST -----------------------------------------------------------------------------

    def _used_weight(self, add: int) -> int:
        now = time.monotonic()
        self._weight = [(t, w) for t, w in self._weight if now - t < 60.0]
        self._weight.append((now, add))
        return sum(w for _, w in self._weight)

    def _fault_response(self, path: str) -> web.Response | None:
        if not self.http_faults:
            return None
        status, retry_after = self.http_faults.pop(0)
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = orjson.dumps({"code": -1003, "msg": f"simulated HTTP {status}"})
        self.rest_log.append(RestHit(self.venue, path, status, time.monotonic()))
        return web.Response(status=status, body=body, headers=headers,
                            content_type="application/json")

    def _ok(self, path: str, body: bytes, weight: int) -> web.Response:
        self.rest_log.append(RestHit(self.venue, path, 200, time.monotonic()))
        headers = {"X-MBX-USED-WEIGHT-1M": str(self._used_weight(weight))}
        return web.Response(body=body, headers=headers, content_type="application/json")

    async def handle_rest(self, request: web.Request) -> web.Response:
        """Every REST route of the venue: depth/books/orderbook and server time."""
        path = request.path_qs
        faulted = self._fault_response(path)
        if faulted is not None:
            return faulted
        q = request.query
        p = request.path
        if p in ("/api/v3/time", "/fapi/v1/time"):
            return self._ok(path, orjson.dumps({"serverTime": self.now_ms()}), 1)
        if p == "/api/v5/public/time":
            return self._ok(path, orjson.dumps({"code": "0", "msg": "",
                                                "data": [{"ts": str(self.now_ms())}]}), 1)
        if p == "/v5/market/time":
            ms = self.now_ms()
            return self._ok(path, orjson.dumps({
                "retCode": 0, "retMsg": "OK",
                "result": {"timeSecond": str(ms // 1000), "timeNano": str(ms * 1_000_000)},
                "retExtInfo": {}, "time": ms}), 1)
        try:
            if p in ("/api/v3/depth", "/fapi/v1/depth"):
                limit = int(q.get("limit", "100"))
                f = self.feed(q["symbol"])
                return self._ok(path, f.rest_snapshot(limit, self.now_ms()),
                                venues.cex(self.venue).depth_weight(limit))
            if p == "/api/v5/market/books":
                f = self.feed(q["instId"])
                return self._ok(path, f.rest_snapshot(int(q.get("sz", "1")), self.now_ms()), 1)
            if p == "/v5/market/orderbook":
                cat = q["category"]
                f = self.feed(q["symbol"], cat)
                return self._ok(path, f.rest_snapshot(int(q.get("limit", "1")), self.now_ms()), 1)
        except (KeyError, ValueError) as exc:
            self.rest_log.append(RestHit(self.venue, path, 400, time.monotonic()))
            return web.Response(status=400, body=orjson.dumps({"msg": f"bad request: {exc}"}),
                                content_type="application/json")
        self.rest_log.append(RestHit(self.venue, path, 404, time.monotonic()))
        return web.Response(status=404, text="not found")

    # -- WS -------------------------------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        """One client WS connection: subscriptions, pings, writer and (Binance) server pings."""
        if time.monotonic() < self.ws_refused_until:
            return web.Response(status=503, text="simulated outage")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        self.connections_opened += 1
        category = request.path.rsplit("/", 1)[-1] if self.venue == "bybit" else "spot"
        conn = _Conn(ws=ws, category=category, combined=request.path.startswith("/stream"))
        self.conns.add(conn)
        if self.venue in _BINANCE:
            for name in filter(None, request.query.get("streams", "").split("/")):
                self._binance_sub(conn, name, subscribe=True)
        writer = asyncio.create_task(self._writer(conn))
        pinger = (asyncio.create_task(self._server_pings(conn))
                  if self.venue in _BINANCE else None)
        try:
            async for msg in ws:
                if conn.stalled():
                    continue  # a stalled venue answers nothing, pings included
                if msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    self.pongs_received += 1
                elif msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
            conn.queue.put_nowait(None)
            for t in (writer, pinger):
                if t is not None:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _server_pings(self, conn: _Conn) -> None:
        last_pong_seen = self.pongs_received
        while not conn.ws.closed:
            await asyncio.sleep(self.server_ping_interval_s)
            if conn.stalled():
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.ping(str(self.now_ms()).encode())
                self.pings_sent += 1
            await asyncio.sleep(self.pong_timeout_s)
            if self.pongs_received == last_pong_seen and not conn.ws.closed:
                await conn.ws.close(code=1008, message=b"pong timeout")
                return
            last_pong_seen = self.pongs_received

    def _on_text(self, conn: _Conn, text: str) -> None:
        if self.venue == "okx" and text == "ping":
            self.client_pings_answered += 1
            conn.send("pong")
            return
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            conn.send(orjson.dumps({"event": "error", "code": "60012",
                                    "msg": f"Invalid request: {text[:64]}"}).decode())
            return
        if self.venue in _BINANCE:
            self._on_binance(conn, msg)
        elif self.venue == "okx":
            self._on_okx(conn, msg)
        else:
            self._on_bybit(conn, msg)

    def _binance_sub(self, conn: _Conn, name: str, *, subscribe: bool) -> None:
        sym, _, kind = name.partition("@")
        if not kind.startswith("depth"):
            return  # trade/bookTicker streams are accepted but not simulated
        key = self.feed(sym.upper(), stream=name).symbol
        if subscribe:
            conn.subs.add(key)
        else:
            conn.subs.discard(key)

    def _on_binance(self, conn: _Conn, msg: dict[str, object]) -> None:
        method = msg.get("method")
        params = msg.get("params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            self.subscribe_requests += method == "SUBSCRIBE"
            for name in params:
                self._binance_sub(conn, str(name), subscribe=method == "SUBSCRIBE")
            conn.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
        else:
            conn.send(orjson.dumps({"code": 2, "msg": f"Invalid request: method {method!r}",
                                    "id": msg.get("id")}).decode())

    def _on_okx(self, conn: _Conn, msg: dict[str, object]) -> None:
        op = msg.get("op")
        args = msg.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            conn.send(orjson.dumps({"event": "error", "code": "60012",
                                    "msg": f"Invalid request: op {op!r}",
                                    "connId": conn.conn_id}).decode())
            return
        self.subscribe_requests += op == "subscribe"
        for arg in args:
            if not isinstance(arg, dict) or "instId" not in arg:
                continue
            conn.send(orjson.dumps({"event": op, "arg": arg, "connId": conn.conn_id}).decode())
            if arg.get("channel") != "books":
                continue
            f = self.feed(str(arg["instId"]))
            if op == "subscribe":
                conn.send(f.ws_snapshot(self.now_ms()).decode())
                conn.subs.add(f.symbol)
            else:
                conn.subs.discard(f.symbol)

    def _on_bybit(self, conn: _Conn, msg: dict[str, object]) -> None:
        op = msg.get("op")
        req_id = msg.get("req_id", "")
        if op == "ping":
            self.client_pings_answered += 1
            if conn.category == "spot":
                reply: dict[str, object] = {"success": True, "ret_msg": "pong",
                                            "conn_id": conn.conn_id, "req_id": req_id, "op": "ping"}
            else:
                reply = {"req_id": req_id, "op": "pong", "args": [str(self.now_ms())],
                         "conn_id": conn.conn_id}
            conn.send(orjson.dumps(reply).decode())
            return
        args = msg.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            conn.send(orjson.dumps({"success": False, "ret_msg": f"Invalid op {op!r}",
                                    "conn_id": conn.conn_id, "req_id": req_id,
                                    "op": op}).decode())
            return
        self.subscribe_requests += op == "subscribe"
        conn.send(orjson.dumps({"success": True, "ret_msg": op if conn.category == "spot" else "",
                                "conn_id": conn.conn_id, "req_id": req_id, "op": op}).decode())
        for topic in args:
            parts = str(topic).split(".")
            if len(parts) != 3 or parts[0] != "orderbook":
                continue
            f = self.feed(parts[2], conn.category, stream=str(topic))
            key = self.feed_key(f.symbol, conn.category)
            if op == "subscribe":
                conn.send(f.ws_snapshot(self.now_ms()).decode())
                conn.subs.add(key)
            else:
                conn.subs.discard(key)


class CexVenues:
    """Running simulators: URLs per venue, fault injection, truth and request records."""

    def __init__(self, sims: dict[str, VenueSim], urls: dict[str, VenueUrls],
                 runners: list[web.AppRunner], ticker: asyncio.Task[None],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.sims = sims
        self.urls = urls
        self._runners = runners
        self._ticker = ticker
        self._loop = loop

    def ws_url(self, venue: str, market: str = "spot") -> str:
        """The WS base URL a client of `venue` connects to (Bybit path by market)."""
        base = self.urls[venue].ws_url
        return base + ("/linear" if market == "perp" else "/spot") if venue == "bybit" else base

    def rest_url(self, venue: str) -> str:
        """The REST base URL of `venue`."""
        return self.urls[venue].rest_url

    def feed(self, venue: str, symbol: str, market: str = "spot") -> SimFeed:
        """The simulator feed of one symbol (created if new)."""
        return self.sims[venue].feed(symbol, "linear" if market == "perp" else "spot")

    def truth(self, venue: str, symbol: str, update_id: int, market: str = "spot") -> Truth:
        """The venue's true top-25 book of `symbol` at `update_id`."""
        return self.feed(venue, symbol, market).truth(update_id)

    def private_url(self, venue: str) -> str:
        """The private-stream WS URL of `venue` (Binance WS API, OKX / Bybit private)."""
        return self.urls[venue].rest_url.replace("http://", "ws://") + PRIVATE_PATHS[venue]

    def trade_url(self, venue: str) -> str:
        """The WS order-entry URL of `venue` (Binance WS API, OKX private, Bybit /v5/trade)."""
        return self.urls[venue].rest_url.replace("http://", "ws://") + TRADE_PATHS[venue]

    def desk(self, venue: str) -> OrderDesk:
        """The order-entry desk of `venue` (accounts, order faults, accepted orders)."""
        return self.sims[venue].orders

    def inject(self, venue: str, kind: str, symbol: str | None = None, *, market: str = "spot",
               seconds: float = 0.5, status: int = 429, retry_after_s: float | None = 1.0,
               count: int = 1) -> None:
        """Inject a fault: drop|reorder|corrupt (symbol), disconnect|stall (symbol or all), http,
        down (disconnect, then refuse reconnects for `seconds`)."""
        sim = self.sims[venue]
        cat = "linear" if market == "perp" else "spot"

        def apply() -> None:
            if kind in ("drop", "reorder", "corrupt"):
                if symbol is None:
                    raise FeedError(f"fault {kind!r} needs a symbol", venue=venue)
                sim.feed(symbol, cat).inject(kind)
            elif kind == "disconnect":
                self._loop.create_task(sim.disconnect(symbol, cat))
            elif kind == "stall":
                sim.stall(symbol, cat, seconds)
            elif kind == "down":
                sim.ws_refused_until = time.monotonic() + seconds
                self._loop.create_task(sim.disconnect(symbol, cat))
            elif kind == "http":
                sim.http_faults.extend([(status, retry_after_s)] * count)
            else:
                raise FeedError(f"unknown fault {kind!r}", venue=venue)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            apply()
        else:
            self._loop.call_soon_threadsafe(apply)

    async def stop(self) -> None:
        """Close every connection and server."""
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker
        for sim in self.sims.values():
            await sim.disconnect(None, "spot")
            await sim.private.disconnect()
        for r in self._runners:
            await r.cleanup()


async def _tick_forever(sims: Sequence[VenueSim], interval_s: float) -> None:
    while True:
        for s in sims:
            s.tick()
        await asyncio.sleep(interval_s)


async def start_venues(
    symbols: Mapping[str, Sequence[str]] | None = None,
    *,
    seed: int = 0,
    frame_interval_s: float = 0.01,
    server_ping_interval_s: float = 20.0,
    pong_timeout_s: float = 60.0,
    clock_skew_ms: Mapping[str, int] | None = None,
    host: str = "127.0.0.1",
) -> CexVenues:
    """Start one loopback server per venue (ephemeral ports); `symbols` pre-creates feeds."""
    sims: dict[str, VenueSim] = {}
    urls: dict[str, VenueUrls] = {}
    runners: list[web.AppRunner] = []
    for venue in VENUES:
        sim = VenueSim(venue, seed=seed, clock_skew_ms=(clock_skew_ms or {}).get(venue, 0),
                       server_ping_interval_s=server_ping_interval_s,
                       pong_timeout_s=pong_timeout_s)
        for sym in (symbols or {}).get(venue, ()):
            sim.feed(sym)
        app = web.Application()
        if venue in _BINANCE:
            ws_paths = ["/stream", "/ws", "/ws/{rest:.*}"]
            ws_base = "/stream"
        elif venue == "okx":
            ws_paths = ["/ws/v5/public"]
            ws_base = "/ws/v5/public"
        else:
            ws_paths = ["/v5/public/spot", "/v5/public/linear"]
            ws_base = "/v5/public"
        from sim.cex_orders import KEY_PATHS  # here, not at the top: apart from the order routes

        for p in KEY_PATHS:  # OKX / Bybit key permissions, signed (before the catch-all below)
            app.router.add_route("*", p, sim.orders.handle)
        for p in ws_paths:
            app.router.add_get(p, sim.handle_ws)
        for p in (*ORDER_PATHS, *INFO_PATHS):  # before the market-data catch-all below
            app.router.add_route("*", p, sim.orders.handle)
        if venue in LISTEN_KEY_ROUTES:  # USD-M: REST listenKey, then /private/ws/<key>
            key_path, socket_route = LISTEN_KEY_ROUTES[venue]
            app.router.add_route("*", key_path, sim.private.handle_listen_key)
            app.router.add_get(socket_route, sim.private.handle_ws)
        elif venue in PRIVATE_PATHS:
            app.router.add_get(PRIVATE_PATHS[venue], sim.private.handle_ws)
        if TRADE_PATHS.get(venue, PRIVATE_PATHS.get(venue)) != PRIVATE_PATHS.get(venue):
            app.router.add_get(TRADE_PATHS[venue], sim.private.handle_ws)  # Bybit /v5/trade
        app.router.add_route("GET", "/{tail:(api|fapi|v5/market).*}", sim.handle_rest)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        if not runner.addresses:
            raise FeedError("simulator server failed to start", venue=venue)
        port = int(runner.addresses[0][1])
        urls[venue] = VenueUrls(f"ws://{host}:{port}{ws_base}", f"http://{host}:{port}")
        sims[venue] = sim
        runners.append(runner)
    loop = asyncio.get_running_loop()
    ticker = loop.create_task(_tick_forever(list(sims.values()), frame_interval_s))
    return CexVenues(sims, urls, runners, ticker, loop)


class ThreadedVenues:
    """`CexVenues` running on their own event loop in a daemon thread (for sync callers)."""

    def __init__(self, **kwargs: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._venues: CexVenues | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(kwargs,), daemon=True,
                                        name="cex-venue-sim")
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            raise FeedError(f"simulators failed to start: {self._error}")
        if self._venues is None:
            raise FeedError("simulators did not start within 10 s")

    def _run(self, kwargs: dict[str, object]) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            try:
                self._venues = await start_venues(**kwargs)  # type: ignore[arg-type]
            except (OSError, FeedError) as exc:
                self._error = exc
            finally:
                self._ready.set()

        self._loop.run_until_complete(boot())
        if self._venues is not None:
            self._loop.run_forever()

    @property
    def venues(self) -> CexVenues:
        """The running simulators (their methods are thread-safe for `inject`)."""
        assert self._venues is not None
        return self._venues

    def stop(self) -> None:
        """Stop the servers and the thread."""
        if self._venues is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._venues.stop(), self._loop)
        fut.result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)


def start_venues_in_thread(**kwargs: object) -> ThreadedVenues:
    """Start the simulators in a background thread; same keyword arguments as `start_venues`."""
    return ThreadedVenues(**kwargs)
