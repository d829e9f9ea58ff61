"""WS order entry codecs, sans-I/O: exact frames, and answers read as the REST codec's bodies.

The frames follow the venues' documented shapes (OKX "WS / Place order", Bybit "WebSocket
Trade / Create Order", Binance web-socket-api.md `order.place`); each answer sample is the
documented one with our ids, and must come out as what the REST codec reads (same error
codes, same `OrderResult`).
"""

from __future__ import annotations

from fractions import Fraction

import orjson

from connectors.cex.orders import binance, bybit, okx
from connectors.cex.orders.codec import cancel_request_id
from connectors.cex.orders.common import limit_order
from tests.unit.test_cex_orders import (
    BINANCE_SPOT_INFO,
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
    assert ws is not None and binance.USDM.ws_orders is None
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
