"""Binance spot WebSocket API: signed requests (user-data subscription, WS order entry) and the
user-data `executionReport` parser. Sans-I/O.

Since 2026-02-20 the REST listenKey endpoints are retired; user data comes over the WebSocket
API (web-socket-api.md): `userDataStream.subscribe.signature` `{"apiKey","timestamp",
"signature"}` subscribes with any key type, and events arrive wrapped as
`{"subscriptionId": 0, "event": {...}}` (user-data-stream.md).

Signing (web-socket-api.md, "SIGNED request example (HMAC)"): take every param but `signature`,
sort by name, join as `name=value` with `&` (UTF-8, no percent-encoding), sign: hex
HMAC-SHA256 with an HMAC key, base64 Ed25519 with an Ed25519 key.

`executionReport` sample (user-data-stream.md): `{"e":"executionReport","E":1499405658658,
"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000",
"p":"0.10264410",...,"x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000",
"z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,...,
"Z":"0.00000000",...}`: `x` is what happened now (NEW, TRADE, CANCELED, EXPIRED, REJECTED,
TRADE_PREVENTION), `X` the order's status, `l`/`L` this fill, `z`/`Z` cumulative base/quote,
`n`/`N` this fill's commission and asset.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import orjson

from connectors.cex.orders.codec import WsAnswer, cancel_request_id
from connectors.cex.orders.common import Credentials, OrderSpec, SymbolFilters
from connectors.cex.orders.private import ListenKey
from connectors.cex.orders.updates import OrderUpdate, UpdateKind
from operators.errors import FeedError

Param = str | int


def sign_params(creds: Credentials, params: dict[str, Param]) -> str:
    """The WS API signature of `params` (all but `signature`), sorted by name."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    if creds.is_ed25519:
        return creds.ed25519_b64(payload.encode())
    return creds.hmac_sha256(payload.encode()).hex()


def request(creds: Credentials, req_id: str, method: str, params: dict[str, Param]) -> bytes:
    """A signed WS API request: `params` plus `apiKey` and `signature`, as JSON bytes."""
    signed = {**params, "apiKey": creds.api_key}
    signed["signature"] = sign_params(creds, signed)
    return orjson.dumps({"id": req_id, "method": method, "params": signed})


def subscribe_user_data(creds: Credentials, req_id: str, ts_ms: int) -> bytes:
    """`userDataStream.subscribe.signature`: the account's events on this connection."""
    return request(creds, req_id, "userDataStream.subscribe.signature", {"timestamp": ts_ms})


def session_request(req_id: str, method: str, params: dict[str, Param]) -> bytes:
    """A request on a connection authenticated by `session.logon`: no `apiKey`, no
    `signature` (the session's key authorizes it; `timestamp` and `recvWindow` still count)."""
    return orjson.dumps({"id": req_id, "method": method, "params": params})


def place_order(creds: Credentials, filters: SymbolFilters, spec: OrderSpec, req_id: str,
                ts_ms: int, recv_window_ms: int, *, resp_type: str = "FULL",
                session: bool = False) -> bytes:
    """`order.place` over the WS API: the same limit IOC/FOK order as the REST codec's
    (`resp_type`: spot `FULL`, USD-M `RESULT`; `session`: the connection is logged in)."""
    params: dict[str, Param] = {
        "symbol": spec.symbol, "side": spec.side.upper(), "type": "LIMIT",
        "timeInForce": spec.tif, "quantity": filters.qty_str(spec.qty_units),
        "price": filters.price_str(spec.price_units), "newClientOrderId": spec.client_order_id,
        "newOrderRespType": resp_type, "recvWindow": recv_window_ms, "timestamp": ts_ms,
    }
    if session:
        return session_request(req_id, "order.place", params)
    return request(creds, req_id, "order.place", params)


class _Exec(msgspec.Struct, frozen=True):
    e: str
    E: int = 0
    s: str = ""
    c: str = ""
    C: str = ""
    S: str = ""
    x: str = ""
    X: str = ""
    r: str = ""
    i: int = 0
    l: str = "0"  # noqa: E741 - the venue's field name
    L: str = "0"
    z: str = "0"
    Z: str = "0"
    n: str = "0"
    N: str | None = None
    t: int = -1


class _Wrapped(msgspec.Struct, frozen=True):
    event: msgspec.Raw
    subscriptionId: int = 0


class _Type(msgspec.Struct, frozen=True):
    e: str


_DECODE_WRAPPED = msgspec.json.Decoder(_Wrapped)
_DECODE_TYPE = msgspec.json.Decoder(_Type)
_DECODE_EXEC = msgspec.json.Decoder(_Exec)


def execution_kind(x: str, status: str) -> UpdateKind:
    """The update kind of a Binance execution type `x` and order status (spot
    `executionReport` and USD-M `ORDER_TRADE_UPDATE` share the vocabulary)."""
    if x == "NEW":
        return "ack"
    if x == "TRADE":
        return "fill" if status == "FILLED" else "partial"
    if x == "CANCELED":
        return "cancel"
    if x in ("EXPIRED", "TRADE_PREVENTION"):
        return "expire"
    if x == "REJECTED":
        return "reject"
    return "other"


