"""Order requests, market filters and rounding, venue error tables, answers, secret hygiene."""

from __future__ import annotations

import base64
import hashlib
import hmac
import pickle
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import venues
from connectors.cex.orders import binance, bybit, okx
from connectors.cex.orders.common import (
    Credentials,
    OrderSpec,
    SymbolFilters,
    limit_order,
    order_from_intent,
    slice_order,
)
from connectors.cex.orders.ids import client_order_id
from operators.errors import ConfigError, ExecutionError

SECRET = "unit-test-secret-7f3a"
KEY = "unit-test-api-key-91c2"
PASSPHRASE = "unit-test-passphrase"
CREDS = Credentials(KEY, SECRET, passphrase=PASSPHRASE)

BINANCE_SPOT_INFO = orjson.dumps({"symbols": [{
    "symbol": "SOLUSDC", "status": "TRADING", "baseAsset": "SOL", "quoteAsset": "USDC",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "9000000.00000000",
         "stepSize": "0.00100000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    ]}]})
BINANCE_USDM_INFO = orjson.dumps({"symbols": [{
    "symbol": "SOLUSDT", "status": "TRADING", "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.4200", "maxPrice": "6857",
         "tickSize": "0.0100"},
        {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "1000000", "minQty": "1"},
        {"filterType": "MIN_NOTIONAL", "notional": "5"},
    ]}]})
OKX_SPOT_INFO = orjson.dumps({"code": "0", "msg": "", "data": [{
    "instId": "SOL-USDC", "instType": "SPOT", "tickSz": "0.01", "lotSz": "0.000001",
    "minSz": "0.01", "state": "live", "ctVal": "", "maxLmtSz": "999999999"}]})
OKX_SWAP_INFO = orjson.dumps({"code": "0", "msg": "", "data": [{
    "instId": "SOL-USDT-SWAP", "instType": "SWAP", "tickSz": "0.01", "lotSz": "0.01",
    "minSz": "0.01", "state": "live", "ctVal": "1", "ctValCcy": "SOL", "maxLmtSz": "100000"}]})
BYBIT_SPOT_INFO = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {"category": "spot",
    "list": [{"symbol": "SOLUSDT", "status": "Trading",
              "lotSizeFilter": {"basePrecision": "0.001", "quotePrecision": "0.00000001",
                                "minOrderQty": "0.001", "maxOrderQty": "10000",
                                "minOrderAmt": "5", "maxOrderAmt": "2000000"},
              "priceFilter": {"tickSize": "0.01"}}]}, "time": 1})
BYBIT_LINEAR_INFO = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {"category": "linear",
    "list": [{"symbol": "SOLUSDT", "status": "Trading",
              "priceFilter": {"minPrice": "0.010", "maxPrice": "199999.980", "tickSize": "0.010"},
              "lotSizeFilter": {"maxOrderQty": "79770.0", "minOrderQty": "0.1", "qtyStep": "0.1",
                                "minNotionalValue": "5"}}]}, "time": 1})


def test_binance_spot_filters_parse_to_integer_scales():
    f = binance.SPOT.parse_filters(BINANCE_SPOT_INFO, "SOLUSDC", "spot")
    assert (f.price_decimals, f.tick_units, f.qty_decimals, f.step_units) == (2, 1, 3, 1)
    assert (f.min_qty_units, f.max_qty_units) == (1, 9_000_000_000)
    assert (f.min_price_units, f.max_price_units, f.min_notional_units) == (
        1, 100_000_000, 5 * 10**5)


