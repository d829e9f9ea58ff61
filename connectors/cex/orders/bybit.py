"""Bybit v5 order codec (spot and linear USDT perpetuals, `category` spot | linear).

Signing (Bybit v5 docs, docs/v5/guide "Create A Request"): `X-BAPI-SIGN` = lowercase hex
HMAC-SHA256(secret, timestamp + api_key + recv_window + payload), where payload is the query
string of a GET (as sent, unsorted) or the exact JSON body of a POST. Headers:
`X-BAPI-API-KEY`, `X-BAPI-SIGN`, `X-BAPI-TIMESTAMP` (ms), `X-BAPI-RECV-WINDOW` (ms, default
5000). The venue accepts `server_time - recv_window <= timestamp < server_time + 1000`, else
retCode 10002.

Placement: `POST /v5/order/create` `{"category","symbol","side":"Buy|Sell","orderType":"Limit",
"qty","price","timeInForce":"IOC|FOK","orderLinkId"}`; the answer is an ack:
`{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"S.."},
"retExtInfo":{},"time":1672211918471}`. Errors come with HTTP 200 and a non-zero `retCode`.
The state comes from `GET /v5/order/realtime?category=..&symbol=..&orderLinkId=..`
(`orderStatus` New | PartiallyFilled | Filled | Cancelled | PartiallyFilledCanceled |
Rejected, `cumExecQty`, `cumExecValue`, `cumFeeDetail` {coin: fee}). Cancel:
`POST /v5/order/cancel {"category","symbol","orderLinkId"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode

import msgspec
import orjson

from connectors.cex.orders import bybit_ws
from connectors.cex.orders.codec import (
    ErrorRule,
    WsAnswer,
    WsOrderCodec,
    bad_answer,
    cancel_request_id,
    classify,
    dec,
    decode_answer,
    decode_config,
    try_decode,
    units,
    unreadable_error,
)
from connectors.cex.orders.common import (
    Credentials,
    OrderResult,
    OrderSpec,
    OrderStatus,
    SignedRequest,
    SymbolFilters,
    filters_from_steps,
)
from connectors.cex.orders.limits import HeaderLimit, RequestLimit, remaining_hold_ms
from connectors.cex.orders.private import PrivateStream
from operators.errors import ConfigError, ExecutionError

PLACE_PATH = "/v5/order/create"
CANCEL_PATH = "/v5/order/cancel"
QUERY_PATH = "/v5/order/realtime"
INSTRUMENTS_PATH = "/v5/market/instruments-info"

STATUS: dict[str, OrderStatus] = {
    "New": "new", "Untriggered": "new", "PartiallyFilled": "partially_filled",
    "Filled": "filled", "Cancelled": "cancelled", "PartiallyFilledCanceled": "cancelled",
    "Deactivated": "cancelled", "Rejected": "rejected",
}

ERRORS: dict[str, ErrorRule] = {
    "10001": ErrorRule(False),                # request parameter error
    "10002": ErrorRule(True, "resync_time"),  # request time outside the recv_window
    "10003": ErrorRule(False),                # API key invalid
    "10004": ErrorRule(False),                # error sign
    "10005": ErrorRule(False),                # permission denied
    "10006": ErrorRule(True, "backoff"),      # too many visits (rate limit)
    "10016": ErrorRule(True, "query"),        # server error: state unknown
    "110001": ErrorRule(False, "not_found"),  # order does not exist
    "110003": ErrorRule(False),               # price outside the allowed range
    "110004": ErrorRule(False),               # wallet balance insufficient
    "110007": ErrorRule(False),               # available balance insufficient
    "110012": ErrorRule(False),               # insufficient available balance
    "110017": ErrorRule(False),               # qty truncated to zero
    "110072": ErrorRule(False),               # orderLinkId duplicate
    "110094": ErrorRule(False),               # notional below the lower limit
    "170131": ErrorRule(False),               # spot: balance insufficient
    "170136": ErrorRule(False),               # spot: qty below the minimum
    "170137": ErrorRule(False),               # spot: qty decimals too long
    "170140": ErrorRule(False),               # spot: order value below the lower limit
    "170141": ErrorRule(False),               # spot: duplicate clientOrderId
    "170213": ErrorRule(False, "not_found"),  # spot: order does not exist
}


class _Answer(msgspec.Struct, frozen=True):
    retCode: int
    retMsg: str = ""
    result: msgspec.Raw = msgspec.Raw(b"{}")
    time: int = 0


class _Ack(msgspec.Struct, frozen=True):
    orderId: str
    orderLinkId: str


class _Order(msgspec.Struct, frozen=True):
    orderId: str
    orderLinkId: str
    symbol: str
    orderStatus: str
    cumExecQty: str = "0"
    cumExecValue: str = "0"
    cumExecFee: str = ""
    cumFeeDetail: dict[str, str] = {}
    updatedTime: str = "0"


class _Orders(msgspec.Struct, frozen=True):
    orders: list[_Order] = msgspec.field(name="list")


class _PriceFilter(msgspec.Struct, frozen=True):
    tickSize: str
    minPrice: str = "0"
    maxPrice: str = "0"


class _LotFilter(msgspec.Struct, frozen=True):
    minOrderQty: str = "0"
    maxOrderQty: str = "0"
    qtyStep: str = ""
    basePrecision: str = ""
    minOrderAmt: str = "0"
    minNotionalValue: str = "0"


class _Instrument(msgspec.Struct, frozen=True):
    symbol: str
    status: str
    priceFilter: _PriceFilter
    lotSizeFilter: _LotFilter


class _Instruments(msgspec.Struct, frozen=True):
    instruments: list[_Instrument] = msgspec.field(name="list")


def place_fields(filters: SymbolFilters, spec: OrderSpec) -> list[tuple[str, str]]:
    """The fields of a limit IOC/FOK placement (REST body and WS `args`, in this order)."""
    return [
        ("category", category(spec.market)), ("symbol", spec.symbol),
        ("side", spec.side.capitalize()), ("orderType", "Limit"),
        ("qty", filters.qty_str(spec.qty_units)),
        ("price", filters.price_str(spec.price_units)),
        ("timeInForce", spec.tif), ("orderLinkId", spec.client_order_id),
    ]


def category(market: str) -> str:
    """Bybit `category` of a market kind."""
    return "linear" if market == "perp" else "spot"


class BybitOrders:
    """Sans-I/O order codec of Bybit v5."""

    venue = "bybit"
    user_stream: PrivateStream | None = bybit_ws.STREAM
    ws_orders: WsOrderCodec | None = None  # set below: BybitWsOrders
    needs_passphrase = False
    key_types: tuple[str, ...] = ("hmac",)
    pre_sign_window_ms = 1000
    hold_statuses = frozenset({403, 429})
    """403: Bybit's IP rate limit ("access too frequent"), 429: too many requests."""
    request_limits: tuple[RequestLimit, ...] = ()
    limit_reserve = 1
    """Hold back with this many requests left in the endpoint's window (room for a query)."""

    def hold_ms(self, headers: Mapping[str, str], now_ms: int,
                limits: tuple[HeaderLimit, ...] = ()) -> int:
        """Wait until `X-Bapi-Limit-Reset-Timestamp` once `X-Bapi-Limit-Status` is near 0
        (each answer carries its endpoint's own limit, so `limits` is not needed)."""
        return remaining_hold_ms(headers, "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp",
                                 self.limit_reserve, now_ms)

    def parse_limits(self, body: bytes) -> tuple[HeaderLimit, ...]:
        """Bybit's limits come with every answer (`X-Bapi-Limit`): nothing to read here."""
        return ()

    def ack_is_final(self, market: str) -> bool:
        """Bybit answers a placement with an ack only: the state needs a query."""
        return False

    def signed(self, creds: Credentials, method: str, path: str, query: str, body: bytes,
                params: tuple[tuple[str, str], ...], ts_ms: int,
                recv_window_ms: int) -> SignedRequest:
        """Sign a GET query or POST body with Bybit headers at venue-clock `ts_ms`."""
        payload = body if method == "POST" else query.encode()
        prehash = f"{ts_ms}{creds.api_key}{recv_window_ms}".encode() + payload
        headers = [("X-BAPI-API-KEY", creds.api_key),
                   ("X-BAPI-SIGN", creds.hmac_sha256(prehash).hex()),
                   ("X-BAPI-TIMESTAMP", str(ts_ms)), ("X-BAPI-RECV-WINDOW", str(recv_window_ms))]
        if body:
            headers.append(("Content-Type", "application/json"))
        return SignedRequest(method=method, path=path, query=query,  # type: ignore[arg-type]
                             body=body, headers=tuple(headers), params=params, ts_ms=ts_ms,
                             expires_ms=ts_ms + recv_window_ms)

    def _post(self, creds: Credentials, path: str, fields: list[tuple[str, str]], ts_ms: int,
              recv_window_ms: int) -> SignedRequest:
        return self.signed(creds, "POST", path, "", orjson.dumps(dict(fields)), tuple(fields),
                            ts_ms, recv_window_ms)

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> SignedRequest:
        """`POST /v5/order/create`: a limit IOC/FOK order."""
        return self._post(creds, PLACE_PATH, place_fields(filters, spec), ts_ms,
                          recv_window_ms)

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`POST /v5/order/cancel` by `orderLinkId`."""
        fields = [("category", category(filters.market)), ("symbol", filters.symbol),
                  ("orderLinkId", client_order_id)]
        return self._post(creds, CANCEL_PATH, fields, ts_ms, recv_window_ms)

    def query(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
              ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`GET /v5/order/realtime` by `orderLinkId`."""
        fields = (("category", category(filters.market)), ("symbol", filters.symbol),
                  ("orderLinkId", client_order_id))
        return self.signed(creds, "GET", QUERY_PATH, urlencode(fields), b"", fields, ts_ms,
                            recv_window_ms)

    def parse_filters(self, body: bytes, symbol: str, market: str) -> SymbolFilters:
        """`SymbolFilters` from an instruments-info body; `ConfigError` when unusable."""
        ans = decode_config(body, _Answer, self.venue, "instruments-info")
        insts = decode_config(bytes(ans.result), _Instruments, self.venue, "instruments-info")
        inst = next((i for i in insts.instruments if i.symbol == symbol), None)
        if inst is None:
            raise ConfigError(f"bybit: {symbol} is not in the instruments-info answer")
        if inst.status != "Trading":
            raise ConfigError(f"bybit: {symbol} status is {inst.status}, not Trading")
        lot, price = inst.lotSizeFilter, inst.priceFilter
        step = lot.qtyStep or lot.basePrecision  # linear: qtyStep; spot: basePrecision
        if not step:
            raise ConfigError(f"bybit: {symbol} has neither qtyStep nor basePrecision")
        min_notional = lot.minNotionalValue if market == "perp" else lot.minOrderAmt
        return filters_from_steps(
            self.venue, symbol, market, tick=price.tickSize, step=step,
            min_qty=lot.minOrderQty, max_qty=lot.maxOrderQty, min_price=price.minPrice,
            max_price=price.maxPrice, min_notional=min_notional)

    def parse_order(self, body: bytes, filters: SymbolFilters,
                    client_order_id: str) -> OrderResult:
        """A placement ack (status `new`) or a realtime-query answer as an `OrderResult`."""
        ans = decode_answer(body, _Answer, self.venue, "answer")
        orders = try_decode(ans.result, _Orders)
        if orders is None:
            ack = decode_answer(ans.result, _Ack, self.venue, "order answer")
            return OrderResult(self.venue, filters.symbol, ack.orderLinkId, ack.orderId, "new",
                               0, 0, ts_event_ms=ans.time, raw_status="ack")
        o = next((x for x in orders.orders if x.orderLinkId == client_order_id), None)
        if o is None:
            raise ExecutionError(f"order {client_order_id} not found", retryable=False,
                                 venue=self.venue, code="110001", action="not_found")
        status = STATUS.get(o.orderStatus)
        if status is None:
            raise bad_answer(self.venue, f"orderStatus {o.orderStatus!r}", body)
        fee, fee_asset = Decimal(0), ""
        if o.cumFeeDetail:
            fee_asset, text = next(iter(o.cumFeeDetail.items()))
            fee = dec(text, self.venue, "cumFeeDetail")
        elif o.cumExecFee:
            fee = dec(o.cumExecFee, self.venue, "cumExecFee")
        scale = filters.price_decimals + filters.qty_decimals
        return OrderResult(
            venue=self.venue, symbol=o.symbol, client_order_id=o.orderLinkId,
            venue_order_id=o.orderId, status=status,
            filled_qty_units=units(o.cumExecQty, filters.qty_decimals, self.venue, "cumExecQty"),
            quote_units=units(o.cumExecValue, scale, self.venue, "cumExecValue"),
            fee=fee, fee_asset=fee_asset, ts_event_ms=int(o.updatedTime or 0),
            raw_status=o.orderStatus)

    def error(self, status: int, body: bytes) -> ExecutionError | None:
        """None for `retCode` 0, else the venue's error (HTTP 403 = IP rate limit)."""
        if status == 403:
            return classify(self.venue, ERRORS, "10006", "HTTP 403: IP rate limit", 429)
        ans = try_decode(body, _Answer)
        if ans is None:
            return unreadable_error(self.venue, ERRORS, status, body)
        if status == 200 and ans.retCode == 0:
            return None
        return classify(self.venue, ERRORS, str(ans.retCode), ans.retMsg, status)


