"""Loopback order entry for the simulated CEX venues: signed orders checked as the venue does.

One `OrderDesk` per simulated venue id (sim/cex_venues.py builds them). It serves the venue's
real order paths and instrument endpoints:

- Binance spot / USD-M: `POST|DELETE|GET /api/v3/order`, `/fapi/v1/order`; `X-MBX-APIKEY` must
  be a known key (-2015); the signature (last query parameter) must be hex HMAC-SHA256 of the
  query + body, case-insensitive, or base64 Ed25519 for Ed25519 keys (-1022); the timestamp
  must satisfy `timestamp < server + 1000` and `server - timestamp <= recvWindow` (-1021),
  checked again just before matching, as Binance does. `exchangeInfo` serves the filters.
- OKX: `POST /api/v5/trade/order`, `POST /api/v5/trade/cancel-order`, `GET /api/v5/trade/order`;
  headers checked in turn: key (50103 / 50111), passphrase (50105), timestamp format (50112),
  more than 30 s off (50102), base64 HMAC of `ts + METHOD + path?query + body` (50113), all with
  HTTP 401. A placement with an `expTime` header is not processed once the venue clock is past
  it (checked when it reaches matching, after any injected delay): HTTP 200, code 50036. A
  refused order: HTTP 200, `code` "1", `sCode` 51xxx.
- Bybit v5: `POST /v5/order/create`, `POST /v5/order/cancel`, `GET /v5/order/realtime`; key
  (10003), `server - recv_window <= ts < server + 1000` (10002), lowercase hex HMAC of
  `ts + key + recv_window + (query | body)` (10004); answers are HTTP 200 with `retCode`.

Rate limits (`DeskLimits`, fixed windows on the venue clock), with the venues' own headers
on every order-route answer: Binance `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S` plus
`-1D` (spot) / `-1M` (USD-M), over the limit HTTP 429 with -1015 (orders) or -1003 (weight) and
`Retry-After`; Bybit `X-Bapi-Limit`, `X-Bapi-Limit-Status`, `X-Bapi-Limit-Reset-Timestamp` per
endpoint, over the limit retCode 10006; OKX no header, 60 requests per 2 s per endpoint, over
it HTTP 429 with code 50011.

Matching: an IOC/FOK limit order walks the symbol's current simulated book (sim/cex_frames.py
SimBook: integer ticks and qty units) up to its limit; IOC keeps what fills, FOK fills all or
nothing; the taker fee (ppm of notional) is charged in the quote asset. The book is not
consumed (the feed keeps its own seeded life). Faults (`inject`): `timeout_after_accept` (the
order is matched, the answer held back `seconds`), `delay_ack` (held `seconds` before being
processed, then timestamp-checked again), `reject` (the venue's balance error).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import hashlib
import hmac
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_private_key

if TYPE_CHECKING:
    from sim.cex_venues import VenueSim

_BINANCE = ("binance", "binance-usdm")
ORDER_PATHS = ("/api/v3/order", "/fapi/v1/order", "/api/v5/trade/order",
               "/api/v5/trade/cancel-order", "/v5/order/create", "/v5/order/cancel",
               "/v5/order/realtime", "/sapi/v1/account/apiRestrictions")
KEY_PATHS = ("/api/v5/account/config", "/v5/user/query-api")
"""OKX / Bybit key-permission queries (signed like order queries): `key_config_answer`."""
INFO_PATHS = ("/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo", "/api/v5/public/instruments",
              "/v5/market/instruments-info")
OKX_WINDOW_MS = 30_000


@dataclass(frozen=True, slots=True)
class Account:
    """A test account the desk accepts: HMAC secret or Ed25519 public key, OKX passphrase."""

    api_key: str
    secret: bytes = b""
    passphrase: str = ""
    ed25519: Ed25519PublicKey | None = None
    can_withdraw: bool = False
    """What the key-permission endpoint (Binance apiRestrictions) says about withdrawals."""


@dataclass
class SimOrder:
    """One accepted order as the venue holds it (integer units of the feed's scales)."""

    venue_order_id: int
    client_order_id: str
    symbol: str
    category: str
    side: str
    tif: str
    price_units: int
    qty_units: int
    filled_units: int
    quote_units: int
    fee_units: int
    fills: list[tuple[int, int]]
    ts_ms: int


@dataclass
class _Fault:
    kind: str
    seconds: float


@dataclass
class DeskLimits:
    """A simulated venue's order rate limits (the venues' documented defaults)."""

    binance_orders_10s: int = 100
    binance_orders_long: int = 200_000
    """Spot: orders per UTC day; USD-M: per minute."""
    binance_weight_1m: int = 6000
    bybit_per_s: int = 10
    okx_per_2s: int = 60


@dataclass
class DeskStats:
    """What the desk saw: every order placement by client id, and refusals by code."""

    placements: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def quote_asset(symbol: str) -> str:
    """Quote asset of a simulated symbol (`SOL-USDC`, `SOLUSDT`, `SOL-USDT-SWAP`)."""
    if "-" in symbol:
        return symbol.split("-")[1]
    return next((q for q in ("USDT", "USDC", "BTC") if symbol.endswith(q)), "USDT")


def match(levels: list[tuple[int, int]], side: str, price_units: int, qty_units: int,
          tif: str) -> list[tuple[int, int]]:
    """Fills (price_ticks, qty_units) of a limit order against best-first opposite levels."""
    fills: list[tuple[int, int]] = []
    left = qty_units
    for px, qty in levels:
        if left == 0 or (px > price_units if side == "buy" else px < price_units):
            break
        take = min(left, qty)
        fills.append((px, take))
        left -= take
    if tif == "FOK" and left:
        return []
    return fills


def _fmt(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    q, r = divmod(units, 10**decimals)
    return f"{q}.{r:0{decimals}d}"


def _units(text: str, decimals: int) -> int:
    whole, _, frac = text.partition(".")
    if len(frac) > decimals or not (whole + frac).isdigit():
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return int(whole + frac.ljust(decimals, "0"))


class OrderDesk:
    """The order-entry side of one simulated venue."""

    def __init__(self, sim: VenueSim, *, taker_fee_ppm: int = 1000) -> None:
        self.sim = sim
        self.venue = sim.venue
        self.taker_fee_ppm = taker_fee_ppm
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, SimOrder] = {}
        self.faults: list[_Fault] = []
        self.stats = DeskStats()
        self._ids = itertools.count(700_000_001)
        self.listeners: list[Callable[[SimOrder], None]] = []
        """Called with every accepted order (the private streams push its events)."""
        self.limits = (DeskLimits(binance_orders_10s=300, binance_orders_long=1200,
                                  binance_weight_1m=2400) if self.venue == "binance-usdm"
                       else DeskLimits())
        self._counts: dict[tuple[str, int], int] = {}

    # -- set-up ---------------------------------------------------------------------------

    def add_account(self, api_key: str, secret: str = "", *, passphrase: str = "",
                    ed25519_pem: bytes | None = None, can_withdraw: bool = False) -> None:
        """Accept requests signed by this test key (HMAC secret or Ed25519 private key PEM)."""
        pub = None
        if ed25519_pem is not None:
            key = load_pem_private_key(ed25519_pem, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 private key")
            pub = key.public_key()
        self.accounts[api_key] = Account(api_key, secret.encode(), passphrase, pub, can_withdraw)

    def inject(self, kind: str, *, seconds: float = 1.0, count: int = 1) -> None:
        """Fault on the next `count` placements: timeout_after_accept | delay_ack | reject."""
        if kind not in ("timeout_after_accept", "delay_ack", "reject"):
            raise ValueError(f"unknown order fault {kind!r}")
        self.faults.extend(_Fault(kind, seconds) for _ in range(count))

    def placements_of(self, client_order_id: str) -> int:
        """How many times an order with this client id was accepted (never more than one)."""
        return self.stats.placements.count(client_order_id)

    # -- matching -------------------------------------------------------------------------

    def _execute(self, symbol: str, category: str, side: str, tif: str, price: str, qty: str,
                 client_order_id: str) -> SimOrder:
        feed = self.sim.feed(symbol, category)
        px_units, qty_units = _units(price, feed.px_dec), _units(qty, feed.qty_dec)
        bids, asks = feed.book.top(10_000)
        fills = match(asks if side == "buy" else bids, side, px_units, qty_units, tif)
        filled = sum(q for _, q in fills)
        quote = sum(p * q for p, q in fills)
        order = SimOrder(next(self._ids), client_order_id, symbol, category, side, tif,
                         px_units, qty_units, filled, quote,
                         quote * self.taker_fee_ppm // 1_000_000, fills, self.sim.now_ms())
        self.orders[client_order_id] = order
        self.stats.placements.append(client_order_id)
        for listener in self.listeners:
            listener(order)
        return order

    async def _fault_before(self) -> _Fault | None:
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        if fault.kind == "delay_ack":
            await asyncio.sleep(fault.seconds)
        return fault

    # -- HTTP -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Every order and instrument route of this venue."""
        body = await request.read()
        faulted = self.sim._fault_response(request.path_qs)  # injected 429/418/5xx, shared
        if faulted is not None:
            return faulted
        if request.path in INFO_PATHS:
            return self._json(200, self._info(request.query))
        refused, headers = self._rate_limit(request)
        if refused is not None:
            return refused
        if self.venue in _BINANCE:
            response = await self._binance(request, body)
        elif self.venue == "okx":
            response = await self._okx(request, body)
        else:
            response = await self._bybit(request, body)
        response.headers.update(headers)
        return response

    # -- rate limits ----------------------------------------------------------------------

    def _count(self, name: str, window_ms: int, now_ms: int, add: int) -> tuple[int, int]:
        """(count in the current fixed window after adding `add`, window end ms)."""
        start = now_ms // window_ms
        key = (name, start)
        self._counts[key] = self._counts.get(key, 0) + add
        return self._counts[key], (start + 1) * window_ms

    def _rate_limit(self, request: web.Request) -> tuple[web.Response | None, dict[str, str]]:
        """The venue's usage headers for this request, or its rate-limit refusal."""
        if request.path == "/sapi/v1/account/apiRestrictions":
            return None, {}
        lim, now = self.limits, self.sim.now_ms()
        if self.venue in _BINANCE:
            weight = 4 if request.method == "GET" and self.venue == "binance" else 1
            used, minute_end = self._count("weight", 60_000, now, weight)
            headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
            if used > lim.binance_weight_1m:
                return self._binance_limited(
                    -1003, f"Too much request weight used; current limit is "
                           f"{lim.binance_weight_1m} request weight per 1 MINUTE.",
                    minute_end - now, headers), headers
            if request.method != "POST":
                return None, headers
            long_name, long_ms = (("1D", 86_400_000) if self.venue == "binance"
                                  else ("1M", 60_000))
            n10, end10 = self._count("orders10s", 10_000, now, 1)
            n_long, end_long = self._count("orders" + long_name, long_ms, now, 1)
            headers |= {"X-MBX-ORDER-COUNT-10S": str(n10),
                        f"X-MBX-ORDER-COUNT-{long_name}": str(n_long)}
            if n10 > lim.binance_orders_10s:
                return self._binance_limited(
                    -1015, f"Too many new orders; current limit is {lim.binance_orders_10s} "
                           "orders per 10 SECOND.", end10 - now, headers), headers
            if n_long > lim.binance_orders_long:
                return self._binance_limited(
                    -1015, f"Too many new orders; current limit is {lim.binance_orders_long} "
                           f"orders per {long_name}.", end_long - now, headers), headers
            return None, headers
        if self.venue == "okx":
            n, _ = self._count(f"okx:{request.method}:{request.path}", 2000, now, 1)
            if n > lim.okx_per_2s:
                return self._json(429, {"code": "50011", "msg": "Too Many Requests",
                                        "data": []}, "50011"), {}
            return None, {}
        n, end = self._count(f"bybit:{request.path}", 1000, now, 1)
        headers = {"X-Bapi-Limit": str(lim.bybit_per_s),
                   "X-Bapi-Limit-Status": str(max(0, lim.bybit_per_s - n)),
                   "X-Bapi-Limit-Reset-Timestamp": str(end)}
        if n > lim.bybit_per_s:
            refused = self._bybit_err(10006, "Too many visits. Exceeded the API Rate Limit.")
            refused.headers.update(headers)
            return refused, headers
        return None, headers

    def _binance_limited(self, code: int, msg: str, wait_ms: int,
                         headers: dict[str, str]) -> web.Response:
        response = self._binance_err(429, code, msg)
        response.headers.update(headers)
        response.headers["Retry-After"] = str(max(1, -(-wait_ms // 1000)))
        return response

    def _json(self, status: int, obj: object, code: str = "") -> web.Response:
        if code:
            self.stats.refusals.append(code)
        return web.Response(status=status, body=orjson.dumps(obj),
                            content_type="application/json")

    def _info(self, q: Mapping[str, str]) -> object:
        feed = self.sim.feed(q.get("symbol") or q.get("instId") or "SOLUSDT",
                             q.get("category", "spot"))
        tick, step = _fmt(1, feed.px_dec), _fmt(1, feed.qty_dec)
        if self.venue in _BINANCE:
            notional = ({"filterType": "NOTIONAL", "minNotional": "1.00"} if self.venue == "binance"
                        else {"filterType": "MIN_NOTIONAL", "notional": "1"})
            lim = self.limits
            long_interval = "DAY" if self.venue == "binance" else "MINUTE"
            rate_limits = [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": lim.binance_weight_1m},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": lim.binance_orders_10s},
                {"rateLimitType": "ORDERS", "interval": long_interval, "intervalNum": 1,
                 "limit": lim.binance_orders_long}]
            return {"rateLimits": rate_limits, "symbols": [{
                "symbol": feed.symbol, "status": "TRADING", "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000",
                 "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "100000", "stepSize": step},
                notional]}]}
        if self.venue == "okx":
            swap = feed.symbol.endswith("-SWAP")
            return {"code": "0", "msg": "", "data": [{
                "instId": feed.symbol, "instType": "SWAP" if swap else "SPOT", "tickSz": tick,
                "lotSz": step, "minSz": step, "state": "live", "ctVal": "1" if swap else "",
                "maxLmtSz": "100000"}]}
        lot: dict[str, str] = {"minOrderQty": step, "maxOrderQty": "100000"}
        if q.get("category") == "linear":
            lot |= {"qtyStep": step, "minNotionalValue": "1"}
        else:
            lot |= {"basePrecision": step, "minOrderAmt": "1"}
        return {"retCode": 0, "retMsg": "OK", "result": {"category": q.get("category", "spot"),
                "list": [{"symbol": feed.symbol, "status": "Trading", "lotSizeFilter": lot,
                          "priceFilter": {"tickSize": tick, "minPrice": tick,
                                          "maxPrice": "1000000"}}]},
                "retExtInfo": {}, "time": self.sim.now_ms()}

    # -- Binance --------------------------------------------------------------------------

    def _binance_err(self, status: int, code: int, msg: str) -> web.Response:
        return self._json(status, {"code": code, "msg": msg}, str(code))

    def _binance_time_ok(self, ts: int, recv_window: int) -> str:
        now = self.sim.now_ms()
        if ts >= now + 1000:
            return "Timestamp for this request was 1000ms ahead of the server's time."
        if now - ts > recv_window:
            return "Timestamp for this request is outside of the recvWindow."
        return ""

    async def _binance(self, request: web.Request, body: bytes) -> web.Response:
        account = self.accounts.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None:
            return self._binance_err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        raw_query = request.raw_path.partition("?")[2]
        total = raw_query + body.decode()
        payload, sep, signature = total.rpartition("&signature=")
        if not sep or not self._binance_sig_ok(account, payload.encode(), unquote(signature)):
            return self._binance_err(400, -1022, "Signature for this request is not valid.")
        p = dict(parse_qsl(payload, keep_blank_values=True))
        try:
            ts, recv = int(p["timestamp"]), int(p.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            return self._binance_err(400, -1102, "Mandatory parameter 'timestamp' was not sent, "
                                                 "was empty/null, or malformed.")
        if recv > 60_000:
            return self._binance_err(400, -1131, "recvWindow must be less than 60000")
        if why := self._binance_time_ok(ts, recv):
            return self._binance_err(400, -1021, why)
        spot = self.venue == "binance"
        if request.path == "/sapi/v1/account/apiRestrictions":
            return self._json(200, {
                "ipRestrict": False, "createTime": 1698645219000, "enableReading": True,
                "enableWithdrawals": account.can_withdraw, "enableInternalTransfer": False,
                "enableMargin": False, "enableFutures": False, "permitsUniversalTransfer": False,
                "enableVanillaOptions": False, "enableSpotAndMarginTrading": True,
                "enablePortfolioMarginTrading": False})
        if request.method == "GET" or request.method == "DELETE":
            order = self.orders.get(p.get("origClientOrderId", ""))
            if order is None:
                if request.method == "GET":
                    return self._binance_err(400, -2013, "Order does not exist.")
                return self._binance_err(400, -2011, "Unknown order sent.")
            if request.method == "DELETE":  # IOC/FOK orders are already final
                return self._binance_err(400, -2011, "Unknown order sent.")
            return self._json(200, self._binance_order(order, spot, full=False))
        fault = await self._fault_before()
        if fault is not None and fault.kind == "delay_ack" and (
                why := self._binance_time_ok(ts, recv)):
            return self._binance_err(400, -1021, why)  # re-checked before matching
        if fault is not None and fault.kind == "reject":
            return self._binance_err(400, -2010, "Account has insufficient balance for "
                                                 "requested action.")
        cid = p.get("newClientOrderId", "")
        if cid in self.orders:
            return self._binance_err(400, -2010, "Duplicate order sent.")
        try:
            order = self._execute(p["symbol"], "spot", p["side"].lower(), p["timeInForce"],
                                  p["price"], p["quantity"], cid)
        except (KeyError, ValueError) as exc:
            return self._binance_err(400, -1102, f"Mandatory parameter malformed: {exc}")
        response = self._json(200, self._binance_order(order, spot, full=True))
        if fault is not None and fault.kind == "timeout_after_accept":
            await asyncio.sleep(fault.seconds)
        return response

    def _binance_sig_ok(self, account: Account, payload: bytes, signature: str) -> bool:
        if account.ed25519 is not None:
            try:
                account.ed25519.verify(base64.b64decode(signature, validate=True), payload)
            except (InvalidSignature, binascii.Error, ValueError):
                return False
            return True
        expected = hmac.new(account.secret, payload, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())  # HMAC: case-insensitive

    def _binance_order(self, o: SimOrder, spot: bool, *, full: bool) -> dict[str, Any]:
        feed = self.sim.feed(o.symbol, o.category)
        pd, qd = feed.px_dec, feed.qty_dec
        status = "FILLED" if o.filled_units == o.qty_units else "EXPIRED"
        out: dict[str, Any] = {
            "symbol": o.symbol, "orderId": o.venue_order_id, "clientOrderId": o.client_order_id,
            "price": _fmt(o.price_units, pd), "origQty": _fmt(o.qty_units, qd),
            "executedQty": _fmt(o.filled_units, qd), "status": status,
            "timeInForce": o.tif, "type": "LIMIT", "side": o.side.upper()}
        if spot:
            out["cummulativeQuoteQty"] = _fmt(o.quote_units, pd + qd)
            out["orderListId"] = -1
            if full:
                out["transactTime"] = o.ts_ms
                asset = quote_asset(o.symbol)
                out["fills"] = [{"price": _fmt(p, pd), "qty": _fmt(q, qd),
                                 "commission": _fmt(p * q * self.taker_fee_ppm // 1_000_000,
                                                    pd + qd),
                                 "commissionAsset": asset, "tradeId": i + 1}
                                for i, (p, q) in enumerate(o.fills)]
            else:
                out["time"] = out["updateTime"] = o.ts_ms
        else:
            avg = o.quote_units // o.filled_units if o.filled_units else 0
            out |= {"cumQty": out["executedQty"], "cumQuote": _fmt(o.quote_units, pd + qd),
                    "avgPrice": _fmt(avg, pd), "updateTime": o.ts_ms, "reduceOnly": False,
                    "positionSide": "BOTH"}
        return out

    # -- OKX ------------------------------------------------------------------------------

    def _okx_err(self, status: int, code: str, msg: str) -> web.Response:
        return self._json(status, {"code": code, "msg": msg, "data": []}, code)

    def _okx_auth(self, request: web.Request, body: bytes) -> web.Response | None:
        h = request.headers
        key = h.get("OK-ACCESS-KEY", "")
        if not key:
            return self._okx_err(401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.')
        account = self.accounts.get(key)
        if account is None:
            return self._okx_err(401, "50111", "Invalid OK-ACCESS-KEY.")
        if h.get("OK-ACCESS-PASSPHRASE", "") != account.passphrase:
            return self._okx_err(401, "50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')
        ts = h.get("OK-ACCESS-TIMESTAMP", "")
        ts_ms = _parse_iso_ms(ts)
        if ts_ms is None:
            return self._okx_err(401, "50112", "Invalid OK-ACCESS-TIMESTAMP.")
        if abs(self.sim.now_ms() - ts_ms) > OKX_WINDOW_MS:
            return self._okx_err(401, "50102", "Timestamp request expired.")
        prehash = ts.encode() + request.method.encode() + request.raw_path.encode() + body
        expected = base64.b64encode(hmac.new(account.secret, prehash, hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), h.get("OK-ACCESS-SIGN", "")):
            return self._okx_err(401, "50113", "Invalid Sign.")
        return None

    async def _okx(self, request: web.Request, body: bytes) -> web.Response:
        refused = self._okx_auth(request, body)
        if refused is not None:
            return refused
        if request.path in KEY_PATHS:
            return self._json(200, key_config_answer(
                "okx", self.accounts[request.headers["OK-ACCESS-KEY"]], self.sim.now_ms()))
        now = str(self.sim.now_ms())
        if request.method == "GET":
            order = self.orders.get(request.query.get("clOrdId", ""))
            if order is None:
                return self._okx_err(200, "51603", "Order does not exist")
            return self._json(200, {"code": "0", "msg": "", "data": [self._okx_order(order)]})
        try:
            p = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._okx_err(400, "50002", "JSON syntax error")
        cid = str(p.get("clOrdId", ""))
        if request.path == "/api/v5/trade/cancel-order":
            code, msg = ("51400", "Order cancellation failed as the order has been filled, "
                         "canceled or does not exist")
            return self._json(200, {"code": "1", "msg": "", "data": [
                {"clOrdId": cid, "ordId": "", "sCode": code, "sMsg": msg}]}, code)
        fault = await self._fault_before()
        if (exp := request.headers.get("expTime")) is not None and (
                not exp.isdigit() or self.sim.now_ms() > int(exp)):
            return self._okx_err(200, "50036", "The expTime can't be earlier than the current "
                                               "system time. Please adjust the expTime and try "
                                               "again.")
        if fault is not None and fault.kind == "reject":
            return self._okx_refuse(cid, "51008", "Order failed. Insufficient USDT balance in "
                                                  "account.")
        if cid in self.orders:
            return self._okx_refuse(cid, "51016", "Duplicated clOrdId")
        try:
            order = self._execute(str(p["instId"]), "spot", str(p["side"]),
                                  str(p["ordType"]).upper(), str(p["px"]), str(p["sz"]), cid)
        except (KeyError, ValueError) as exc:
            return self._okx_refuse(cid, "51000", f"Parameter error: {exc}")
        response = self._json(200, {"code": "0", "msg": "", "data": [{
            "clOrdId": cid, "ordId": str(order.venue_order_id), "tag": "", "ts": now,
            "sCode": "0", "sMsg": "Order placed"}], "inTime": now, "outTime": now})
        if fault is not None and fault.kind == "timeout_after_accept":
            await asyncio.sleep(fault.seconds)
        return response

    def _okx_refuse(self, cid: str, code: str, msg: str) -> web.Response:
        return self._json(200, {"code": "1", "msg": "All operations failed", "data": [
            {"clOrdId": cid, "ordId": "", "tag": "", "ts": str(self.sim.now_ms()),
             "sCode": code, "sMsg": msg}]}, code)

    def _okx_order(self, o: SimOrder) -> dict[str, str]:
        feed = self.sim.feed(o.symbol, o.category)
        pd, qd = feed.px_dec, feed.qty_dec
        avg = _fmt(o.quote_units // o.filled_units, pd) if o.filled_units else ""
        state = "filled" if o.filled_units == o.qty_units else "canceled"
        return {"instId": o.symbol, "ordId": str(o.venue_order_id), "clOrdId": o.client_order_id,
                "px": _fmt(o.price_units, pd), "sz": _fmt(o.qty_units, qd),
                "ordType": o.tif.lower(), "side": o.side, "state": state,
                "accFillSz": _fmt(o.filled_units, qd), "avgPx": avg,
                "fee": "-" + _fmt(o.fee_units, pd + qd) if o.fee_units else "0",
                "feeCcy": quote_asset(o.symbol), "uTime": str(o.ts_ms), "cTime": str(o.ts_ms)}

    # -- Bybit ----------------------------------------------------------------------------

    def _bybit_err(self, code: int, msg: str) -> web.Response:
        return self._json(200, {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {},
                                "time": self.sim.now_ms()}, str(code))

    async def _bybit(self, request: web.Request, body: bytes) -> web.Response:
        h = request.headers
        account = self.accounts.get(h.get("X-BAPI-API-KEY", ""))
        if account is None:
            return self._bybit_err(10003, "API key is invalid.")
        try:
            ts, recv = int(h["X-BAPI-TIMESTAMP"]), int(h.get("X-BAPI-RECV-WINDOW", "5000"))
        except (KeyError, ValueError):
            return self._bybit_err(10001, "Request parameter error.")
        now = self.sim.now_ms()
        if not now - recv <= ts < now + 1000:
            return self._bybit_err(10002, "The request time exceeds the time window range.")
        payload = body if request.method == "POST" else request.raw_path.partition("?")[2].encode()
        expected = hmac.new(account.secret, f"{ts}{account.api_key}{recv}".encode() + payload,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, h.get("X-BAPI-SIGN", "")):
            return self._bybit_err(10004, "Error sign, please check your signature generation "
                                          "algorithm.")
        if request.path in KEY_PATHS:
            return self._json(200, key_config_answer("bybit", account, now))
        if request.method == "GET":
            order = self.orders.get(request.query.get("orderLinkId", ""))
            found = [self._bybit_order(order)] if order is not None else []
            return self._bybit_ok({"category": request.query.get("category", "spot"),
                                   "list": found, "nextPageCursor": ""})
        try:
            p = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._bybit_err(10001, "Request parameter error.")
        cid = str(p.get("orderLinkId", ""))
        spot = p.get("category") == "spot"
        if request.path == "/v5/order/cancel":
            return (self._bybit_err(170213, "Order does not exist.") if spot
                    else self._bybit_err(110001, "Order does not exist"))
        fault = await self._fault_before()
        if fault is not None and fault.kind == "reject":
            return (self._bybit_err(170131, "Balance insufficient") if spot
                    else self._bybit_err(110007, "Available balance is insufficient"))
        if cid in self.orders:
            return (self._bybit_err(170141, "Duplicate clientOrderId") if spot
                    else self._bybit_err(110072, "OrderLinkedID is duplicate"))
        try:
            order = self._execute(str(p["symbol"]), "spot" if spot else "linear",
                                  str(p["side"]).lower(), str(p["timeInForce"]), str(p["price"]),
                                  str(p["qty"]), cid)
        except (KeyError, ValueError):
            return self._bybit_err(10001, "Request parameter error.")
        response = self._bybit_ok({"orderId": str(order.venue_order_id), "orderLinkId": cid})
        if fault is not None and fault.kind == "timeout_after_accept":
            await asyncio.sleep(fault.seconds)
        return response

    def _bybit_ok(self, result: object) -> web.Response:
        return self._json(200, {"retCode": 0, "retMsg": "OK", "result": result,
                                "retExtInfo": {}, "time": self.sim.now_ms()})

    def _bybit_order(self, o: SimOrder) -> dict[str, object]:
        feed = self.sim.feed(o.symbol, o.category)
        pd, qd = feed.px_dec, feed.qty_dec
        if o.filled_units == o.qty_units:
            status = "Filled"
        elif o.filled_units and o.category == "spot":
            status = "PartiallyFilledCanceled"
        else:
            status = "Cancelled"
        return {"orderId": str(o.venue_order_id), "orderLinkId": o.client_order_id,
                "symbol": o.symbol, "price": _fmt(o.price_units, pd),
                "qty": _fmt(o.qty_units, qd), "side": o.side.capitalize(),
                "orderStatus": status, "timeInForce": o.tif, "orderType": "Limit",
                "cumExecQty": _fmt(o.filled_units, qd),
                "cumExecValue": _fmt(o.quote_units, pd + qd),
                "leavesQty": "0", "avgPrice": (_fmt(o.quote_units // o.filled_units, pd)
                                               if o.filled_units else ""),
                "cumFeeDetail": ({quote_asset(o.symbol): _fmt(o.fee_units, pd + qd)}
                                 if o.fee_units else {}),
                "createdTime": str(o.ts_ms), "updatedTime": str(o.ts_ms)}


def _parse_iso_ms(text: str) -> int | None:
    """ms since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`, or None if it is not that."""
    if len(text) != 24 or not text.endswith("Z") or text[19] != ".":
        return None
    try:
        secs = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
        return secs * 1000 + int(text[20:23])
    except ValueError:
        return None


def key_config_answer(venue: str, account: Account, now_ms: int) -> dict[str, object]:
    """The OKX `/api/v5/account/config` or Bybit `/v5/user/query-api` answer for a test key:
    it can trade, can withdraw when the account says so, and is bound to no IP."""
    if venue == "okx":
        perm = "read_only,trade" + (",withdraw" if account.can_withdraw else "")
        return {"code": "0", "msg": "", "data": [{
            "uid": "44705892343619584", "mainUid": "44705892343619584", "acctLv": "2",
            "posMode": "net_mode", "autoLoan": False, "greeksType": "PA", "level": "Lv1",
            "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic",
            "perm": perm, "ip": "", "label": "solarb loopback", "roleType": "0"}]}
    wallet = ["AccountTransfer", "SubMemberTransfer"] + (
        ["Withdraw"] if account.can_withdraw else [])
    return {"retCode": 0, "retMsg": "", "result": {
        "id": "13770661", "note": "solarb loopback", "apiKey": account.api_key, "readOnly": 0,
        "secret": "", "permissions": {
            "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": wallet,
            "Options": [], "Derivatives": [], "CopyTrading": [], "BlockTrade": [],
            "Exchange": [], "NFT": [], "Affiliate": []},
        "ips": ["*"], "type": 1, "deadlineDay": 83, "expiredAt": "2026-12-31T00:00:00Z",
        "createdAt": "2026-01-01T00:00:00Z", "unified": 0, "uta": 1, "userID": 24617703,
        "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
        "rsaPublicKey": "", "isMaster": False, "parentUid": "24617700"},
        "retExtInfo": {}, "time": now_ms}