def test_other_venues_filters_parse_with_their_own_fields():
    usdm = binance.USDM.parse_filters(BINANCE_USDM_INFO, "SOLUSDT", "perp")
    assert (usdm.price_decimals, usdm.qty_decimals, usdm.step_units, usdm.min_notional_units) == (
        2, 0, 1, 500)
    swap = okx.OKX.parse_filters(OKX_SWAP_INFO, "SOL-USDT-SWAP", "perp")
    assert (swap.qty_decimals, swap.step_units, swap.base_per_qty) == (2, 1, Fraction(1))
    spot = bybit.BYBIT.parse_filters(BYBIT_SPOT_INFO, "SOLUSDT", "spot")
    assert (spot.qty_decimals, spot.step_units, spot.min_notional_units) == (3, 1, 5 * 10**5)
    lin = bybit.BYBIT.parse_filters(BYBIT_LINEAR_INFO, "SOLUSDT", "perp")
    assert (lin.price_decimals, lin.tick_units, lin.qty_decimals, lin.step_units) == (2, 1, 1, 1)


def test_unknown_or_halted_symbol_is_a_config_error():
    with pytest.raises(ConfigError, match="ETHUSDC is not in exchangeInfo"):
        binance.SPOT.parse_filters(BINANCE_SPOT_INFO, "ETHUSDC", "spot")
    halted = BINANCE_SPOT_INFO.replace(b'"TRADING"', b'"BREAK"')
    with pytest.raises(ConfigError, match="status is BREAK"):
        binance.SPOT.parse_filters(halted, "SOLUSDC", "spot")


SPOT_F = binance.SPOT.parse_filters(BINANCE_SPOT_INFO, "SOLUSDC", "spot")


def test_buy_price_rounds_down_and_sell_price_rounds_up_to_the_tick():
    p = Fraction(150_256, 1000)  # 150.256
    assert SPOT_F.round_price("buy", p) == 15025
    assert SPOT_F.round_price("sell", p) == 15026
    assert SPOT_F.round_price("buy", Fraction(15025, 100)) == 15025  # on the tick: unchanged
    assert SPOT_F.round_price("sell", Fraction(15025, 100)) == 15025


def test_quantity_rounds_down_to_the_lot_step():
    assert SPOT_F.round_qty(Fraction(12_345_678, 10**6)) == 12_345  # 12.345678 -> 12.345


@pytest.mark.parametrize(("price", "qty", "message"), [
    (Fraction(150), Fraction(1, 10**4), "LOT_SIZE: quantity 0.0001 is zero after rounding"),
    (Fraction(150), Fraction(3, 100), "MIN_NOTIONAL: notional 4.50000 below 5.00000"),
    (Fraction(1, 1000), Fraction(1), "PRICE_FILTER: price 0.001 is zero after rounding"),
    (Fraction(2_000_000), Fraction(1), "PRICE_FILTER: price 2000000.00 above maxPrice"),
    (Fraction(150), Fraction(10**7), "LOT_SIZE: quantity 10000000.000 above maxQty"),
])
def test_orders_that_cannot_be_expressed_are_refused_naming_venue_market_and_filter(
        price, qty, message):
    with pytest.raises(ExecutionError) as err:
        limit_order(SPOT_F, "buy", "IOC", price, qty, "cid")
    assert err.value.retryable is False
    assert str(err.value).startswith(f"binance: spot SOLUSDC: {message}")


def test_intent_limit_becomes_a_price_the_leg_can_never_beat():
    # 1.5 SOL (9 decimals) for at most 225.3756 USDC (6 decimals): 150.2504 per SOL.
    spec = order_from_intent(SPOT_F, side="buy", size_base=1_500_000_000,
                             limit_quote=225_375_600, base_decimals=9, quote_decimals=6,
                             tif="FOK", client_order_id="cid")
    assert spec == OrderSpec("SOLUSDC", "spot", "buy", "FOK", 15025, 1500, "cid")
    sell = order_from_intent(SPOT_F, side="sell", size_base=1_500_000_000,
                             limit_quote=225_375_600, base_decimals=9, quote_decimals=6,
                             tif="IOC", client_order_id="cid")
    assert sell.price_units == 15026


def _hmac_hex(payload: bytes) -> str:
    return hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()


