"""Binance USD-M futures: the user-data stream (listenKey, `ORDER_TRADE_UPDATE`) and the order
entry over the futures WebSocket API. Sans-I/O.

Unlike spot (whose REST listenKey endpoints are retired, see binance_ws.py), USD-M futures
still opens its user-data stream with a listenKey (derivatives docs, "User Data Streams"):
`POST /fapi/v1/listenKey` (security type USER_STREAM: the `X-MBX-APIKEY` header, no
signature) answers `{"listenKey": ".."}`; the key is valid 60 minutes, `PUT` extends it by 60
minutes (-1125 "This listenKey does not exist." when it has lapsed: POST again), `DELETE`
closes it; a POST while a key is active returns that key. The stream is a plain socket at
`<private ws base>/<listenKey>` (production `wss://fstream.binance.com/private/ws/<key>`;
the URL is configuration), the server pings, nothing is sent after connecting. When the key
lapses the stream sends `{"e":"listenKeyExpired",...}` and stops: the client reconnects with
a new key and reconciles.

`ORDER_TRADE_UPDATE` sample (derivatives docs, "Event: Order Update"): `{"e":
"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"TEST",
"S":"SELL","o":"LIMIT","f":"IOC","q":"0.001","p":"7103.04","ap":"0","sp":"0","x":"NEW",
"X":"NEW","i":8886774,"l":"0","z":"0","L":"0","N":"USDT","n":"0","T":1568879465650,"t":0,
"b":"0","a":"9.91","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH",
"cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_TAKER","pm":"NONE","gtd":0}}`:
`x` what happened now (NEW, TRADE, CANCELED, EXPIRED, CALCULATED, AMENDMENT: the spot
vocabulary, read by binance_ws.execution_kind; the last two are `other`), `X` the order's
status, `l`/`L` this fill, `z` cumulative qty, `ap` average price, `n`/`N` this fill's
commission and asset (absent on events without a fill).

WS order entry (derivatives docs, "WebSocket API General Info" and "New Order (TRADE)"): its
own endpoint, production `wss://ws-fapi.binance.com/ws-fapi/v1` (testnet
`wss://testnet.binancefuture.com/ws-fapi/v1`; configuration, `order_ws_url`), a connection
lives at most 24 h and the server pings every 3 minutes. Requests are one JSON text frame
`{"id","method","params"}` (the id is echoed back, never interpreted; ours is the client order
id), methods `order.place`, `order.cancel`, `order.status` (and `session.logon`). INT
parameters (`timestamp`, `recvWindow`) are JSON integers, DECIMAL ones (`price`,
`quantity`) JSON strings. Signing is spot's WS API rule: every param but `signature`, sorted
by name, joined `name=value` with `&`; hex HMAC-SHA256 or base64 Ed25519 (binance_ws.py).
`session.logon` (`apiKey`, `timestamp`, `signature`; Ed25519 keys only) authenticates the
connection, after which requests may omit `apiKey` and `signature`; HMAC keys sign every
request. The timing rule is REST's (-1021). `newOrderRespType` `RESULT` makes a LIMIT IOC/FOK
answer carry its final status (FILLED or EXPIRED) with `executedQty`, `cumQuote`, `avgPrice`
(the REST RESULT body, no fees). Answers: `{"id","status":200,"result":{..},"rateLimits":[..]}`
or `{"id","status":4xx,"error":{"code","msg"},"rateLimits":[..]}`, the codes REST's; the
limits are shared with REST (REQUEST_WEIGHT 2400/min, ORDERS 300/10 s and 1200/min), so each
`rateLimits` count is read as the REST usage header it mirrors (`X-MBX-ORDER-COUNT-1M`, ...).
A key revoked mid-session gets `{"id":null,"status":401,"error":{"code":-2015,..}}` (no id:
the order it cut off is resolved by query). We send `order.place` and `order.cancel`; an
order whose answer never came is queried over REST (`order.status` unused), as for every venue.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from connectors.cex.orders.binance_ws import BinanceWsOrders, execution_kind
from connectors.cex.orders.common import Credentials
from connectors.cex.orders.private import ListenKey
from connectors.cex.orders.updates import OrderUpdate
from operators.errors import FeedError

LISTEN_KEY_PATH = "/fapi/v1/listenKey"
KEEPALIVE_S = 30 * 60.0
"""PUT every 30 minutes: the key lives 60, so one lost keepalive is survivable."""


class _Order(msgspec.Struct, frozen=True):
    s: str
    c: str
    S: str
    x: str
    X: str
    i: int
    l: str = "0"  # noqa: E741 - the venue's field name
    L: str = "0"
    z: str = "0"
    ap: str = "0"
    n: str = "0"
    N: str | None = None
    t: int = 0
    T: int = 0


class _Event(msgspec.Struct, frozen=True):
    e: str
    E: int = 0
    o: msgspec.Raw = msgspec.Raw(b"null")


_DECODE_EVENT = msgspec.json.Decoder(_Event)
_DECODE_ORDER = msgspec.json.Decoder(_Order)


def parse_user_data(frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
    """Order updates in one frame; [] for account/margin events; `FeedError` when the
    listenKey expired (the stream has ended: reconnect with a new key, then reconcile)."""
    try:
        ev = _DECODE_EVENT.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return []  # not an event
    if ev.e == "listenKeyExpired":
        raise FeedError("listenKey expired: the user-data stream has ended",
                        venue="binance-usdm")
    if ev.e != "ORDER_TRADE_UPDATE":
        return []  # ACCOUNT_UPDATE, MARGIN_CALL, TRADE_LITE, ...: not order states
    try:
        o = _DECODE_ORDER.decode(ev.o)
        cum_qty, avg_px = Decimal(o.z), Decimal(o.ap)
        update = OrderUpdate(
            venue="binance-usdm", symbol=o.s, client_order_id=o.c, venue_order_id=str(o.i),
            kind=execution_kind(o.x, o.X), side=o.S.lower(), last_qty=Decimal(o.l),
            last_price=Decimal(o.L), cum_qty=cum_qty, cum_quote=cum_qty * avg_px,
            fee=Decimal(o.n), fee_asset=o.N or "", trade_id=str(o.t) if o.t else "",
            reason="", ts_event_ns=(o.T or ev.E) * 1_000_000, ts_recv_ns=ts_recv_ns)
    except (msgspec.ValidationError, msgspec.DecodeError, ArithmeticError) as exc:
        raise FeedError(f"bad ORDER_TRADE_UPDATE: {frame[:160]!r} ({exc})",
                        venue="binance-usdm") from None
    return [update]


class BinanceUsdmUserStream:
    """USD-M's user-data stream (`PrivateStream`): a listenKey, no login steps."""

    ping: bytes | None = None  # the server pings; aiohttp answers
    ping_interval_s = 30.0
    listen_key: ListenKey | None = ListenKey(LISTEN_KEY_PATH, KEEPALIVE_S)

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """Nothing to send: the listenKey in the URL is the authentication."""
        return []

    def step_reply(self, frame: bytes) -> bool | None:
        """No steps, so no replies."""
        return None

    def parse(self, frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]:
        """Order updates in one frame."""
        return parse_user_data(frame, ts_recv_ns)


STREAM = BinanceUsdmUserStream()


ORDERS = BinanceWsOrders(resp_type="RESULT", session_logon=True)
"""USD-M order entry over the futures WS API (`ws-fapi/v1`): `RESULT` answers, Ed25519 keys
logged in once per connection, HMAC keys signing each request."""
