"""Binance spot (`/api/v3/order`) and USD-M perpetual (`/fapi/v1/order`) order codec.

Signing (spot rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order"; USD-M the same):
the signature payload is the query string (we send no body), `signature` is appended last, the
key goes in the `X-MBX-APIKEY` header. HMAC keys: hex HMAC-SHA256 of the payload under the
secret. Ed25519 keys: base64 Ed25519 signature of the payload, percent-encoded in the query.
`timestamp` is venue-clock ms; `recvWindow` ms (Binance default 5000, max 60000). The venue
refuses (-1021) a timestamp more than 1000 ms ahead of its clock or older than recvWindow.

Placement: `POST symbol side type=LIMIT timeInForce=IOC|FOK quantity price newClientOrderId
newOrderRespType`; spot asks `FULL` (fills with commission), USD-M `RESULT` (final status and
`cumQuote`, no fees). IOC/FOK end as `FILLED` or `EXPIRED` (with or without executed qty).
Cancel: `DELETE` with `origClientOrderId`; query: `GET` with `origClientOrderId`.

Sample spot answer: `{"symbol":"SOLUSDC","orderId":28,"clientOrderId":"S..B00",
"transactTime":1507725176595,"price":"150.25","origQty":"1.000","executedQty":"0.400",
"cummulativeQuoteQty":"60.10000","status":"EXPIRED","timeInForce":"IOC","type":"LIMIT",
"side":"BUY","fills":[{"price":"150.25","qty":"0.400","commission":"0.06010000",
"commissionAsset":"USDC","tradeId":56}]}`; an error: `{"code":-1021,"msg":"Timestamp for this
request is outside of the recvWindow."}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import quote, urlencode

import msgspec

from connectors.cex.orders import binance_usdm_ws, binance_ws
from connectors.cex.orders.codec import (
    ErrorRule,
    WsOrderCodec,
    bad_answer,
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
from connectors.cex.orders.limits import HeaderLimit, RequestLimit, used_count_hold_ms
from connectors.cex.orders.private import PrivateStream
from operators.errors import ConfigError, ExecutionError

PATHS = {"spot": "/api/v3/order", "perp": "/fapi/v1/order"}
INFO_PATHS = {"spot": "/api/v3/exchangeInfo", "perp": "/fapi/v1/exchangeInfo"}

STATUS: dict[str, OrderStatus] = {
    "NEW": "new", "PENDING_NEW": "new", "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled", "CANCELED": "cancelled", "PENDING_CANCEL": "new",
    "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired", "REJECTED": "rejected",
}

ERRORS: dict[str, ErrorRule] = {
    "-1000": ErrorRule(True, "query"),        # UNKNOWN error while processing
    "-1001": ErrorRule(True, "query"),        # DISCONNECTED: internal error
    "-1003": ErrorRule(True, "backoff"),      # TOO_MANY_REQUESTS (request weight)
    "-1006": ErrorRule(True, "query"),        # UNEXPECTED_RESP: execution status unknown
    "-1007": ErrorRule(True, "query"),        # TIMEOUT: send and execution status unknown
    "-1008": ErrorRule(True, "backoff"),      # SERVER_BUSY: not processed, try later
    "-1013": ErrorRule(False),                # INVALID_MESSAGE: a filter failure
    "-1015": ErrorRule(True, "backoff"),      # TOO_MANY_ORDERS
    "-1021": ErrorRule(True, "resync_time"),  # INVALID_TIMESTAMP: outside recvWindow / ahead
    "-1022": ErrorRule(False),                # INVALID_SIGNATURE
    "-1100": ErrorRule(False),                # ILLEGAL_CHARS
    "-1102": ErrorRule(False),                # MANDATORY_PARAM_EMPTY_OR_MALFORMED
    "-1111": ErrorRule(False),                # BAD_PRECISION
    "-1125": ErrorRule(False, "not_found"),   # INVALID_LISTEN_KEY: open a new one
    "-1121": ErrorRule(False),                # BAD_SYMBOL
    "-2010": ErrorRule(False),                # NEW_ORDER_REJECTED (balance, duplicate id, ...)
    "-2011": ErrorRule(False),                # CANCEL_REJECTED
    "-2013": ErrorRule(False, "not_found"),   # NO_SUCH_ORDER
    "-2014": ErrorRule(False),                # BAD_API_KEY_FMT
    "-2015": ErrorRule(False),                # REJECTED_MBX_KEY: key, IP or permissions
}


_MINUTE_MS, _DAY_MS = 60_000, 86_400_000
SPOT_LIMITS = (
    HeaderLimit("X-MBX-USED-WEIGHT-1M", 6000, _MINUTE_MS, reserve=20),
    HeaderLimit("X-MBX-ORDER-COUNT-10S", 100, 10_000),
    HeaderLimit("X-MBX-ORDER-COUNT-1D", 200_000, _DAY_MS),
)
"""Spot limits (exchangeInfo `rateLimits`: REQUEST_WEIGHT 6000/min, ORDERS 100/10 s and
200000/day); the weight reserve leaves room for queries (weight 4) and cancels."""
USDM_LIMITS = (
    HeaderLimit("X-MBX-USED-WEIGHT-1M", 2400, _MINUTE_MS, reserve=20),
    HeaderLimit("X-MBX-ORDER-COUNT-10S", 300, 10_000),
    HeaderLimit("X-MBX-ORDER-COUNT-1M", 1200, _MINUTE_MS),
)
"""USD-M limits (REQUEST_WEIGHT 2400/min, ORDERS 300/10 s and 1200/min)."""


class _Fill(msgspec.Struct, frozen=True):
    price: str
    qty: str
    commission: str = "0"
    commissionAsset: str = ""


class _Order(msgspec.Struct, frozen=True):
    symbol: str
    orderId: int
    clientOrderId: str
    status: str
    executedQty: str
    cummulativeQuoteQty: str | None = None
    cumQuote: str | None = None
    transactTime: int = 0
    updateTime: int = 0
    fills: list[_Fill] = []


class _Error(msgspec.Struct, frozen=True):
    code: int
    msg: str = ""


class _Filter(msgspec.Struct, frozen=True):
    filterType: str
    tickSize: str = ""
    minPrice: str = "0"
    maxPrice: str = "0"
    stepSize: str = ""
    minQty: str = "0"
    maxQty: str = "0"
    minNotional: str = "0"
    notional: str = "0"


class _Symbol(msgspec.Struct, frozen=True):
    symbol: str
    status: str
    filters: list[_Filter]


class _RateLimit(msgspec.Struct, frozen=True):
    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


class _Info(msgspec.Struct, frozen=True):
    symbols: list[_Symbol]
    rateLimits: list[_RateLimit] = []


_INTERVAL_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_HEADER_OF = {"REQUEST_WEIGHT": "X-MBX-USED-WEIGHT-", "ORDERS": "X-MBX-ORDER-COUNT-"}


class BinanceOrders:
    """Sans-I/O order codec of one Binance venue id (`binance` spot or `binance-usdm` perps)."""

    needs_passphrase = False
    key_types: tuple[str, ...] = ("hmac", "ed25519")
    pre_sign_window_ms = 1000
    hold_statuses = frozenset({418, 429})
    request_limits: tuple[RequestLimit, ...] = ()

    def __init__(self, venue: str, user_stream: PrivateStream | None = None, *,
                 limits: tuple[HeaderLimit, ...] = SPOT_LIMITS,
                 ws_orders: WsOrderCodec | None = None) -> None:
        self.venue = venue
        self.limits = limits
        self.ws_orders = ws_orders
        """Spot: the WS API's `order.place`; USD-M: the futures WS API's (binance_usdm_ws)."""
        self.user_stream = user_stream
        """Spot: the WS API user-data stream; USD-M: the listenKey stream (binance_usdm_ws)."""

    def hold_ms(self, headers: Mapping[str, str], now_ms: int,
                limits: tuple[HeaderLimit, ...] = ()) -> int:
        """Wait for the interval's end once weight or order count is near its limit
        (`limits`: the account's own, from exchangeInfo; else the documented defaults)."""
        return used_count_hold_ms(headers, limits or self.limits, now_ms)

    def parse_limits(self, body: bytes) -> tuple[HeaderLimit, ...]:
        """The account's limits from exchangeInfo `rateLimits` (the header each one's usage
        comes in: `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, ...); () if none."""
        info = try_decode(body, _Info)
        if info is None:
            return ()
        out = []
        for r in info.rateLimits:
            prefix, unit_ms = _HEADER_OF.get(r.rateLimitType), _INTERVAL_MS.get(r.interval)
            if prefix is None or unit_ms is None or r.intervalNum <= 0 or r.limit <= 0:
                continue  # RAW_REQUESTS has no usage header
            reserve = 20 if r.rateLimitType == "REQUEST_WEIGHT" else 1
            out.append(HeaderLimit(f"{prefix}{r.intervalNum}{r.interval[0]}", r.limit,
                                   r.intervalNum * unit_ms, reserve=min(reserve, r.limit - 1)))
        return tuple(out)

    def ack_is_final(self, market: str) -> bool:
        """Spot FULL and USD-M RESULT answers carry an IOC/FOK order's final state."""
        return True

    def signed(self, creds: Credentials, method: str, market: str,
                params: list[tuple[str, str]], ts_ms: int,
                recv_window_ms: int) -> SignedRequest:
        """Sign `params` (+ recvWindow, timestamp) as the query string of `method` on `market`."""
        journaled = tuple(params)
        params = [*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(ts_ms))]
        payload = urlencode(params)
        if creds.is_ed25519:
            signature = quote(creds.ed25519_b64(payload.encode()), safe="")
        else:
            signature = creds.hmac_sha256(payload.encode()).hex()
        return SignedRequest(
            method=method,  # type: ignore[arg-type]
            path=PATHS[market], query=f"{payload}&signature={signature}", body=b"",
            headers=(("X-MBX-APIKEY", creds.api_key),), params=journaled, ts_ms=ts_ms,
            expires_ms=ts_ms + recv_window_ms)

    def place(self, creds: Credentials, f: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> SignedRequest:
        """`POST /api/v3/order` | `/fapi/v1/order`: a limit IOC/FOK order."""
        params = [
            ("symbol", spec.symbol), ("side", spec.side.upper()), ("type", "LIMIT"),
            ("timeInForce", spec.tif), ("quantity", f.qty_str(spec.qty_units)),
            ("price", f.price_str(spec.price_units)), ("newClientOrderId", spec.client_order_id),
            ("newOrderRespType", "FULL" if spec.market == "spot" else "RESULT"),
        ]
        return self.signed(creds, "POST", spec.market, params, ts_ms, recv_window_ms)

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`DELETE` the order by `origClientOrderId`."""
        params = [("symbol", filters.symbol), ("origClientOrderId", client_order_id)]
        return self.signed(creds, "DELETE", filters.market, params, ts_ms, recv_window_ms)

    def query(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
              ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`GET` the order by `origClientOrderId`."""
        params = [("symbol", filters.symbol), ("origClientOrderId", client_order_id)]
        return self.signed(creds, "GET", filters.market, params, ts_ms, recv_window_ms)

    def parse_filters(self, body: bytes, symbol: str, market: str) -> SymbolFilters:
        """`SymbolFilters` of `symbol` from an exchangeInfo body; `ConfigError` when unusable."""
        info = decode_config(body, _Info, self.venue, "exchangeInfo")
        sym = next((s for s in info.symbols if s.symbol == symbol), None)
        if sym is None:
            raise ConfigError(f"{self.venue}: {symbol} is not in exchangeInfo")
        if sym.status != "TRADING":
            raise ConfigError(f"{self.venue}: {symbol} status is {sym.status}, not TRADING")
        by_type = {f.filterType: f for f in sym.filters}
        price, lot = by_type.get("PRICE_FILTER"), by_type.get("LOT_SIZE")
        if price is None or lot is None or not price.tickSize or not lot.stepSize:
            raise ConfigError(f"{self.venue}: {symbol} lacks PRICE_FILTER/LOT_SIZE")
        notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL")
        min_notional = "0"
        if notional is not None:  # spot NOTIONAL.minNotional, USD-M MIN_NOTIONAL.notional
            min_notional = notional.notional if market == "perp" else notional.minNotional
        return filters_from_steps(
            self.venue, symbol, market, tick=price.tickSize, step=lot.stepSize,
            min_qty=lot.minQty, max_qty=lot.maxQty, min_price=price.minPrice,
            max_price=price.maxPrice, min_notional=min_notional)

    def parse_order(self, body: bytes, filters: SymbolFilters,
                    client_order_id: str) -> OrderResult:
        """An order answer (placement or query) as an `OrderResult`."""
        o = decode_answer(body, _Order, self.venue, "order answer")
        status = STATUS.get(o.status)
        if status is None:
            raise bad_answer(self.venue, f"order status {o.status!r}", body)
        scale = filters.price_decimals + filters.qty_decimals
        quote_text = o.cummulativeQuoteQty if o.cummulativeQuoteQty is not None else o.cumQuote
        fee = sum((dec(x.commission, self.venue, "commission") for x in o.fills), Decimal(0))
        return OrderResult(
            venue=self.venue, symbol=o.symbol, client_order_id=o.clientOrderId,
            venue_order_id=str(o.orderId), status=status,
            filled_qty_units=units(o.executedQty, filters.qty_decimals, self.venue, "executedQty"),
            quote_units=units(quote_text or "0", scale, self.venue, "cumQuote"),
            fee=fee, fee_asset=o.fills[0].commissionAsset if o.fills else "",
            ts_event_ms=o.transactTime or o.updateTime, raw_status=o.status)

    def error(self, status: int, body: bytes) -> ExecutionError | None:
        """None for a 200 answer, else the venue's error as an `ExecutionError`."""
        if status == 200:
            return None
        e = try_decode(body, _Error)
        if e is None:
            return unreadable_error(self.venue, ERRORS, status, body)
        return classify(self.venue, ERRORS, str(e.code), e.msg, status)


SPOT = BinanceOrders("binance", binance_ws.STREAM, ws_orders=binance_ws.ORDERS)
USDM = BinanceOrders("binance-usdm", binance_usdm_ws.STREAM, limits=USDM_LIMITS,
                     ws_orders=binance_usdm_ws.ORDERS)