def test_binance_spot_ioc_request_bytes():
    spec = limit_order(SPOT_F, "buy", "IOC", Fraction(15025, 100), Fraction(3, 2), "S1B00")
    req = binance.SPOT.place(CREDS, SPOT_F, spec, 1_700_000_000_123, 5000)
    payload = ("symbol=SOLUSDC&side=BUY&type=LIMIT&timeInForce=IOC&quantity=1.500&price=150.25"
               "&newClientOrderId=S1B00&newOrderRespType=FULL&recvWindow=5000"
               "&timestamp=1700000000123")
    assert (req.method, req.path, req.body) == ("POST", "/api/v3/order", b"")
    assert req.query == f"{payload}&signature={_hmac_hex(payload.encode())}"
    assert req.expires_ms == 1_700_000_005_123


def test_binance_cancel_and_query_use_orig_client_order_id():
    usdm = binance.USDM.parse_filters(BINANCE_USDM_INFO, "SOLUSDT", "perp")
    c = binance.USDM.cancel(CREDS, usdm, "S1B00", 1, 5000)
    q = binance.USDM.query(CREDS, usdm, "S1B00", 1, 5000)
    assert (c.method, c.path) == ("DELETE", "/fapi/v1/order")
    assert (q.method, q.path) == ("GET", "/fapi/v1/order")
    assert q.query.startswith("symbol=SOLUSDT&origClientOrderId=S1B00&recvWindow=5000&timestamp=1&")


def test_okx_swap_fok_request_bytes_and_headers():
    f = okx.OKX.parse_filters(OKX_SWAP_INFO, "SOL-USDT-SWAP", "perp")
    spec = limit_order(f, "sell", "FOK", Fraction(15025, 100), Fraction(2), "S1S00")
    req = okx.OKX.place(CREDS, f, spec, 1607418537715, 5000)
    body = (b'{"instId":"SOL-USDT-SWAP","tdMode":"cross","side":"sell","ordType":"fok",'
            b'"px":"150.25","sz":"2.00","clOrdId":"S1S00"}')
    assert (req.method, req.path, req.query, req.body) == ("POST", "/api/v5/trade/order", "", body)
    sign = base64.b64encode(hmac.new(SECRET.encode(), b"2020-12-08T09:08:57.715ZPOST"
                                     b"/api/v5/trade/order" + body, hashlib.sha256).digest())
    assert dict(req.headers)["OK-ACCESS-SIGN"] == sign.decode()
    # The placement's deadline: expTime = timestamp + recv window (not a signing input).
    assert (dict(req.headers)["expTime"], req.expires_ms) == ("1607418542715", 1607418542715)
    q = okx.OKX.query(CREDS, f, "S1S00", 1607418537715, 5000)
    assert q.target == "/api/v5/trade/order?instId=SOL-USDT-SWAP&clOrdId=S1S00"
    assert "expTime" not in dict(q.headers) and q.expires_ms == 1607418537715 + 30_000


def test_bybit_linear_ioc_request_bytes():
    f = bybit.BYBIT.parse_filters(BYBIT_LINEAR_INFO, "SOLUSDT", "perp")
    spec = limit_order(f, "buy", "IOC", Fraction(15025, 100), Fraction(3, 2), "S1B01")
    req = bybit.BYBIT.place(CREDS, f, spec, 1658384314791, 5000)
    body = (b'{"category":"linear","symbol":"SOLUSDT","side":"Buy","orderType":"Limit",'
            b'"qty":"1.5","price":"150.25","timeInForce":"IOC","orderLinkId":"S1B01"}')
    assert req.body == body
    assert dict(req.headers)["X-BAPI-SIGN"] == _hmac_hex(
        f"1658384314791{KEY}5000".encode() + body)