def parse_user_data(frame: bytes, ts_recv_ns: int, venue: str = "binance") -> list[OrderUpdate]:
    """Order updates in one WS API frame; [] for responses and non-order events."""
    try:
        wrapped = _DECODE_WRAPPED.decode(frame)
        kind = _DECODE_TYPE.decode(wrapped.event).e
    except (msgspec.ValidationError, msgspec.DecodeError):
        return []  # a request's response, or not an event: nothing about orders
    if kind != "executionReport":
        return []  # balance/account events, stream terminated: not orders
    try:
        ev = _DECODE_EXEC.decode(wrapped.event)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedError(f"bad executionReport: {frame[:160]!r} ({exc})", venue=venue) from None
    return [OrderUpdate(
        venue=venue, symbol=ev.s, client_order_id=ev.C if ev.x == "CANCELED" and ev.C else ev.c,
        venue_order_id=str(ev.i), kind=execution_kind(ev.x, ev.X), side=ev.S.lower(),
        last_qty=Decimal(ev.l), last_price=Decimal(ev.L), cum_qty=Decimal(ev.z),
        cum_quote=Decimal(ev.Z), fee=Decimal(ev.n), fee_asset=ev.N or "",
        trade_id=str(ev.t) if ev.t >= 0 else "", reason=ev.r if ev.r != "NONE" else "",
        ts_event_ns=ev.E * 1_000_000, ts_recv_ns=ts_recv_ns)]


class _Reply(msgspec.Struct, frozen=True):
    id: str | int | None = None
    status: int = 0


def status_reply(frame: bytes) -> bool | None:
    """A WS API response to one of our requests: True for `status` 200, False for another
    status; None for anything that is not a response (events, unreadable frames)."""
    try:
        r = msgspec.json.decode(frame, type=_Reply)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if r.id is None or not r.status:
        return None
    return r.status == 200


class BinanceUserStream:
    """Binance spot's private stream over the WS API (`PrivateStream`)."""

    ping: bytes | None = None  # the server pings; aiohttp answers
    ping_interval_s = 30.0
    listen_key: ListenKey | None = None

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """One step: the signed user-data subscription."""
        return [subscribe_user_data(creds, f"uds{now_ms}", now_ms)]

    def step_reply(self, frame: bytes) -> bool | None:
        """A response to our request (`status` 200 = subscribed); None for events."""
        return status_reply(frame)

    def parse(self, frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
        """Order updates in one frame."""
        return parse_user_data(frame, ts_recv_ns)


STREAM = BinanceUserStream()


class _Limit(msgspec.Struct, frozen=True):
    rateLimitType: str
    interval: str
    intervalNum: int
    count: int = 0


class _Answer(msgspec.Struct, frozen=True):
    id: str | int | None = None
    status: int = 0
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: msgspec.Raw = msgspec.Raw(b"null")
    rateLimits: list[_Limit] = []


_DECODE_ANSWER = msgspec.json.Decoder(_Answer)
_USAGE_HEADER = {"REQUEST_WEIGHT": "X-MBX-USED-WEIGHT-", "ORDERS": "X-MBX-ORDER-COUNT-"}


class BinanceWsOrders:
    """Order entry over a Binance WS API (`WsOrderCodec`): `order.place`, answered as REST.

    Spot (`ws-api/v3`, `FULL` answers, every request signed) and USD-M futures (`ws-fapi/v1`,
    `RESULT` answers; an Ed25519 key logs the connection in once with `session.logon`, then
    its requests carry neither `apiKey` nor `signature`: binance_usdm_ws.py) share it.
    """

    def __init__(self, *, resp_type: str = "FULL", session_logon: bool = False) -> None:
        self.resp_type = resp_type
        self.session_logon = session_logon
        """Log Ed25519 keys in with `session.logon` (the venue supports it for Ed25519 only)."""

    def _session(self, creds: Credentials) -> bool:
        return self.session_logon and creds.is_ed25519

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """`session.logon` for an Ed25519 key where the venue takes it; else none (every
        request is signed on its own)."""
        if not self._session(creds):
            return []
        return [request(creds, f"logon{now_ms}", "session.logon", {"timestamp": now_ms})]

    def step_reply(self, frame: bytes) -> bool | None:
        """The `session.logon` answer: `status` 200 = logged in; None for anything else."""
        return status_reply(frame)

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> bytes:
        """`order.place` with the client order id as the request id."""
        return place_order(creds, filters, spec, spec.client_order_id, ts_ms, recv_window_ms,
                           resp_type=self.resp_type, session=self._session(creds))

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> bytes:
        """`order.cancel` by `origClientOrderId`."""
        params: dict[str, Param] = {
            "symbol": filters.symbol, "origClientOrderId": client_order_id,
            "recvWindow": recv_window_ms, "timestamp": ts_ms}
        if self._session(creds):
            return session_request(cancel_request_id(client_order_id), "order.cancel", params)
        return request(creds, cancel_request_id(client_order_id), "order.cancel", params)

    def answer(self, frame: bytes) -> WsAnswer | None:
        """`{"id","status","result"|"error","rateLimits"}`: `result` is the REST answer body,
        `error` the REST error body; `rateLimits` counts become the REST usage headers."""
        try:
            a = _DECODE_ANSWER.decode(frame)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if a.id is None or not a.status:
            return None  # an event, not an answer
        ok = bytes(a.result) != b"null"
        headers = tuple((f"{_USAGE_HEADER[x.rateLimitType]}{x.intervalNum}{x.interval[0]}",
                         str(x.count)) for x in a.rateLimits if x.rateLimitType in _USAGE_HEADER)
        return WsAnswer(str(a.id), a.status if ok or a.status != 200 else 400,
                        bytes(a.result if ok else a.error), headers)


ORDERS = BinanceWsOrders()
