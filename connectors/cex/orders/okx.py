"""OKX v5 order codec (spot `cash` and USDT swaps `cross`, one REST host).

Signing (OKX v5 docs, "REST Authentication"): `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret,
timestamp + METHOD + requestPath + body)), where `timestamp` is the `OK-ACCESS-TIMESTAMP`
header, ISO-8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`), `requestPath` includes the
query string of a GET and `body` is the exact JSON sent (empty for a GET). Headers:
`OK-ACCESS-KEY`, `OK-ACCESS-SIGN`, `OK-ACCESS-TIMESTAMP`, `OK-ACCESS-PASSPHRASE`. A timestamp
more than 30 s away from the server's clock is refused (50102).

Placement: `POST /api/v5/trade/order` `{"instId","tdMode","side","ordType":"ioc|fok","px","sz",
"clOrdId"}`; swaps size in contracts (`ctVal` base each). The answer is only an ack:
`{"code":"0","msg":"","data":[{"clOrdId":"S..","ordId":"312269865356374016","tag":"",
"ts":"1695190491421","sCode":"0","sMsg":"Order placed"}],"inTime":"..","outTime":".."}`; a
refused order has `code` "1" and the reason in `sCode`/`sMsg` (51xxx). The final state comes
from `GET /api/v5/trade/order?instId=..&clOrdId=..` (`state` live | partially_filled | filled |
canceled, `accFillSz`, `avgPx`, `fee` negative when charged, `feeCcy`). Cancel:
`POST /api/v5/trade/cancel-order {"instId","clOrdId"}`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from fractions import Fraction
from urllib.parse import urlencode

import msgspec
import orjson

from connectors.cex.orders import okx_ws
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
    iso_ms,
)
from connectors.cex.orders.limits import HeaderLimit, RequestLimit
from connectors.cex.orders.private import PrivateStream
from operators.errors import ConfigError, ExecutionError

PLACE_PATH = "/api/v5/trade/order"
CANCEL_PATH = "/api/v5/trade/cancel-order"
QUERY_PATH = "/api/v5/trade/order"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
TIMESTAMP_WINDOW_MS = 30_000
"""OKX refuses (50102 "Timestamp request expired", HTTP 401) a request whose
`OK-ACCESS-TIMESTAMP` is too far from its clock. OKX's own docs state 30 s for the WebSocket
login ("The request will expire 30 seconds after the timestamp"); the REST page names the error
but no number, and 30 s is what OKX applies in practice, so 30 s either way it is."""
EXP_TIME_HEADER = "expTime"
"""Placements carry `expTime` (OKX docs "Transaction timeouts": "Request effective deadline.
Unix timestamp in milliseconds"; place / amend (multiple) orders only): "the request will not
be processed if the current system time of the server is after the expTime", refused with
50036. We set it to the timestamp plus `recv_window_ms`, so an OKX placement has the same
exact deadline a Binance recvWindow gives (after it, the venue never executes the request)."""

STATUS: dict[str, OrderStatus] = {
    "live": "new", "partially_filled": "partially_filled", "filled": "filled",
    "canceled": "cancelled", "mmp_canceled": "cancelled",
}

ERRORS: dict[str, ErrorRule] = {
    "50001": ErrorRule(True, "query"),        # service temporarily unavailable
    "50004": ErrorRule(True, "query"),        # API endpoint request timeout: state unknown
    "50011": ErrorRule(True, "backoff"),      # rate limit reached (HTTP 429)
    "50013": ErrorRule(True, "backoff"),      # system is busy
    "50026": ErrorRule(True, "query"),        # system error
    "50061": ErrorRule(True, "backoff"),      # sub-account rate limit reached
    "50036": ErrorRule(True, "resync_time"),  # expTime passed: never processed
    "50102": ErrorRule(True, "resync_time"),  # timestamp request expired
    "50103": ErrorRule(False),                # OK-ACCESS-KEY header empty
    "50104": ErrorRule(False),                # OK-ACCESS-PASSPHRASE header empty
    "50105": ErrorRule(False),                # OK-ACCESS-PASSPHRASE incorrect
    "50106": ErrorRule(False),                # OK-ACCESS-SIGN header empty
    "50107": ErrorRule(False),                # OK-ACCESS-TIMESTAMP header empty
    "50111": ErrorRule(False),                # invalid OK-ACCESS-KEY
    "50112": ErrorRule(False),                # invalid OK-ACCESS-TIMESTAMP
    "50113": ErrorRule(False),                # invalid sign
    "51000": ErrorRule(False),                # parameter error
    "51001": ErrorRule(False),                # instrument does not exist
    "51006": ErrorRule(False),                # price outside the price limit
    "51008": ErrorRule(False),                # insufficient balance
    "51016": ErrorRule(False),                # duplicated clOrdId
    "51020": ErrorRule(False),                # below the minimum order amount
    "51121": ErrorRule(False),                # size not a multiple of the lot size
    "51131": ErrorRule(False),                # insufficient balance
    "51400": ErrorRule(False),                # cancel failed: filled, cancelled or absent
    "51603": ErrorRule(False, "not_found"),   # order does not exist
}


class _Ack(msgspec.Struct, frozen=True):
    clOrdId: str = ""
    ordId: str = ""
    ts: str = "0"
    sCode: str = "0"
    sMsg: str = ""


class _Order(msgspec.Struct, frozen=True):
    instId: str
    ordId: str
    clOrdId: str
    state: str
    accFillSz: str = "0"
    avgPx: str = ""
    fee: str = "0"
    feeCcy: str = ""
    uTime: str = "0"


class _Answer(msgspec.Struct, frozen=True):
    code: str
    msg: str = ""
    data: list[msgspec.Raw] = []


class _Instrument(msgspec.Struct, frozen=True):
    instId: str
    instType: str
    tickSz: str
    lotSz: str
    minSz: str
    state: str
    ctVal: str = ""
    maxLmtSz: str = "0"


class _Instruments(msgspec.Struct, frozen=True):
    code: str
    data: list[_Instrument]


def place_fields(filters: SymbolFilters, spec: OrderSpec) -> list[tuple[str, str]]:
    """The fields of a limit IOC/FOK placement (REST body and WS `args`, in this order)."""
    return [
        ("instId", spec.symbol), ("tdMode", "cross" if spec.market == "perp" else "cash"),
        ("side", spec.side), ("ordType", spec.tif.lower()),
        ("px", filters.price_str(spec.price_units)), ("sz", filters.qty_str(spec.qty_units)),
        ("clOrdId", spec.client_order_id),
    ]


def inst_type(market: str) -> str:
    """OKX instType of a market kind."""
    return "SWAP" if market == "perp" else "SPOT"


class OkxOrders:
    """Sans-I/O order codec of OKX."""

    venue = "okx"
    user_stream: PrivateStream | None = okx_ws.STREAM
    ws_orders: WsOrderCodec | None = None  # set below: OkxWsOrders
    needs_passphrase = True
    key_types: tuple[str, ...] = ("hmac",)
    pre_sign_window_ms = TIMESTAMP_WINDOW_MS
    hold_statuses = frozenset({429})
    request_limits: tuple[RequestLimit, ...] = (
        RequestLimit("POST", PLACE_PATH, 60, 2000),
        RequestLimit("POST", CANCEL_PATH, 60, 2000),
        RequestLimit("GET", QUERY_PATH, 60, 2000),
    )
    """Place, cancel and order details: 60 requests per 2 s each (per instrument on OKX; one
    window per endpoint here is the stricter reading). OKX sends no usage header."""

    def hold_ms(self, headers: Mapping[str, str], now_ms: int,
                limits: tuple[HeaderLimit, ...] = ()) -> int:
        """OKX reports no usage in headers: nothing to read (its windows are counted locally)."""
        return 0

    def parse_limits(self, body: bytes) -> tuple[HeaderLimit, ...]:
        """OKX's instruments answer declares no limits."""
        return ()

    def ack_is_final(self, market: str) -> bool:
        """OKX answers a placement with an ack only: the state needs a query."""
        return False

    def signed(self, creds: Credentials, method: str, path: str, query: str, body: bytes,
                params: tuple[tuple[str, str], ...], ts_ms: int,
                exp_ms: int = 0) -> SignedRequest:
        """Sign `method path?query` + `body` with OKX headers at venue-clock `ts_ms`; with
        `exp_ms`, an `expTime` deadline header (not a signing input)."""
        ts = iso_ms(ts_ms)
        target = f"{path}?{query}" if query else path
        prehash = ts.encode() + method.encode() + target.encode() + body
        sign = base64.b64encode(creds.hmac_sha256(prehash)).decode()
        headers = [("OK-ACCESS-KEY", creds.api_key), ("OK-ACCESS-SIGN", sign),
                   ("OK-ACCESS-TIMESTAMP", ts), ("OK-ACCESS-PASSPHRASE", creds.passphrase)]
        if body:
            headers.append(("Content-Type", "application/json"))
        expires_ms = ts_ms + TIMESTAMP_WINDOW_MS
        if exp_ms:
            headers.append((EXP_TIME_HEADER, str(exp_ms)))
            expires_ms = min(expires_ms, exp_ms)
        return SignedRequest(method=method, path=path, query=query,  # type: ignore[arg-type]
                             body=body, headers=tuple(headers), params=params, ts_ms=ts_ms,
                             expires_ms=expires_ms)

    def _post(self, creds: Credentials, path: str, fields: list[tuple[str, str]],
              ts_ms: int, exp_ms: int = 0) -> SignedRequest:
        body = orjson.dumps(dict(fields))
        return self.signed(creds, "POST", path, "", body, tuple(fields), ts_ms, exp_ms)

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> SignedRequest:
        """`POST /api/v5/trade/order`: a limit IOC/FOK order, `expTime` = ts + recv window."""
        return self._post(creds, PLACE_PATH, place_fields(filters, spec), ts_ms,
                          ts_ms + recv_window_ms)

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`POST /api/v5/trade/cancel-order` by `clOrdId`."""
        fields = [("instId", filters.symbol), ("clOrdId", client_order_id)]
        return self._post(creds, CANCEL_PATH, fields, ts_ms)

    def query(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
              ts_ms: int, recv_window_ms: int) -> SignedRequest:
        """`GET /api/v5/trade/order` by `clOrdId`."""
        fields = (("instId", filters.symbol), ("clOrdId", client_order_id))
        return self.signed(creds, "GET", QUERY_PATH, urlencode(fields), b"", fields, ts_ms)

    def parse_filters(self, body: bytes, symbol: str, market: str) -> SymbolFilters:
        """`SymbolFilters` from a `/api/v5/public/instruments` body; `ConfigError` if unusable."""
        ans = decode_config(body, _Instruments, self.venue, "instruments")
        inst = next((i for i in ans.data if i.instId == symbol), None)
        if inst is None:
            raise ConfigError(f"okx: {symbol} is not in the instruments answer")
        if inst.state != "live":
            raise ConfigError(f"okx: {symbol} state is {inst.state}, not live")
        per_qty = Fraction(1)
        if inst.instType == "SWAP":
            if not inst.ctVal:
                raise ConfigError(f"okx: swap {symbol} has no ctVal")
            per_qty = Fraction(dec(inst.ctVal, self.venue, "ctVal"))
        return filters_from_steps(
            self.venue, symbol, market, tick=inst.tickSz, step=inst.lotSz, min_qty=inst.minSz,
            max_qty=inst.maxLmtSz, base_per_qty=per_qty)  # sizes in contracts for swaps

    def parse_order(self, body: bytes, filters: SymbolFilters,
                    client_order_id: str) -> OrderResult:
        """A placement ack (status `new`) or a query answer as an `OrderResult`."""
        data = decode_answer(body, _Answer, self.venue, "answer").data
        if not data:
            raise bad_answer(self.venue, "order answer without data", body)
        o = try_decode(data[0], _Order)
        if o is None:
            ack = decode_answer(data[0], _Ack, self.venue, "order ack")
            return OrderResult(self.venue, filters.symbol, ack.clOrdId, ack.ordId, "new", 0, 0,
                               ts_event_ms=int(ack.ts or 0), raw_status=ack.sMsg)
        status = STATUS.get(o.state)
        if status is None:
            raise bad_answer(self.venue, f"order state {o.state!r}", body)
        filled = units(o.accFillSz, filters.qty_decimals, self.venue, "accFillSz")
        px = units(o.avgPx, filters.price_decimals, self.venue, "avgPx")
        quote = int(Fraction(filled * px) * filters.base_per_qty)
        return OrderResult(
            venue=self.venue, symbol=o.instId, client_order_id=o.clOrdId, venue_order_id=o.ordId,
            status=status, filled_qty_units=filled, quote_units=quote,
            fee=-dec(o.fee, self.venue, "fee"), fee_asset=o.feeCcy,
            ts_event_ms=int(o.uTime or 0), raw_status=o.state)

    def error(self, status: int, body: bytes) -> ExecutionError | None:
        """None for a success (`code` "0"), else the error of `code` or the order's `sCode`."""
        ans = try_decode(body, _Answer)
        if ans is None:
            return unreadable_error(self.venue, ERRORS, status, body)
        if status == 200 and ans.code == "0":
            return None
        code, msg = ans.code, ans.msg
        ack = try_decode(ans.data[0], _Ack) if ans.data else None
        if ack is not None and ack.sCode != "0":  # else the top-level code stands
            code, msg = ack.sCode, ack.sMsg
        if code == "0":
            return None
        return classify(self.venue, ERRORS, code, msg, status)


class _WsAnswer(msgspec.Struct, frozen=True):
    id: str
    op: str
    code: str = "0"


class OkxWsOrders:
    """OKX order entry on the private socket (`WsOrderCodec`), docs "WS / Place order".

    After `login` (okx_ws.py): `{"id": clOrdId, "op": "order", "expTime": "..", "args":
    [{...the REST body's fields...}]}`; the answer `{"id","op":"order","code","msg","data":
    [{"clOrdId","ordId","tag","ts","sCode","sMsg"}],"inTime","outTime"}` has the REST
    placement's shape, so the REST codec reads it. `id` is the client order id (OKX: up to 32
    letters and digits, as ours). `expTime` is the same deadline as over REST.
    """

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """Login (Unix seconds, signed `ts + GET + /users/self/verify`)."""
        return [okx_ws.login(creds, now_ms // 1000)]

    def step_reply(self, frame: bytes) -> bool | None:
        """The login event (code 0) or an error event."""
        return okx_ws.STREAM.step_reply(frame)

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> bytes:
        """The `order` op for one limit IOC/FOK order."""
        return orjson.dumps({"id": spec.client_order_id, "op": "order",
                             "expTime": str(ts_ms + recv_window_ms),
                             "args": [dict(place_fields(filters, spec))]})

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> bytes:
        """The `cancel-order` op by `clOrdId`."""
        return orjson.dumps({"id": cancel_request_id(client_order_id), "op": "cancel-order",
                             "args": [{"instId": filters.symbol, "clOrdId": client_order_id}]})

    def answer(self, frame: bytes) -> WsAnswer | None:
        """An `order` / `cancel-order` answer (HTTP-like 200, the frame as the REST body)."""
        a = try_decode(frame, _WsAnswer)
        if a is None or a.op not in ("order", "cancel-order"):
            return None
        return WsAnswer(a.id, 429 if a.code == "50011" else 200, frame)


OKX = OkxOrders()
OKX.ws_orders = OkxWsOrders()