@pytest.mark.parametrize(("codec", "status", "body", "code", "retryable", "action"), [
    (binance.SPOT, 400, b'{"code":-1021,"msg":"Timestamp for this request is outside of the '
     b'recvWindow."}', "-1021", True, "resync_time"),
    (binance.SPOT, 400, b'{"code":-2010,"msg":"Account has insufficient balance for requested '
     b'action."}', "-2010", False, ""),
    (binance.SPOT, 400, b'{"code":-1022,"msg":"Signature for this request is not valid."}',
     "-1022", False, ""),
    (binance.SPOT, 429, b'{"code":-1003,"msg":"Too much request weight used"}', "-1003", True,
     "backoff"),
    (binance.SPOT, 418, b"banned", "http", True, "backoff"),
    (binance.USDM, 503, b'{"code":-1007,"msg":"Timeout waiting for response from backend '
     b'server. Send status unknown; execution status unknown."}', "-1007", True, "query"),
    (okx.OKX, 200, b'{"code":"1","msg":"","data":[{"clOrdId":"x","ordId":"","sCode":"51008",'
     b'"sMsg":"Order failed. Insufficient USDC balance in account."}]}', "51008", False, ""),
    (okx.OKX, 401, b'{"code":"50113","msg":"Invalid Sign","data":[]}', "50113", False, ""),
    (okx.OKX, 401, b'{"code":"50102","msg":"Timestamp request expired","data":[]}', "50102",
     True, "resync_time"),
    (okx.OKX, 429, b'{"code":"50011","msg":"Rate limit reached","data":[]}', "50011", True,
     "backoff"),
    (bybit.BYBIT, 200, b'{"retCode":10002,"retMsg":"The request time exceeds the time window '
     b'range.","result":{}}', "10002", True, "resync_time"),
    (bybit.BYBIT, 200, b'{"retCode":110007,"retMsg":"Available balance is insufficient",'
     b'"result":{}}', "110007", False, ""),
    (bybit.BYBIT, 200, b'{"retCode":10006,"retMsg":"Too many visits","result":{}}', "10006",
     True, "backoff"),
    (bybit.BYBIT, 403, b"access too frequent", "10006", True, "backoff"),
])
def test_venue_errors_map_to_execution_errors(codec, status, body, code, retryable, action):
    err = codec.error(status, body)
    assert isinstance(err, ExecutionError)
    assert (err.venue, err.code, err.retryable, err.action) == (
        codec.venue, code, retryable, action)
    assert f"code {code}" in str(err)


def test_success_answers_are_not_errors():
    assert binance.SPOT.error(200, b"{}") is None
    assert okx.OKX.error(200, b'{"code":"0","msg":"","data":[{"sCode":"0"}]}') is None
    assert bybit.BYBIT.error(200, b'{"retCode":0,"retMsg":"OK","result":{}}') is None


def test_binance_full_answer_gives_fills_and_fees():
    body = orjson.dumps({
        "symbol": "SOLUSDC", "orderId": 28, "orderListId": -1, "clientOrderId": "S1B00",
        "transactTime": 1507725176595, "price": "150.25000000", "origQty": "1.00000000",
        "executedQty": "0.40000000", "cummulativeQuoteQty": "60.10000000", "status": "EXPIRED",
        "timeInForce": "IOC", "type": "LIMIT", "side": "BUY",
        "fills": [{"price": "150.25000000", "qty": "0.40000000", "commission": "0.06010000",
                   "commissionAsset": "USDC", "tradeId": 56}]})
    r = binance.SPOT.parse_order(body, SPOT_F, "S1B00")
    assert (r.status, r.filled_qty_units, r.quote_units, r.fee, r.fee_asset) == (
        "expired", 400, 6_010_000, Decimal("0.0601"), "USDC")
    assert (r.venue_order_id, r.ts_event_ms, r.final) == ("28", 1507725176595, True)


