"""WS order entry codecs, sans-I/O: exact frames, and answers read as the REST codec's bodies.

The frames follow the venues' documented shapes (OKX "WS / Place order", Bybit "WebSocket
Trade / Create Order", Binance web-socket-api.md `order.place`); each answer sample is the
documented one with our ids, and must come out as what the REST codec reads (same error
codes, same `OrderResult`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from fractions import Fraction

import orjson
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from connectors.cex.orders import binance, bybit, okx
from connectors.cex.orders.codec import cancel_request_id
from connectors.cex.orders.common import Credentials, limit_order
from tests.unit.test_cex_order_signing import (
    BINANCE_API_KEY,
    BINANCE_SECRET,
    ED25519_API_KEY,
    FIX_ED25519_PEM,
)
from tests.unit.test_cex_orders import (
    BINANCE_SPOT_INFO,
    BINANCE_USDM_INFO,
    BYBIT_LINEAR_INFO,
    CREDS,
    KEY,
    OKX_SWAP_INFO,
)

CID = "S1234567890abcdefghijABCDEFGHB00"


def test_okx_ws_order_frame_carries_the_rest_fields_and_the_exptime_deadline():
    f = okx.OKX.parse_filters(OKX_SWAP_INFO, "SOL-USDT-SWAP", "perp")
    spec = limit_order(f, "sell", "FOK", Fraction(15025, 100), Fraction(2), CID)
    ws = okx.OKX.ws_orders
    assert ws is not None
    frame = ws.place(CREDS, f, spec, 1607418537715, 5000)
    assert frame == (b'{"id":"' + CID.encode() + b'","op":"order","expTime":"1607418542715",'
                     b'"args":[{"instId":"SOL-USDT-SWAP","tdMode":"cross","side":"sell",'
                     b'"ordType":"fok","px":"150.25","sz":"2.00","clOrdId":"' + CID.encode()
                     + b'"}]}')
    assert orjson.loads(ws.cancel(CREDS, f, CID, 1, 5000)) == {
        "id": cancel_request_id(CID), "op": "cancel-order",
        "args": [{"instId": "SOL-USDT-SWAP", "clOrdId": CID}]}


def test_okx_ws_answers_read_as_rest_acks_and_errors():
    ws = okx.OKX.ws_orders
    assert ws is not None
    f = okx.OKX.parse_filters(OKX_SWAP_INFO, "SOL-USDT-SWAP", "perp")
    ok = (b'{"id":"' + CID.encode() + b'","op":"order","data":[{"clOrdId":"' + CID.encode()
          + b'","ordId":"12345689","tag":"","ts":"1695190491421","sCode":"0","sMsg":""}],'
          b'"code":"0","msg":"","inTime":"1695190491421339","outTime":"1695190491423240"}')
    a = ws.answer(ok)
    assert a is not None and (a.request_id, a.status) == (CID, 200)
    assert okx.OKX.error(a.status, a.body) is None
    r = okx.OKX.parse_order(a.body, f, CID)
    assert (r.status, r.venue_order_id, r.client_order_id) == ("new", "12345689", CID)
    bad = ok.replace(b'"sCode":"0","sMsg":""', b'"sCode":"51008","sMsg":"Insufficient"'
                     ).replace(b'"code":"0"', b'"code":"1"')
    err = okx.OKX.error(200, ws.answer(bad).body)  # type: ignore[union-attr]
    assert err is not None and (err.code, err.retryable) == ("51008", False)
    assert ws.answer(b'{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}') is None
    assert ws.answer(b'{"arg":{"channel":"orders"},"data":[]}') is None


def test_bybit_ws_order_frame_and_answer_with_its_limit_headers():
    f = bybit.BYBIT.parse_filters(BYBIT_LINEAR_INFO, "SOLUSDT", "perp")
    spec = limit_order(f, "buy", "IOC", Fraction(15025, 100), Fraction(3, 2), CID)
    ws = bybit.BYBIT.ws_orders
    assert ws is not None
    assert orjson.loads(ws.place(CREDS, f, spec, 1711001595207, 8000)) == {
        "reqId": CID, "header": {"X-BAPI-TIMESTAMP": "1711001595207",
                                 "X-BAPI-RECV-WINDOW": "8000"},
        "op": "order.create", "args": [{
            "category": "linear", "symbol": "SOLUSDT", "side": "Buy", "orderType": "Limit",
            "qty": "1.5", "price": "150.25", "timeInForce": "IOC", "orderLinkId": CID}]}
    answer = (b'{"reqId":"' + CID.encode() + b'","retCode":0,"retMsg":"OK","op":"order.create",'
              b'"data":{"orderId":"1321003749386327552","orderLinkId":"' + CID.encode() + b'"},'
              b'"header":{"X-Bapi-Limit":"10","X-Bapi-Limit-Status":"1",'
              b'"X-Bapi-Limit-Reset-Timestamp":"1711001595208","Traceid":"x",'
              b'"Timenow":"1711001595209"},"connId":"cnt5leec0hvan15eukcg-2t"}')
    a = ws.answer(answer)
    assert a is not None and (a.request_id, a.status) == (CID, 200)
    assert bybit.BYBIT.error(a.status, a.body) is None
    r = bybit.BYBIT.parse_order(a.body, f, CID)
    assert (r.status, r.venue_order_id) == ("new", "1321003749386327552")
    assert bybit.BYBIT.hold_ms(dict(a.headers), 1711001595100) == 108
    refused = ws.answer(answer.replace(b'"retCode":0', b'"retCode":110007'))
    err = bybit.BYBIT.error(200, refused.body)  # type: ignore[union-attr]
    assert err is not None and (err.code, err.retryable) == ("110007", False)
    assert ws.answer(b'{"success":true,"ret_msg":"","op":"auth","conn_id":"x"}') is None


def test_binance_ws_answers_carry_usage_as_the_rest_headers():
    ws = binance.SPOT.ws_orders
    assert ws is not None and binance.USDM.ws_orders is not None
    f = binance.SPOT.parse_filters(BINANCE_SPOT_INFO, "SOLUSDC", "spot")
    frame = orjson.loads(ws.cancel(CREDS, f, CID, 1645423376532, 5000))
    assert (frame["id"], frame["method"], frame["params"]["origClientOrderId"],
            frame["params"]["apiKey"]) == (cancel_request_id(CID), "order.cancel", CID, KEY)
    a = ws.answer(b'{"id":"' + CID.encode() + b'","status":400,"error":{"code":-2010,'
                  b'"msg":"Account has insufficient balance for requested action."},'
                  b'"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND",'
                  b'"intervalNum":10,"limit":50,"count":12},{"rateLimitType":"REQUEST_WEIGHT",'
                  b'"interval":"MINUTE","intervalNum":1,"limit":6000,"count":1}]}')
    assert a is not None and (a.request_id, a.status) == (CID, 400)
    assert dict(a.headers) == {"X-MBX-ORDER-COUNT-10S": "12", "X-MBX-USED-WEIGHT-1M": "1"}
    err = binance.SPOT.error(a.status, a.body)
    assert err is not None and (err.code, err.retryable) == ("-2010", False)
    assert ws.answer(b'{"subscriptionId":0,"event":{"e":"executionReport"}}') is None


def test_cancel_request_ids_never_equal_a_placement_id():
    assert cancel_request_id(CID) == "C" + CID[1:] != CID and len(cancel_request_id(CID)) == 32


# USD-M futures WS API (binance_usdm_ws.py docstring). Binance publishes no secret behind its
# futures WS examples, and the rule is spot's WS API rule (sorted params), whose documented
# HMAC triple test_cex_user_data.py checks byte for byte through the same `binance_ws.request`;
# here the expected signatures are computed independently from the literal sorted payload.
USDM_SORTED = ("apiKey=" + BINANCE_API_KEY + "&newClientOrderId=" + CID
               + "&newOrderRespType=RESULT&price=150.25&quantity=3&recvWindow=5000&side=SELL"
               "&symbol=SOLUSDT&timeInForce=IOC&timestamp=1705311512994&type=LIMIT")


def _usdm_spec():  # type: ignore[no-untyped-def]
    f = binance.USDM.parse_filters(BINANCE_USDM_INFO, "SOLUSDT", "perp")
    return f, limit_order(f, "sell", "IOC", Fraction(15025, 100), Fraction(3), CID)


def test_usdm_ws_order_is_a_signed_result_order_place_with_ints_as_json_integers():
    ws = binance.USDM.ws_orders
    assert ws is not None and ws is not binance.SPOT.ws_orders
    f, spec = _usdm_spec()
    creds = Credentials(BINANCE_API_KEY, BINANCE_SECRET)
    assert ws.steps(creds, 1705311512994) == []  # HMAC keys: every request signed, no logon
    signature = hmac.new(BINANCE_SECRET.encode(), USDM_SORTED.encode(),
                         hashlib.sha256).hexdigest()
    assert ws.place(creds, f, spec, 1705311512994, 5000) == (
        b'{"id":"' + CID.encode() + b'","method":"order.place","params":{"symbol":"SOLUSDT",'
        b'"side":"SELL","type":"LIMIT","timeInForce":"IOC","quantity":"3","price":"150.25",'
        b'"newClientOrderId":"' + CID.encode() + b'","newOrderRespType":"RESULT",'
        b'"recvWindow":5000,"timestamp":1705311512994,"apiKey":"' + BINANCE_API_KEY.encode()
        + b'","signature":"' + signature.encode() + b'"}}')
    cancel = orjson.loads(ws.cancel(creds, f, CID, 1705311512994, 5000))
    payload = (f"apiKey={BINANCE_API_KEY}&origClientOrderId={CID}&recvWindow=5000"
               "&symbol=SOLUSDT&timestamp=1705311512994")
    assert cancel == {"id": cancel_request_id(CID), "method": "order.cancel", "params": {
        "symbol": "SOLUSDT", "origClientOrderId": CID, "recvWindow": 5000,
        "timestamp": 1705311512994, "apiKey": BINANCE_API_KEY,
        "signature": hmac.new(BINANCE_SECRET.encode(), payload.encode(),
                              hashlib.sha256).hexdigest()}}


def test_usdm_ed25519_key_logs_in_once_then_orders_carry_no_key_or_signature():
    ws = binance.USDM.ws_orders
    assert ws is not None
    f, spec = _usdm_spec()
    creds = Credentials(ED25519_API_KEY, ed25519_pem=FIX_ED25519_PEM)
    (logon,) = ws.steps(creds, 1649729878532)
    key = load_pem_private_key(FIX_ED25519_PEM, password=None)
    payload = f"apiKey={ED25519_API_KEY}&timestamp=1649729878532".encode()
    expected = base64.b64encode(key.sign(payload)).decode()  # type: ignore[call-arg,union-attr]
    assert orjson.loads(logon) == {"id": "logon1649729878532", "method": "session.logon",
                                   "params": {"timestamp": 1649729878532,
                                              "apiKey": ED25519_API_KEY,
                                              "signature": expected}}
    ok = (b'{"id":"logon1649729878532","status":200,"result":{"apiKey":"'
          + ED25519_API_KEY.encode() + b'","authorizedSince":1649729878532,'
          b'"connectedSince":1649729873021,"returnRateLimits":false,'
          b'"serverTime":1649729878630}}')
    assert ws.step_reply(ok) is True
    assert ws.step_reply(b'{"id":"logon1","status":401,"error":{"code":-2015,"msg":"x"}}') is False
    assert ws.step_reply(b'{"e":"ORDER_TRADE_UPDATE"}') is None
    assert orjson.loads(ws.place(creds, f, spec, 1649729878600, 5000)) == {
        "id": CID, "method": "order.place", "params": {
            "symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
            "quantity": "3", "price": "150.25", "newClientOrderId": CID,
            "newOrderRespType": "RESULT", "recvWindow": 5000, "timestamp": 1649729878600}}
    assert orjson.loads(ws.cancel(creds, f, CID, 1, 5000))["params"] == {
        "symbol": "SOLUSDT", "origClientOrderId": CID, "recvWindow": 5000, "timestamp": 1}
    # Spot keeps signing every request, Ed25519 or not (its WS order entry logs nothing in).
    assert binance.SPOT.ws_orders is not None and binance.SPOT.ws_orders.steps(creds, 1) == []


def test_usdm_ws_result_answer_reads_as_the_rest_result_with_its_three_limits():
    ws = binance.USDM.ws_orders
    assert ws is not None
    f, _ = _usdm_spec()
    limits = (b'"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE",'
              b'"intervalNum":1,"limit":2400,"count":7},{"rateLimitType":"ORDERS",'
              b'"interval":"SECOND","intervalNum":10,"limit":300,"count":2},'
              b'{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200,'
              b'"count":5}]')
    answer = (b'{"id":"' + CID.encode() + b'","status":200,"result":{"orderId":336829446,'
              b'"symbol":"SOLUSDT","status":"EXPIRED","clientOrderId":"' + CID.encode()
              + b'","price":"150.25","avgPrice":"150.24","origQty":"3","executedQty":"2",'
              b'"cumQty":"2","cumQuote":"300.48","timeInForce":"IOC","type":"LIMIT",'
              b'"reduceOnly":false,"closePosition":false,"side":"SELL","positionSide":"BOTH",'
              b'"stopPrice":"0.00","workingType":"CONTRACT_PRICE","priceProtect":false,'
              b'"origType":"LIMIT","priceMatch":"NONE","selfTradePreventionMode":"NONE",'
              b'"goodTillDate":0,"updateTime":1705385954229},' + limits + b'}')
    a = ws.answer(answer)
    assert a is not None and (a.request_id, a.status) == (CID, 200)
    assert dict(a.headers) == {"X-MBX-USED-WEIGHT-1M": "7", "X-MBX-ORDER-COUNT-10S": "2",
                               "X-MBX-ORDER-COUNT-1M": "5"}
    r = binance.USDM.parse_order(a.body, f, CID)
    assert (r.status, r.venue_order_id, r.filled_qty_units, r.quote_units, r.raw_status,
            r.ts_event_ms, r.final) == ("expired", "336829446", 2, 30048, "EXPIRED",
                                        1705385954229, True)
    refused = ws.answer(b'{"id":"' + CID.encode() + b'","status":400,"error":{"code":-1021,'
                        b'"msg":"Timestamp for this request is outside of the recvWindow."},'
                        + limits + b'}')
    assert refused is not None and refused.status == 400
    err = binance.USDM.error(refused.status, refused.body)
    assert err is not None and (err.code, err.retryable, err.action) == (
        "-1021", True, "resync_time")
    revoked = b'{"id":null,"status":401,"error":{"code":-2015,"msg":"Invalid API-key"}}'
    assert ws.answer(revoked) is None  # no request of ours: the order resolves by query
