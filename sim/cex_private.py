"""Loopback private streams: each simulated venue pushes its order events to logged-in sockets.

- Binance spot WS API `/ws-api/v3`: `userDataStream.subscribe.signature` and `order.place`
  checked like signed requests (known key -2015, timestamp window -1021, signature over the
  sorted params -1022, answers `{"id","status","result"|"error"}`; an order is matched as over
  REST, with the desk's faults); then `{"subscriptionId","event": executionReport}`: NEW, one
  TRADE per fill, EXPIRED when an IOC/FOK leaves a remainder.
- OKX `/ws/v5/private`: `login` (key, passphrase, Unix-seconds timestamp within 30 s, base64
  HMAC of `ts + "GET/users/self/verify"`), then `subscribe` `orders`; pushes `live`, one push
  per fill (`partially_filled` / `filled`), `canceled` for a remainder.
- Bybit `/v5/private`: `auth` (key, `expires` in the future, hex HMAC of `"GET/realtime" +
  expires`), then `subscribe` `order` + `execution`; pushes `order` New, one `execution` per
  fill, `order` Filled / Cancelled / PartiallyFilledCanceled.

- Binance USD-M: `POST|PUT|DELETE /fapi/v1/listenKey` (known `X-MBX-APIKEY` else -2015; PUT of
  a key that is not active -1125), then the socket `/private/ws/<listenKey>` (an unknown key is
  refused at the handshake); pushes `ORDER_TRADE_UPDATE` NEW, one TRADE per fill, EXPIRED for a
  remainder. `expire_listen_keys()` sends `listenKeyExpired` and forgets every key.

- Binance USD-M futures WS API `/ws-fapi/v1`: `order.place`, `order.cancel` and
  `session.logon`, checked like the spot WS API (same codes); `session.logon` takes Ed25519
  keys only (any other key: 401 -2015, the simulator's choice), then requests without
  `apiKey`/`signature` are the session key's; a request neither signed nor in a session is
  401 -2015. Answers carry the REST RESULT body and `rateLimits` (REQUEST_WEIGHT 1 MINUTE,
  ORDERS 10 SECOND and 1 MINUTE), counted in the REST routes' windows (shared, as documented);
  an order limit passed is 429 -1015.

- WS order entry (TRADE_PATHS): Binance `order.place` on the spot / USD-M WS APIs (above, a
  delayed request's timestamp checked again when it reaches matching: -1021), OKX `op: "order"`
  on the logged-in private socket (expTime checked when the order reaches matching: 50036),
  Bybit `order.create` on `/v5/trade` after `auth` (`header` timestamp window: 10002), each with
  the REST desk's matching, duplicate refusals and faults (reject, delay_ack, timeout_after_accept
  holding the answer back), Bybit answers with its `X-Bapi-Limit*` headers.

The refusal codes/texts of the login steps are the simulator's own choice where the venues'
docs give none (OKX 60005/60006/60007/60024 as commonly reported; Bybit `success: false`).
`disconnect()` drops every private socket (the "user stream lost mid-order" fault); events
generated while no socket is subscribed are lost, as on a real venue, and must be reconciled.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web
from cryptography.exceptions import InvalidSignature

from sim.cex_orders import Account, SimOrder, _Fault, _fmt, quote_asset

if TYPE_CHECKING:
    from sim.cex_orders import OrderDesk

PRIVATE_PATHS = {"binance": "/ws-api/v3", "okx": "/ws/v5/private", "bybit": "/v5/private",
                 "binance-usdm": "/private/ws"}
TRADE_PATHS = {"binance": "/ws-api/v3", "okx": "/ws/v5/private", "bybit": "/v5/trade",
               "binance-usdm": "/ws-fapi/v1"}
"""Where each venue takes WS orders (Bybit, USD-M: their own sockets)."""
_SPOT_METHODS = ("userDataStream.subscribe.signature", "order.place", "order.cancel")
_FAPI_METHODS = ("session.logon", "order.place", "order.cancel")
LISTEN_KEY_ROUTES = {"binance-usdm": ("/fapi/v1/listenKey", "/private/ws/{listen_key}")}
"""Venues whose stream opens with a REST listenKey: (key endpoint, socket route)."""


@dataclass(eq=False)
class _Private:
    ws: web.WebSocketResponse
    conn_id: str = field(default_factory=lambda: secrets.token_hex(4))
    account: Account | None = None
    subscribed: bool = False
    subscription_id: int = 0
    session: Account | None = None
    """The key a USD-M WS API `session.logon` authenticated on this connection."""
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class PrivateHub:
    """The private sockets of one simulated venue and the events they get."""

    def __init__(self, desk: OrderDesk) -> None:
        self.desk = desk
        self.venue = desk.venue
        self.conns: set[_Private] = set()
        self.logins = 0
        self._sub_ids = 0
        self.listen_keys: dict[str, Account] = {}
        """Active listenKeys (USD-M) and whose they are."""
        desk.listeners.append(self.publish)

    # -- socket ---------------------------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        """One private connection: login steps, then pushes until it closes."""
        key = request.match_info.get("listen_key")
        if key is not None and key not in self.listen_keys:
            return web.Response(status=400, text="invalid listenKey")
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Private(ws)
        if key is not None:  # the key in the URL is the login
            conn.account, conn.subscribed = self.listen_keys[key], True
            self.logins += 1
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _writer(self, conn: _Private) -> None:
        while (text := await conn.queue.get()) is not None:
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def _send(self, conn: _Private, obj: object) -> None:
        conn.queue.put_nowait(obj if isinstance(obj, str) else orjson.dumps(obj).decode())

    async def disconnect(self) -> int:
        """Drop every private socket; returns how many."""
        conns = list(self.conns)
        for c in conns:
            c.queue.put_nowait(None)
            await c.ws.close(code=1001, message=b"simulated disconnect")
        return len(conns)

    def _on_text(self, conn: _Private, text: str) -> None:
        if text == "ping":
            self._send(conn, "pong")
            return
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        if self.venue in ("binance", "binance-usdm"):  # USD-M: its WS API, /ws-fapi/v1
            self._binance(conn, msg)
        elif self.venue == "okx":
            self._okx(conn, msg)
        elif self.venue == "bybit":
            self._bybit(conn, msg)

    # -- login steps ----------------------------------------------------------------------

    def _binance(self, conn: _Private, msg: dict[str, Any]) -> None:
        """Spot WS API (`/ws-api/v3`) or USD-M futures WS API (`/ws-fapi/v1`) requests."""
        req_id, params = msg.get("id"), msg.get("params") or {}
        futures = self.venue == "binance-usdm"

        def error(status: int, code: int, text: str) -> None:
            self._send(conn, self._binance_error(req_id, status, code, text))

        method = msg.get("method")
        if method not in (_FAPI_METHODS if futures else _SPOT_METHODS):
            error(400, -1020, "This operation is not supported.")
            return
        if futures and conn.session is not None and "signature" not in params and (
                "apiKey" not in params):
            account = conn.session  # authorized by the connection's session.logon
        else:
            found = self.desk.accounts.get(str(params.get("apiKey", "")))
            if found is None:
                error(401, -2015, "Invalid API-key, IP, or permissions for action.")
                return
            account = found
            payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
            if not _binance_signature_ok(account, payload.encode(),
                                         str(params.get("signature"))):
                error(400, -1022, "Signature for this request is not valid.")
                return
        try:
            ts, recv = int(params.get("timestamp", 0)), int(params.get("recvWindow", 5000))
        except (TypeError, ValueError):
            error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                              "or malformed.")
            return
        if why := self.desk._binance_time_ok(ts, recv):
            error(400, -1021, why)
            return
        if method == "order.place":
            self._binance_place(conn, req_id, params, ts, recv)
            return
        if method == "order.cancel":  # IOC/FOK orders are final already, as over REST
            error(400, -2011, "Unknown order sent.")
            return
        if method == "session.logon":
            if account.ed25519 is None:  # the venue takes Ed25519 keys only (our code: -2015)
                error(401, -2015, "Invalid API-key, IP, or permissions for action.")
                return
            conn.session = account
            self.logins += 1
            now = self.desk.sim.now_ms()
            self._send(conn, {"id": req_id, "status": 200, "result": {
                "apiKey": account.api_key, "authorizedSince": now, "connectedSince": now,
                "returnRateLimits": False, "serverTime": now}})
            return
        conn.account, conn.subscribed = account, True
        conn.subscription_id = self._sub_ids
        self._sub_ids += 1
        self.logins += 1
        self._send(conn, {"id": req_id, "status": 200,
                          "result": {"subscriptionId": conn.subscription_id}})

    def _binance_error(self, req_id: object, status: int, code: int,
                       text: str) -> dict[str, Any]:
        self.desk.stats.refusals.append(str(code))
        out: dict[str, Any] = {"id": req_id, "status": status,
                               "error": {"code": code, "msg": text}}
        return out

    def _binance_place(self, conn: _Private, req_id: object, params: dict[str, Any], ts: int,
                       recv: int) -> None:
        """WS API `order.place`: the REST order's checks, matching, answer and faults (a
        delayed request has its timestamp checked again when it reaches matching)."""
        futures = self.venue == "binance-usdm"
        cid = str(params.get("newClientOrderId", ""))

        def process(fault: _Fault | None) -> object:
            limits, refused = self._fapi_limits() if futures else ([], None)
            if refused is not None:
                answer = self._binance_error(req_id, 429, -1015, refused)
            elif fault is not None and fault.kind == "delay_ack" and (
                    why := self.desk._binance_time_ok(ts, recv)):
                answer = self._binance_error(req_id, 400, -1021, why)
            elif fault is not None and fault.kind == "reject":
                answer = self._binance_error(req_id, 400, -2010, "Account has insufficient "
                                             "balance for requested action.")
            elif cid in self.desk.orders:
                answer = self._binance_error(req_id, 400, -2010, "Duplicate order sent.")
            else:
                try:
                    order = self.desk._execute(
                        str(params["symbol"]), "spot", str(params["side"]).lower(),
                        str(params["timeInForce"]), str(params["price"]),
                        str(params["quantity"]), cid)
                except (KeyError, ValueError) as exc:
                    answer = self._binance_error(req_id, 400, -1102,
                                                 f"Mandatory parameter malformed: {exc}")
                else:
                    answer = {"id": req_id, "status": 200, "result": self.desk._binance_order(
                        order, not futures, full=True)}
            if limits:
                answer["rateLimits"] = limits
            return answer

        self._ws_place(conn, process)

    def _fapi_limits(self) -> tuple[list[dict[str, object]], str | None]:
        """USD-M `rateLimits` after one placement, counted with REST's (shared) windows, and
        the refusal text when an order limit is passed."""
        lim, now = self.desk.limits, self.desk.sim.now_ms()
        weight, _ = self.desk._count("weight", 60_000, now, 1)
        n10, _ = self.desk._count("orders10s", 10_000, now, 1)
        n1m, _ = self.desk._count("orders1M", 60_000, now, 1)
        out: list[dict[str, object]] = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": lim.binance_weight_1m, "count": weight},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": lim.binance_orders_10s, "count": n10},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": lim.binance_orders_long, "count": n1m}]
        if n10 > lim.binance_orders_10s:
            return out, (f"Too many new orders; current limit is {lim.binance_orders_10s} "
                         "orders per 10 SECOND.")
        if n1m > lim.binance_orders_long:
            return out, (f"Too many new orders; current limit is {lim.binance_orders_long} "
                         "orders per MINUTE.")
        return out, None

    def _okx(self, conn: _Private, msg: dict[str, Any]) -> None:
        op, args = msg.get("op"), msg.get("args") or [{}]

        def error(code: str, text: str) -> None:
            self._send(conn, {"event": "error", "code": code, "msg": text,
                              "connId": conn.conn_id})

        if op == "login":
            a = args[0]
            account = self.desk.accounts.get(str(a.get("apiKey", "")))
            if account is None:
                error("60005", "Invalid OK-ACCESS-KEY")
                return
            if a.get("passphrase") != account.passphrase:
                error("60024", "Wrong passphrase")
                return
            ts = str(a.get("timestamp", ""))
            if not ts.isdigit() or abs(self.desk.sim.now_ms() // 1000 - int(ts)) > 30:
                error("60006", "Timestamp request expired")
                return
            expected = base64.b64encode(hmac.new(
                account.secret, f"{ts}GET/users/self/verify".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected.decode(), str(a.get("sign", ""))):
                error("60007", "Invalid sign")
                return
            conn.account = account
            self.logins += 1
            self._send(conn, {"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})
        elif op == "subscribe":
            if conn.account is None:
                error("60011", "Please log in")
                return
            conn.subscribed = True
            self._send(conn, {"event": "subscribe", "arg": args[0], "connId": conn.conn_id})
        elif op == "order":
            self._okx_ws_order(conn, msg)
        elif op == "cancel-order":  # IOC/FOK orders are final already, as over REST
            cid = str(args[0].get("clOrdId", ""))
            self.desk.stats.refusals.append("51400")
            self._send(conn, {"id": str(msg.get("id", "")), "op": "cancel-order", "code": "1",
                              "msg": "", "data": [{
                                  "clOrdId": cid, "ordId": "", "sCode": "51400",
                                  "sMsg": "Order cancellation failed as the order has been "
                                          "filled, canceled or does not exist"}]})

    def _bybit(self, conn: _Private, msg: dict[str, Any]) -> None:
        op, args = msg.get("op"), msg.get("args") or []

        def answer(ok: bool, text: str = "") -> None:
            self._send(conn, {"success": ok, "ret_msg": text, "op": op,
                              "conn_id": conn.conn_id, "req_id": msg.get("req_id", "")})

        if op == "ping":
            self._send(conn, {"op": "pong", "args": [str(self.desk.sim.now_ms())],
                              "conn_id": conn.conn_id, "req_id": msg.get("req_id", "")})
        elif op == "auth":
            account = self.desk.accounts.get(str(args[0]) if args else "")
            if account is None or len(args) != 3:
                answer(False, "Invalid apikey")
                return
            expires = int(args[1])
            if expires <= self.desk.sim.now_ms():
                answer(False, "Request expired")
                return
            expected = hmac.new(account.secret, f"GET/realtime{expires}".encode(),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, str(args[2])):
                answer(False, "Invalid sign")
                return
            conn.account = account
            self.logins += 1
            answer(True)
        elif op == "subscribe":
            if conn.account is None:
                answer(False, "Request not authorized")
                return
            conn.subscribed = True
            answer(True)
        elif op == "order.create":
            self._bybit_ws_order(conn, msg)
        elif op == "order.cancel":  # IOC/FOK orders are final already, as over REST
            spot = (args[0] if args else {}).get("category") == "spot"
            code, text = (170213, "Order does not exist.") if spot else (110001,
                                                                        "Order does not exist")
            self.desk.stats.refusals.append(str(code))
            self._send(conn, {"reqId": str(msg.get("reqId", "")), "retCode": code,
                              "retMsg": text, "op": "order.cancel", "data": {},
                              "retExtInfo": {}, "header": {}, "connId": conn.conn_id})

    # -- events ---------------------------------------------------------------------------

    def publish(self, order: SimOrder) -> None:
        """Push one accepted order's events to every subscribed private socket."""
        targets = [c for c in self.conns if c.subscribed]
        if not targets:
            return
        frames = (self._binance_events(order) if self.venue == "binance"
                  else self._okx_events(order) if self.venue == "okx"
                  else self._bybit_events(order) if self.venue == "bybit"
                  else self._usdm_events(order) if self.venue == "binance-usdm" else [])
        for c in targets:
            for f in frames:
                if self.venue == "binance":
                    f = {"subscriptionId": c.subscription_id, "event": f}
                self._send(c, f)

    def _scales(self, o: SimOrder) -> tuple[int, int]:
        feed = self.desk.sim.feed(o.symbol, o.category)
        return feed.px_dec, feed.qty_dec

    def _fees(self, o: SimOrder) -> list[int]:
        return [p * q * self.desk.taker_fee_ppm // 1_000_000 for p, q in o.fills]

    def _binance_events(self, o: SimOrder) -> list[dict[str, Any]]:
        pd, qd = self._scales(o)
        base = {"e": "executionReport", "E": o.ts_ms, "s": o.symbol, "c": o.client_order_id,
                "S": o.side.upper(), "o": "LIMIT", "f": o.tif, "q": _fmt(o.qty_units, qd),
                "p": _fmt(o.price_units, pd), "C": "", "r": "NONE", "i": o.venue_order_id,
                "T": o.ts_ms, "O": o.ts_ms}
        out = [base | {"x": "NEW", "X": "NEW", "l": "0", "z": "0", "L": "0", "n": "0",
                       "N": None, "t": -1, "Z": "0"}]
        cum = cum_quote = 0
        for k, ((px, qty), fee) in enumerate(zip(o.fills, self._fees(o), strict=True)):
            cum += qty
            cum_quote += px * qty
            out.append(base | {
                "x": "TRADE", "X": "FILLED" if cum == o.qty_units else "PARTIALLY_FILLED",
                "l": _fmt(qty, qd), "z": _fmt(cum, qd), "L": _fmt(px, pd),
                "n": _fmt(fee, pd + qd), "N": quote_asset(o.symbol), "t": k + 1,
                "Z": _fmt(cum_quote, pd + qd)})
        if o.filled_units < o.qty_units:
            out.append(base | {"x": "EXPIRED", "X": "EXPIRED", "l": "0", "z": _fmt(cum, qd),
                               "L": "0", "n": "0", "N": None, "t": -1,
                               "Z": _fmt(cum_quote, pd + qd)})
        return out

    def _okx_events(self, o: SimOrder) -> list[dict[str, Any]]:
        pd, qd = self._scales(o)

        def push(state: str, fill_qty: int = 0, fill_px: int = 0, fee: int = 0,
                 trade: str = "", cum: int = 0, cum_quote: int = 0) -> dict[str, Any]:
            return {"arg": {"channel": "orders", "instType": "ANY", "uid": "1"}, "data": [{
                "instId": o.symbol, "ordId": str(o.venue_order_id),
                "clOrdId": o.client_order_id, "side": o.side, "ordType": o.tif.lower(),
                "px": _fmt(o.price_units, pd), "sz": _fmt(o.qty_units, qd), "state": state,
                "fillSz": _fmt(fill_qty, qd), "fillPx": _fmt(fill_px, pd) if fill_qty else "",
                "tradeId": trade, "accFillSz": _fmt(cum, qd),
                "avgPx": _fmt(cum_quote // cum, pd) if cum else "",
                "fillFee": "-" + _fmt(fee, pd + qd) if fee else "0",
                "fillFeeCcy": quote_asset(o.symbol) if fill_qty else "",
                "uTime": str(o.ts_ms), "code": "0", "msg": ""}]}

        out = [push("live")]
        cum = cum_quote = 0
        for k, ((px, qty), fee) in enumerate(zip(o.fills, self._fees(o), strict=True)):
            cum += qty
            cum_quote += px * qty
            state = "filled" if cum == o.qty_units else "partially_filled"
            out.append(push(state, qty, px, fee, str(k + 1), cum, cum_quote))
        if o.filled_units < o.qty_units:
            out.append(push("canceled", cum=cum, cum_quote=cum_quote))
        return out

    def _bybit_events(self, o: SimOrder) -> list[dict[str, Any]]:
        pd, qd = self._scales(o)
        category = "spot" if o.category == "spot" else "linear"

        def order(status: str, cum: int, cum_quote: int) -> dict[str, Any]:
            return {"topic": "order", "id": secrets.token_hex(4), "creationTime": o.ts_ms,
                    "data": [{"category": category, "symbol": o.symbol,
                              "orderId": str(o.venue_order_id), "orderLinkId": o.client_order_id,
                              "side": o.side.capitalize(), "orderStatus": status,
                              "rejectReason": "EC_NoError", "cumExecQty": _fmt(cum, qd),
                              "cumExecValue": _fmt(cum_quote, pd + qd),
                              "updatedTime": str(o.ts_ms)}]}

        out = [order("New", 0, 0)]
        left = o.qty_units
        for k, ((px, qty), fee) in enumerate(zip(o.fills, self._fees(o), strict=True)):
            left -= qty
            out.append({"topic": "execution", "id": secrets.token_hex(4),
                        "creationTime": o.ts_ms, "data": [{
                            "category": category, "symbol": o.symbol,
                            "orderId": str(o.venue_order_id), "orderLinkId": o.client_order_id,
                            "side": o.side.capitalize(), "execType": "Trade",
                            "execId": f"{o.venue_order_id}-{k + 1}", "execPrice": _fmt(px, pd),
                            "execQty": _fmt(qty, qd), "execFee": _fmt(fee, pd + qd),
                            "feeCurrency": quote_asset(o.symbol), "leavesQty": _fmt(left, qd),
                            "orderQty": _fmt(o.qty_units, qd), "execTime": str(o.ts_ms)}]})
        if o.filled_units == o.qty_units:
            status = "Filled"
        elif o.filled_units and category == "spot":
            status = "PartiallyFilledCanceled"
        else:
            status = "Cancelled"
        out.append(order(status, o.filled_units, o.quote_units))
        return out

    # -- WS order entry (OKX op "order", Bybit /v5/trade "order.create") --------------------

    def _ws_place(self, conn: _Private, process: Callable[[_Fault | None], object]) -> None:
        """Process one WS placement with the desk's next fault: `delay_ack` runs it late,
        `timeout_after_accept` sends its answer late."""
        fault = self.desk.faults.pop(0) if self.desk.faults else None
        loop = asyncio.get_running_loop()

        def run() -> None:
            answer = process(fault)
            if fault is not None and fault.kind == "timeout_after_accept":
                loop.call_later(fault.seconds, self._send, conn, answer)
            else:
                self._send(conn, answer)

        if fault is not None and fault.kind == "delay_ack":
            loop.call_later(fault.seconds, run)
        else:
            run()

    def _okx_ws_order(self, conn: _Private, msg: dict[str, Any]) -> None:
        req_id = str(msg.get("id", ""))
        a = (msg.get("args") or [{}])[0]
        cid = str(a.get("clOrdId", ""))

        def answer(code: str, text: str, data: list[dict[str, str]]) -> dict[str, Any]:
            if code != "0":
                self.desk.stats.refusals.append(data[0]["sCode"] if data else code)
            now = str(self.desk.sim.now_ms())
            return {"id": req_id, "op": "order", "code": code, "msg": text, "data": data,
                    "inTime": now, "outTime": now}

        def refuse(s_code: str, s_msg: str) -> dict[str, Any]:
            return answer("1", "", [{"clOrdId": cid, "ordId": "", "tag": "",
                                     "ts": str(self.desk.sim.now_ms()), "sCode": s_code,
                                     "sMsg": s_msg}])

        if conn.account is None:
            self._send(conn, answer("60011", "Please log in", []))
            return

        def process(fault: _Fault | None) -> object:
            exp = str(msg.get("expTime", ""))
            if exp and (not exp.isdigit() or self.desk.sim.now_ms() > int(exp)):
                return answer("50036", "The expTime can't be earlier than the current system "
                                       "time. Please adjust the expTime and try again.", [])
            if fault is not None and fault.kind == "reject":
                return refuse("51008", "Order failed. Insufficient USDT balance in account.")
            if cid in self.desk.orders:
                return refuse("51016", "Duplicated clOrdId")
            try:
                order = self.desk._execute(str(a["instId"]), "spot", str(a["side"]),
                                           str(a["ordType"]).upper(), str(a["px"]),
                                           str(a["sz"]), cid)
            except (KeyError, ValueError) as exc:
                return refuse("51000", f"Parameter error: {exc}")
            return answer("0", "", [{"clOrdId": cid, "ordId": str(order.venue_order_id),
                                     "tag": "", "ts": str(order.ts_ms), "sCode": "0",
                                     "sMsg": "Order placed"}])

        self._ws_place(conn, process)

    def _bybit_ws_order(self, conn: _Private, msg: dict[str, Any]) -> None:
        req_id = str(msg.get("reqId", ""))
        a = (msg.get("args") or [{}])[0]
        cid = str(a.get("orderLinkId", ""))
        spot = a.get("category") == "spot"

        def answer(code: int, text: str, data: dict[str, str]) -> dict[str, Any]:
            now = self.desk.sim.now_ms()
            used, end = self.desk._count("bybit:/v5/order/create", 1000, now, 1)
            limit = self.desk.limits.bybit_per_s
            if code:
                self.desk.stats.refusals.append(str(code))
            return {"reqId": req_id, "retCode": code, "retMsg": text, "op": "order.create",
                    "data": data, "retExtInfo": {}, "header": {
                        "X-Bapi-Limit": str(limit),
                        "X-Bapi-Limit-Status": str(max(0, limit - used)),
                        "X-Bapi-Limit-Reset-Timestamp": str(end), "Timenow": str(now)},
                    "connId": conn.conn_id}

        if conn.account is None:
            self._send(conn, answer(10003, "Request not authorized", {}))
            return
        h = msg.get("header") or {}
        try:
            ts, recv = int(h["X-BAPI-TIMESTAMP"]), int(h.get("X-BAPI-RECV-WINDOW", 5000))
        except (KeyError, ValueError):
            self._send(conn, answer(10001, "Request parameter error.", {}))
            return
        now = self.desk.sim.now_ms()
        if not now - recv <= ts < now + 1000:
            self._send(conn, answer(10002, "The request time exceeds the time window range.",
                                    {}))
            return

        def process(fault: _Fault | None) -> object:
            if fault is not None and fault.kind == "reject":
                return (answer(170131, "Balance insufficient", {}) if spot
                        else answer(110007, "Available balance is insufficient", {}))
            if cid in self.desk.orders:
                return (answer(170141, "Duplicate clientOrderId", {}) if spot
                        else answer(110072, "OrderLinkedID is duplicate", {}))
            try:
                order = self.desk._execute(str(a["symbol"]), "spot" if spot else "linear",
                                           str(a["side"]).lower(), str(a["timeInForce"]),
                                           str(a["price"]), str(a["qty"]), cid)
            except (KeyError, ValueError):
                return answer(10001, "Request parameter error.", {})
            return answer(0, "OK", {"orderId": str(order.venue_order_id), "orderLinkId": cid})

        self._ws_place(conn, process)

    # -- USD-M listenKey stream ------------------------------------------------------------

    async def handle_listen_key(self, request: web.Request) -> web.Response:
        """`POST|PUT|DELETE /fapi/v1/listenKey`: USER_STREAM security (API key, no signature)."""
        account = self.desk.accounts.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None:
            return self.desk._binance_err(401, -2015,
                                          "Invalid API-key, IP, or permissions for action.")
        active = next((k for k, a in self.listen_keys.items() if a is account), None)
        if request.method == "POST":
            key = active or secrets.token_urlsafe(48)
            self.listen_keys[key] = account
            return self.desk._json(200, {"listenKey": key})
        if active is None:
            return self.desk._binance_err(400, -1125, "This listenKey does not exist.")
        if request.method == "DELETE":
            del self.listen_keys[active]
            return self.desk._json(200, {})
        return self.desk._json(200, {"listenKey": active})

    def expire_listen_keys(self) -> int:
        """Every key lapses: `listenKeyExpired` on its sockets, which stop getting events."""
        now = self.desk.sim.now_ms()
        for key, account in self.listen_keys.items():
            for c in [c for c in self.conns if c.account is account]:
                self._send(c, {"e": "listenKeyExpired", "E": now, "listenKey": key})
                c.subscribed = False
        n = len(self.listen_keys)
        self.listen_keys.clear()
        return n

    def _usdm_events(self, o: SimOrder) -> list[dict[str, Any]]:
        pd, qd = self._scales(o)
        base = {"s": o.symbol, "c": o.client_order_id, "S": o.side.upper(), "o": "LIMIT",
                "f": o.tif, "q": _fmt(o.qty_units, qd), "p": _fmt(o.price_units, pd),
                "sp": "0", "i": o.venue_order_id, "T": o.ts_ms, "b": "0", "a": "0",
                "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH",
                "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_TAKER",
                "pm": "NONE", "gtd": 0}

        def event(order: dict[str, Any]) -> dict[str, Any]:
            return {"e": "ORDER_TRADE_UPDATE", "E": o.ts_ms, "T": o.ts_ms, "o": base | order}

        out = [event({"x": "NEW", "X": "NEW", "ap": "0", "l": "0", "z": "0", "L": "0",
                      "t": 0})]
        cum = cum_quote = 0
        for k, ((px, qty), fee) in enumerate(zip(o.fills, self._fees(o), strict=True)):
            cum += qty
            cum_quote += px * qty
            out.append(event({
                "x": "TRADE", "X": "FILLED" if cum == o.qty_units else "PARTIALLY_FILLED",
                "ap": _fmt(cum_quote // cum, pd), "l": _fmt(qty, qd), "z": _fmt(cum, qd),
                "L": _fmt(px, pd), "N": quote_asset(o.symbol), "n": _fmt(fee, pd + qd),
                "t": k + 1}))
        if o.filled_units < o.qty_units:
            out.append(event({"x": "EXPIRED", "X": "EXPIRED", "l": "0", "z": _fmt(cum, qd),
                              "L": "0", "t": 0,
                              "ap": _fmt(cum_quote // cum, pd) if cum else "0"}))
        return out


def _binance_signature_ok(account: Account, payload: bytes, signature: str) -> bool:
    if account.ed25519 is not None:
        try:
            account.ed25519.verify(base64.b64decode(signature, validate=True), payload)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True
    expected = hmac.new(account.secret, payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())