class _WsAnswer(msgspec.Struct, frozen=True):
    reqId: str
    op: str
    retCode: int
    retMsg: str = ""
    data: msgspec.Raw = msgspec.Raw(b"{}")
    header: dict[str, str] = {}


class BybitWsOrders:
    """Bybit v5 order entry over `wss://stream.bybit.com/v5/trade` (`WsOrderCodec`), docs
    "WebSocket Trade / Guideline".

    After `auth` (bybit_ws.py, the same signed `GET/realtime` + expires): `{"reqId": orderLinkId,
    "header": {"X-BAPI-TIMESTAMP","X-BAPI-RECV-WINDOW"}, "op": "order.create", "args":
    [{...the REST body's fields...}]}`; the answer `{"reqId","retCode","retMsg","op","data":
    {"orderId","orderLinkId"},"header":{"X-Bapi-Limit","X-Bapi-Limit-Status",
    "X-Bapi-Limit-Reset-Timestamp",...},"connId"}` is the REST ack with `data` for `result`.
    """

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """Auth, valid `AUTH_VALID_MS` from now."""
        return [bybit_ws.auth(creds, now_ms + bybit_ws.AUTH_VALID_MS)]

    def step_reply(self, frame: bytes) -> bool | None:
        """The auth answer's `success`."""
        return bybit_ws.STREAM.step_reply(frame)

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> bytes:
        """The `order.create` op for one limit IOC/FOK order."""
        return orjson.dumps({
            "reqId": spec.client_order_id,
            "header": {"X-BAPI-TIMESTAMP": str(ts_ms), "X-BAPI-RECV-WINDOW": str(recv_window_ms)},
            "op": "order.create", "args": [dict(place_fields(filters, spec))]})

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> bytes:
        """The `order.cancel` op by `orderLinkId`."""
        return orjson.dumps({
            "reqId": cancel_request_id(client_order_id),
            "header": {"X-BAPI-TIMESTAMP": str(ts_ms), "X-BAPI-RECV-WINDOW": str(recv_window_ms)},
            "op": "order.cancel", "args": [{"category": category(filters.market),
                                             "symbol": filters.symbol,
                                             "orderLinkId": client_order_id}]})

    def answer(self, frame: bytes) -> WsAnswer | None:
        """An `order.*` answer as the REST body (`data` as `result`) with its limit headers."""
        a = try_decode(frame, _WsAnswer)
        if a is None or not a.op.startswith("order."):
            return None
        body = (b'{"retCode":' + str(a.retCode).encode() + b',"retMsg":' + orjson.dumps(a.retMsg)
                + b',"result":' + bytes(a.data) + b"}")
        return WsAnswer(a.reqId, 200, body, tuple(a.header.items()))


BYBIT = BybitOrders()
BYBIT.ws_orders = BybitWsOrders()
