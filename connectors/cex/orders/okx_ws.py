"""OKX private WebSocket: login, the `orders` channel subscription and its parser. Sans-I/O.

Login (OKX v5 docs, WebSocket "Login"): `{"op":"login","args":[{"apiKey","passphrase",
"timestamp","sign"}]}` where `timestamp` is Unix seconds and `sign` = base64(HMAC-SHA256(secret,
timestamp + "GET" + "/users/self/verify")). Then `{"op":"subscribe","args":[{"channel":"orders",
"instType":"ANY"}]}`.

A push: `{"arg":{"channel":"orders","instType":"SPOT","uid":".."},"data":[{"instId":"SOL-USDC",
"ordId":"312269865356374016","clOrdId":"S..","side":"buy","ordType":"ioc","state":"filled",
"fillSz":"2","fillPx":"150.2","tradeId":"242589207","accFillSz":"2","avgPx":"150.2",
"fillFee":"-0.3004","fillFeeCcy":"USDC","uTime":"1695190491439","code":"0","msg":""}]}`:
`state` live | partially_filled | filled | canceled | mmp_canceled; `fill*` is this execution;
fees are negative when charged.
"""

from __future__ import annotations

import base64
from decimal import Decimal

import msgspec
import orjson

from connectors.cex.orders.common import Credentials
from connectors.cex.orders.private import ListenKey
from connectors.cex.orders.updates import OrderUpdate, UpdateKind
from operators.errors import FeedError


def login(creds: Credentials, ts_s: int) -> bytes:
    """The login request at venue-clock Unix seconds `ts_s`."""
    sign = base64.b64encode(creds.hmac_sha256(f"{ts_s}GET/users/self/verify".encode())).decode()
    return orjson.dumps({"op": "login", "args": [{
        "apiKey": creds.api_key, "passphrase": creds.passphrase, "timestamp": str(ts_s),
        "sign": sign}]})


def subscribe_orders(inst_type: str = "ANY") -> bytes:
    """Subscribe the account's order updates (after a successful login)."""
    return orjson.dumps({"op": "subscribe",
                         "args": [{"channel": "orders", "instType": inst_type}]})


class _Arg(msgspec.Struct, frozen=True):
    channel: str


class _Order(msgspec.Struct, frozen=True):
    instId: str
    ordId: str
    clOrdId: str = ""
    side: str = ""
    state: str = ""
    fillSz: str = "0"
    fillPx: str = ""
    tradeId: str = ""
    accFillSz: str = "0"
    avgPx: str = ""
    fillFee: str = "0"
    fillFeeCcy: str = ""
    uTime: str = "0"
    code: str = "0"
    msg: str = ""


class _Push(msgspec.Struct, frozen=True):
    arg: _Arg
    data: msgspec.Raw = msgspec.Raw(b"[]")


_DECODE = msgspec.json.Decoder(_Push)
_DECODE_ORDERS = msgspec.json.Decoder(list[_Order])


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def _kind(o: _Order) -> UpdateKind:
    if o.code not in ("", "0"):
        return "reject"
    filled_now = _dec(o.fillSz) > 0
    if o.state == "filled":
        return "fill"
    if o.state == "partially_filled":
        return "partial" if filled_now else "other"
    if o.state in ("canceled", "mmp_canceled"):
        return "cancel"
    if o.state == "live":
        return "ack"
    return "other"


def parse_orders(frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
    """Order updates in one private-socket frame; [] for events, pongs and other channels."""
    try:
        push = _DECODE.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return []  # login/subscribe events and "pong" carry no order
    if push.arg.channel != "orders":
        return []
    try:
        orders = _DECODE_ORDERS.decode(push.data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedError(f"bad orders push: {frame[:160]!r} ({exc})", venue="okx") from None
    out = []
    for o in orders:
        cum = _dec(o.accFillSz)
        out.append(OrderUpdate(
            venue="okx", symbol=o.instId, client_order_id=o.clOrdId, venue_order_id=o.ordId,
            kind=_kind(o), side=o.side, last_qty=_dec(o.fillSz), last_price=_dec(o.fillPx),
            cum_qty=cum, cum_quote=cum * _dec(o.avgPx), fee=-_dec(o.fillFee),
            fee_asset=o.fillFeeCcy, trade_id=o.tradeId,
            reason=o.msg if o.code not in ("", "0") else "",
            ts_event_ns=int(o.uTime or 0) * 1_000_000, ts_recv_ns=ts_recv_ns))
    return out


class _Event(msgspec.Struct, frozen=True):
    event: str
    code: str = "0"


class OkxUserStream:
    """OKX's private `orders` channel (`PrivateStream`)."""

    ping: bytes | None = b"ping"
    ping_interval_s = 15.0
    listen_key: ListenKey | None = None

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """Login, then subscribe."""
        return [login(creds, now_ms // 1000), subscribe_orders()]

    def step_reply(self, frame: bytes) -> bool | None:
        """`login` / `subscribe` events are OK, `error` is a refusal; None otherwise."""
        try:
            e = msgspec.json.decode(frame, type=_Event)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if e.event in ("login", "subscribe"):
            return e.code in ("", "0")
        return False if e.event == "error" else None

    def parse(self, frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
        """Order updates in one frame."""
        return parse_orders(frame, ts_recv_ns)


STREAM = OkxUserStream()