def test_okx_and_bybit_acks_are_not_final_and_queries_are():
    f = okx.OKX.parse_filters(OKX_SPOT_INFO, "SOL-USDC", "spot")
    ack = okx.OKX.parse_order(b'{"code":"0","msg":"","data":[{"clOrdId":"c","ordId":"9",'
                              b'"tag":"","ts":"1695190491421","sCode":"0","sMsg":"Order placed"}'
                              b'],"inTime":"1","outTime":"2"}', f, "c")
    assert (ack.status, ack.venue_order_id, ack.final) == ("new", "9", False)
    q = okx.OKX.parse_order(orjson.dumps({"code": "0", "msg": "", "data": [{
        "instId": "SOL-USDC", "ordId": "9", "clOrdId": "c", "state": "filled", "px": "150.25",
        "sz": "2", "accFillSz": "2", "avgPx": "150.2", "fee": "-0.3004", "feeCcy": "USDC",
        "uTime": "1695190491439"}]}), f, "c")
    assert (q.status, q.filled_qty_units, q.quote_units, q.fee, q.fee_asset) == (
        "filled", 2_000_000, 30_040_000_000, Decimal("0.3004"), "USDC")
    bf = bybit.BYBIT.parse_filters(BYBIT_SPOT_INFO, "SOLUSDT", "spot")
    bq = bybit.BYBIT.parse_order(orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {
        "category": "spot", "list": [{
            "orderId": "1", "orderLinkId": "c", "symbol": "SOLUSDT",
            "orderStatus": "PartiallyFilledCanceled", "cumExecQty": "0.500",
            "cumExecValue": "75.125", "cumFeeDetail": {"USDT": "0.075125"},
            "updatedTime": "1684738540561"}]}, "time": 2}), bf, "c")
    assert (bq.status, bq.filled_qty_units, bq.quote_units, bq.fee) == (
        "cancelled", 500, 7_512_500, Decimal("0.075125"))


def test_every_cex_adapter_exposes_its_order_codec():
    for venue_id in ("binance", "binance-usdm", "okx", "bybit"):
        codec = venues.cex(venue_id).orders
        assert codec is not None and codec.venue == venue_id


def _secret_forms() -> list[str]:
    raw = SECRET.encode()
    return [SECRET, raw.hex(), base64.b64encode(raw).decode(), PASSPHRASE, KEY]


def test_no_key_secret_or_passphrase_in_reprs_errors_or_journal_params():
    f = okx.OKX.parse_filters(OKX_SPOT_INFO, "SOL-USDC", "spot")
    spec = limit_order(f, "buy", "IOC", Fraction(150), Fraction(1), "S1B00")
    texts = [repr(CREDS), str(CREDS)]
    for codec, filters in ((okx.OKX, f), (binance.SPOT, SPOT_F)):
        req = codec.place(CREDS, filters, spec if codec is okx.OKX else
                          limit_order(SPOT_F, "buy", "IOC", Fraction(150), Fraction(1), "S1B00"),
                          1, 5000)
        texts += [repr(req), str(req), repr(req.params)]
    for codec, status, body in ((binance.SPOT, 400, b'{"code":-1022,"msg":"bad"}'),
                                (okx.OKX, 401, b'{"code":"50113","msg":"Invalid Sign"}')):
        err = codec.error(status, body)
        texts += [str(err), repr(err)]
    with pytest.raises(ExecutionError) as refused:
        limit_order(SPOT_F, "buy", "IOC", Fraction(150), Fraction(1, 10**6), "x")
    texts += [str(refused.value), repr(refused.value)]
    with pytest.raises(TypeError):
        pickle.dumps(CREDS)
    for text in texts:
        for form in _secret_forms():
            assert form not in text, text


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=10**6),
       st.sampled_from([1, 5, 25]), st.sampled_from(["buy", "sell"]))
