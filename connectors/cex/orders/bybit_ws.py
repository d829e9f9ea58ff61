"""Bybit v5 private WebSocket: auth, `order` + `execution` topics and their parser. Sans-I/O.

Auth (docs/v5/websocket/wss-authentication.mdx): `{"op":"auth","args":[api_key, expires,
signature]}`, `expires` a ms timestamp in the future and `signature` = hex HMAC-SHA256(secret,
"GET/realtime" + expires). Then `{"op":"subscribe","args":["order","execution"]}`.

`execution` push (docs/v5/websocket/private/execution.mdx): `{"topic":"execution","id":"..",
"creationTime":1746270400355,"data":[{"category":"linear","symbol":"BTCUSDT","execFee":
"26.3725275","execId":"0ab1bdf7-..","execPrice":"95900.1","execQty":"0.5","execType":"Trade",
"leavesQty":"0","orderId":"9aac161b-..","orderLinkId":"","orderQty":"0.5","side":"Sell",
"execTime":"1746270400353","feeCurrency":"USDT",...}]}`. Fills are reported once, from
`execution`; the `order` topic gives acks, cancels and rejects (its fill states are `other`).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import orjson

from connectors.cex.orders.common import Credentials
from connectors.cex.orders.private import ListenKey
from connectors.cex.orders.updates import OrderUpdate, UpdateKind
from operators.errors import FeedError


def auth(creds: Credentials, expires_ms: int) -> bytes:
    """The auth request, valid until venue-clock ms `expires_ms`."""
    signature = creds.hmac_sha256(f"GET/realtime{expires_ms}".encode()).hex()
    return orjson.dumps({"op": "auth", "args": [creds.api_key, expires_ms, signature]})


def subscribe_orders() -> bytes:
    """Subscribe the account's order and execution topics (after a successful auth)."""
    return orjson.dumps({"op": "subscribe", "args": ["order", "execution"]})


class _Exec(msgspec.Struct, frozen=True):
    symbol: str
    orderId: str
    orderLinkId: str = ""
    side: str = ""
    execType: str = ""
    execId: str = ""
    execPrice: str = "0"
    execQty: str = "0"
    execFee: str = "0"
    feeCurrency: str = ""
    leavesQty: str = "0"
    orderQty: str = "0"
    execTime: str = "0"


class _Order(msgspec.Struct, frozen=True):
    symbol: str
    orderId: str
    orderLinkId: str = ""
    side: str = ""
    orderStatus: str = ""
    rejectReason: str = ""
    cumExecQty: str = "0"
    cumExecValue: str = "0"
    updatedTime: str = "0"


class _Push(msgspec.Struct, frozen=True):
    topic: str
    data: msgspec.Raw


_DECODE = msgspec.json.Decoder(_Push)
_ORDER_KIND: dict[str, UpdateKind] = {
    "New": "ack", "Rejected": "reject", "Cancelled": "cancel",
    "PartiallyFilledCanceled": "cancel", "Deactivated": "cancel",
}


def _d(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def parse_private(frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
    """Order updates in one private-socket frame; [] for acks, pongs and other topics."""
    try:
        push = _DECODE.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return []  # auth/subscribe answers and pongs carry no order
    out: list[OrderUpdate] = []
    try:
        execs = (msgspec.json.decode(push.data, type=list[_Exec])
                 if push.topic == "execution" else [])
        orders = (msgspec.json.decode(push.data, type=list[_Order])
                  if push.topic == "order" else [])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedError(f"bad {push.topic} push: {frame[:160]!r} ({exc})",
                        venue="bybit") from None
    for e in execs:
        if e.execType != "Trade":
            continue  # funding, settlement, ...: not an order fill
        leaves = _d(e.leavesQty)
        out.append(OrderUpdate(
            venue="bybit", symbol=e.symbol, client_order_id=e.orderLinkId,
            venue_order_id=e.orderId, kind="fill" if leaves == 0 else "partial",
            side=e.side.lower(), last_qty=_d(e.execQty), last_price=_d(e.execPrice),
            cum_qty=_d(e.orderQty) - leaves, cum_quote=None, fee=_d(e.execFee),
            fee_asset=e.feeCurrency, trade_id=e.execId, reason="",
            ts_event_ns=int(e.execTime or 0) * 1_000_000, ts_recv_ns=ts_recv_ns))
    for o in orders:
        out.append(OrderUpdate(
            venue="bybit", symbol=o.symbol, client_order_id=o.orderLinkId,
            venue_order_id=o.orderId, kind=_ORDER_KIND.get(o.orderStatus, "other"),
            side=o.side.lower(), last_qty=Decimal(0), last_price=Decimal(0),
            cum_qty=_d(o.cumExecQty), cum_quote=_d(o.cumExecValue), fee=Decimal(0),
            fee_asset="", trade_id="",
            reason=o.rejectReason if o.orderStatus == "Rejected" else "",
            ts_event_ns=int(o.updatedTime or 0) * 1_000_000, ts_recv_ns=ts_recv_ns))
    return out


class _OpReply(msgspec.Struct, frozen=True):
    op: str
    success: bool


AUTH_VALID_MS = 10_000
"""How long an auth request stays valid (`expires` = now + this)."""


class BybitUserStream:
    """Bybit's private `order` + `execution` topics (`PrivateStream`)."""

    ping: bytes | None = b'{"op":"ping"}'
    ping_interval_s = 20.0
    listen_key: ListenKey | None = None

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """Auth, then subscribe."""
        return [auth(creds, now_ms + AUTH_VALID_MS), subscribe_orders()]

    def step_reply(self, frame: bytes) -> bool | None:
        """`auth` / `subscribe` answers carry `success`; None for anything else."""
        try:
            r = msgspec.json.decode(frame, type=_OpReply)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return r.success if r.op in ("auth", "subscribe") else None

    def parse(self, frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
        """Order updates in one frame."""
        return parse_private(frame, ts_recv_ns)


STREAM = BybitUserStream()