def test_rounded_price_never_beats_the_limit_and_stays_within_one_tick(num, den, tick, side):
    f = SymbolFilters(venue="v", symbol="S", market="spot", price_decimals=4, tick_units=tick,
                      qty_decimals=3, step_units=1, min_qty_units=1)
    price = Fraction(num, den)
    try:
        units = f.round_price(side, price)  # type: ignore[arg-type]
    except ExecutionError as exc:
        assert exc.retryable is False and side == "buy"  # only a buy can round to zero
        return
    exact = price * 10**4
    assert units % tick == 0
    if side == "buy":
        assert exact - tick < units <= exact
    else:
        assert exact <= units < exact + tick


@given(st.integers(min_value=1, max_value=10**15), st.sampled_from([1, 10, 1000]))
def test_rounded_quantity_never_exceeds_the_intent_and_stays_within_one_step(qty_e9, step):
    f = SymbolFilters(venue="v", symbol="S", market="spot", price_decimals=2, tick_units=1,
                      qty_decimals=3, step_units=step, min_qty_units=step)
    qty = Fraction(qty_e9, 10**9)
    try:
        units = f.round_qty(qty)
    except ExecutionError as exc:
        assert exc.retryable is False and qty * 1000 < step
        return
    assert units % step == 0 and qty * 1000 - step < units <= qty * 1000


def test_an_order_deeper_than_the_book_is_cut_into_equal_slices_on_the_lot_grid():
    spec = limit_order(SPOT_F, "buy", "IOC", Fraction(150), Fraction(10), "S0")  # 10.000
    ids = [client_order_id("opp", "buy", 0, k) for k in range(10)]
    slices = slice_order(SPOT_F, spec, 3_000, ids)  # usual depth 3.000 at the limit
    assert [s.qty_units for s in slices] == [2_500, 2_500, 2_500, 2_500]
    assert [s.client_order_id for s in slices] == ids[:4]
    assert {(s.price_units, s.side, s.tif) for s in slices} == {(15000, "buy", "IOC")}
    assert slice_order(SPOT_F, spec, 10_000, ids) == [spec]


def test_slices_that_would_be_dust_are_refused():
    spec = limit_order(SPOT_F, "buy", "IOC", Fraction(150), Fraction(1), "S0")
    ids = [client_order_id("opp", "buy", 0, k) for k in range(36)]
    with pytest.raises(ExecutionError, match="MIN_NOTIONAL"):
        slice_order(SPOT_F, spec, 30, ids)  # 34 slices of ~0.03 SOL: 4.4 USDC each < 5


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**5))
def test_slices_add_up_to_the_order_and_none_exceeds_the_cap(qty, cap):
    f = SymbolFilters(venue="v", symbol="S", market="spot", price_decimals=2, tick_units=1,
                      qty_decimals=3, step_units=1, min_qty_units=1)
    spec = OrderSpec("S", "spot", "sell", "IOC", 100, qty, "S0")
    n = -(-qty // cap)
    if n > 36:
        return
    ids = [client_order_id("o", "sell", 0, k) for k in range(36)]
    slices = slice_order(f, spec, cap, ids)
    assert sum(s.qty_units for s in slices) == qty
    assert all(0 < s.qty_units <= cap for s in slices)
    assert max(s.qty_units for s in slices) - min(s.qty_units for s in slices) <= 1
    assert len({s.client_order_id for s in slices}) == len(slices)


def test_order_transport_settings_come_from_config():
    from config import load_settings
    from connectors.cex.order_transport import transport_config

    settings = load_settings(env={"SOLARB__VENUES__OKX__RECV_WINDOW_MS": "3000",
                                  "SOLARB__EXECUTION__ORDER_TIMEOUT_MS": "1500"})
    cfg = transport_config(settings, "okx")
    assert (cfg.timeout_s, cfg.recv_window_ms, cfg.max_resends) == (1.5, 3000, 1)
    assert settings.execution.slice_depth_quantile == 0.95
    from connectors.cex.user_stream import stream_config

    assert stream_config(settings).backoff_max_s == 10.0
