"""Private streams: signed WS requests (Binance WS API, OKX login, Bybit auth) and the parsers
turning order pushes into `OrderUpdate`s.

Binance's WS API HMAC example (web-socket-api.md "SIGNED request example (HMAC)": the doc's
illustrative apiKey/secretKey, `order.place` params, signatures aa1b5712... and b33892ae...) is
checked byte for byte. OKX and Bybit publish the rule but no key/signature pair for their WS
login/auth, so those expectations are computed independently here with `hmac`. The parsed
samples are the docs' own (Binance user-data-stream.md executionReport, Bybit
docs/v5/websocket/private/execution.mdx) or built from the documented fields (OKX).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

import orjson
import pytest

from connectors.cex.orders import binance_usdm_ws, binance_ws, bybit_ws, okx_ws
from connectors.cex.orders.common import Credentials
from operators.errors import FeedError
from tests.unit.test_cex_order_signing import BINANCE_API_KEY, BINANCE_SECRET

DOC_WS_PARAMS: dict[str, str | int] = {
    "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
    "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
    "timestamp": 1645423376532}


def test_binance_ws_api_hmac_signature_matches_the_documented_example():
    creds = Credentials(BINANCE_API_KEY, BINANCE_SECRET)
    frame = orjson.loads(binance_ws.request(creds, "4885f793-e5ad-4c3b-8f6c-55d891472b71",
                                            "order.place", DOC_WS_PARAMS))
    assert frame["method"] == "order.place"
    assert frame["params"]["apiKey"] == BINANCE_API_KEY
    assert frame["params"]["signature"] == (
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24")


def test_binance_ws_api_signs_non_ascii_values_as_raw_utf8_like_the_docs():
    creds = Credentials(BINANCE_API_KEY, BINANCE_SECRET)
    params: dict[str, str | int] = {
        "symbol": "１２３４５６", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "1.00000000", "price": "0.10000000", "recvWindow": 5000,
        "timestamp": 1645423376532, "apiKey": BINANCE_API_KEY}
    assert binance_ws.sign_params(creds, params) == (
        "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd")


def test_binance_user_data_subscription_is_signed_over_key_and_timestamp():
    creds = Credentials(BINANCE_API_KEY, BINANCE_SECRET)
    frame = orjson.loads(binance_ws.subscribe_user_data(creds, "d3df8a22", 1747385641636))
    payload = f"apiKey={BINANCE_API_KEY}&timestamp=1747385641636".encode()
    assert frame == {"id": "d3df8a22", "method": "userDataStream.subscribe.signature",
                     "params": {"timestamp": 1747385641636, "apiKey": BINANCE_API_KEY,
                                "signature": hmac.new(BINANCE_SECRET.encode(), payload,
                                                      hashlib.sha256).hexdigest()}}


DOC_EXECUTION_REPORT = orjson.dumps({"subscriptionId": 0, "event": {
    "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW",
    "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410",
    "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW",
    "r": "NONE", "i": 4293153, "l": "0.00000000", "z": "0.00000000", "L": "0.00000000",
    "n": "0", "N": None, "T": 1499405658657, "t": -1, "v": 3, "I": 8641984, "w": True,
    "m": False, "M": False, "O": 1499405658657, "Z": "0.00000000", "Y": "0.00000000",
    "Q": "0.00000000", "W": 1499405658657, "V": "NONE"}})


def test_binance_documented_execution_report_is_an_ack():
    [u] = binance_ws.parse_user_data(DOC_EXECUTION_REPORT, 7)
    assert (u.venue, u.symbol, u.client_order_id, u.venue_order_id, u.kind, u.side) == (
        "binance", "ETHBTC", "mUvoqJxFIILMdfAW5iGSOW", "4293153", "ack", "buy")
    assert (u.last_qty, u.cum_qty, u.fee, u.fee_asset, u.trade_id, u.reason) == (
        Decimal(0), Decimal(0), Decimal(0), "", "", "")
    assert (u.ts_event_ns, u.ts_recv_ns) == (1499405658658_000_000, 7)


def test_binance_ioc_trade_then_expiry_are_a_partial_and_an_expire():
    ev = orjson.loads(DOC_EXECUTION_REPORT)
    ev["event"] |= {"x": "TRADE", "X": "PARTIALLY_FILLED", "l": "0.40000000",
                    "L": "0.10264000", "z": "0.40000000", "Z": "0.04105600",
                    "n": "0.00004106", "N": "BTC", "t": 56}
    [u] = binance_ws.parse_user_data(orjson.dumps(ev), 1)
    assert (u.kind, u.last_qty, u.last_price, u.cum_quote, u.fee, u.fee_asset, u.trade_id) == (
        "partial", Decimal("0.4"), Decimal("0.10264"), Decimal("0.041056"),
        Decimal("0.00004106"), "BTC", "56")
    ev["event"] |= {"x": "EXPIRED", "X": "EXPIRED", "l": "0", "n": "0", "N": None, "t": -1}
    [e] = binance_ws.parse_user_data(orjson.dumps(ev), 2)
    assert (e.kind, e.cum_qty) == ("expire", Decimal("0.4"))


def test_binance_responses_and_balance_events_are_not_order_updates():
    assert binance_ws.parse_user_data(b'{"id":"x","status":200,"result":{}}', 1) == []
    assert binance_ws.parse_user_data(orjson.dumps({"subscriptionId": 0, "event": {
        "e": "balanceUpdate", "E": 1, "a": "BTC", "d": "1", "T": 1}}), 1) == []
    with pytest.raises(FeedError, match="bad executionReport"):
        binance_ws.parse_user_data(b'{"subscriptionId":0,"event":{"e":"executionReport",'
                                   b'"E":"not-a-number"}}', 1)


def test_okx_login_signs_seconds_get_and_the_verify_path():
    creds = Credentials("okx-key", "okx-secret", passphrase="okx-pass")
    frame = orjson.loads(okx_ws.login(creds, 1538054050))
    sign = base64.b64encode(hmac.new(b"okx-secret", b"1538054050GET/users/self/verify",
                                     hashlib.sha256).digest()).decode()
    assert frame == {"op": "login", "args": [{"apiKey": "okx-key", "passphrase": "okx-pass",
                                              "timestamp": "1538054050", "sign": sign}]}


OKX_PUSH = {"arg": {"channel": "orders", "instType": "SPOT", "uid": "77"}, "data": [{
    "instType": "SPOT", "instId": "SOL-USDC", "ordId": "312269865356374016",
    "clOrdId": "S1B00", "side": "buy", "ordType": "ioc", "state": "filled", "fillSz": "2",
    "fillPx": "150.2", "tradeId": "242589207", "accFillSz": "2", "avgPx": "150.2",
    "fillFee": "-0.3004", "fillFeeCcy": "USDC", "uTime": "1695190491439", "code": "0",
    "msg": ""}]}


def test_okx_orders_push_becomes_a_fill_with_the_fee_paid_positive():
    [u] = okx_ws.parse_orders(orjson.dumps(OKX_PUSH), 3)
    assert (u.kind, u.client_order_id, u.last_qty, u.last_price, u.cum_quote) == (
        "fill", "S1B00", Decimal(2), Decimal("150.2"), Decimal("300.4"))
    assert (u.fee, u.fee_asset, u.trade_id, u.ts_event_ns) == (
        Decimal("0.3004"), "USDC", "242589207", 1695190491439_000_000)
    assert okx_ws.parse_orders(b'{"event":"login","code":"0","msg":""}', 1) == []
    assert okx_ws.parse_orders(b"pong", 1) == []
    bad = orjson.dumps({"arg": {"channel": "orders"}, "data": [{"ordId": 1}]})
    with pytest.raises(FeedError, match="bad orders push"):
        okx_ws.parse_orders(bad, 1)


def test_bybit_auth_signs_get_realtime_and_expiry():
    creds = Credentials("bybit-key", "bybit-secret")
    frame = orjson.loads(bybit_ws.auth(creds, 1662350400000))
    sig = hmac.new(b"bybit-secret", b"GET/realtime1662350400000", hashlib.sha256).hexdigest()
    assert frame == {"op": "auth", "args": ["bybit-key", 1662350400000, sig]}


DOC_BYBIT_EXECUTION = orjson.dumps({
    "topic": "execution", "id": "386825804_BTCUSDT_140612148849382",
    "creationTime": 1746270400355, "data": [{
        "category": "linear", "symbol": "BTCUSDT", "closedSize": "0.5",
        "execFee": "26.3725275", "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        "execPrice": "95900.1", "execQty": "0.5", "execType": "Trade", "execValue": "47950.05",
        "feeRate": "0.00055", "tradeIv": "", "markIv": "", "blockTradeId": "",
        "markPrice": "95901.48", "indexPrice": "", "underlyingPrice": "", "leavesQty": "0",
        "orderId": "9aac161b-8ed6-450d-9cab-c5cc67c21784", "orderLinkId": "",
        "orderPrice": "94942.5", "orderQty": "0.5", "orderType": "Market",
        "stopOrderType": "UNKNOWN", "side": "Sell", "execTime": "1746270400353",
        "isLeverage": "0", "isMaker": False, "seq": 140612148849382, "marketUnit": "",
        "execPnl": "0.05", "createType": "CreateByUser",
        "extraFees": [{"feeCoin": "USDT", "feeType": "GST", "subFeeType": "IND_GST",
                       "feeRate": "0.0000675", "fee": "0.006403779"}],
        "feeCurrency": "USDT"}]})


def test_bybit_documented_execution_is_a_complete_fill():
    [u] = bybit_ws.parse_private(DOC_BYBIT_EXECUTION, 4)
    assert (u.kind, u.symbol, u.venue_order_id, u.side) == (
        "fill", "BTCUSDT", "9aac161b-8ed6-450d-9cab-c5cc67c21784", "sell")
    assert (u.last_qty, u.last_price, u.cum_qty, u.cum_quote) == (
        Decimal("0.5"), Decimal("95900.1"), Decimal("0.5"), None)
    assert (u.fee, u.fee_asset, u.trade_id, u.ts_event_ns) == (
        Decimal("26.3725275"), "USDT", "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        1746270400353_000_000)


def test_bybit_order_topic_gives_rejects_and_leaves_fills_to_execution():
    frame = orjson.dumps({"topic": "order", "id": "1", "creationTime": 1, "data": [
        {"symbol": "SOLUSDT", "orderId": "1", "orderLinkId": "S1", "side": "Buy",
         "orderStatus": "Rejected", "rejectReason": "EC_NoEnoughQtyToFill",
         "cumExecQty": "0", "cumExecValue": "0", "updatedTime": "5"},
        {"symbol": "SOLUSDT", "orderId": "2", "orderLinkId": "S2", "side": "Buy",
         "orderStatus": "Filled", "cumExecQty": "1", "cumExecValue": "150",
         "updatedTime": "6"}]})
    rej, filled = bybit_ws.parse_private(frame, 1)
    assert (rej.kind, rej.reason, filled.kind, filled.cum_quote) == (
        "reject", "EC_NoEnoughQtyToFill", "other", Decimal(150))
    assert bybit_ws.parse_private(b'{"success":true,"ret_msg":"","op":"auth"}', 1) == []


def test_stream_updates_become_execution_reports_in_token_base_units():
    from connectors.cex.order_transport import report_from_update
    from operators.events import OrderIntent

    intent = OrderIntent("i1", "o1", "okx", "okx:SOL-USDC", "buy", 2 * 10**9, 301 * 10**6,
                         1, 2, 3, pair="SOL/USDC")
    [fill] = okx_ws.parse_orders(orjson.dumps(OKX_PUSH), 3)
    rep = report_from_update(fill, intent, base_decimals=9, quote_decimals=6)
    assert rep is not None
    assert (rep.status, rep.filled_base, rep.quote_amount, rep.fee_quote) == (
        "filled", 2 * 10**9, 300_400_000, 300_400)
    assert (rep.extra["client_order_id"], rep.extra["trade_id"], rep.ts_event_ns) == (
        "S1B00", "242589207", 1695190491439_000_000)
    ack = orjson.loads(orjson.dumps(OKX_PUSH))
    ack["data"][0] |= {"state": "live", "fillSz": "0", "accFillSz": "0"}
    [a] = okx_ws.parse_orders(orjson.dumps(ack), 3)
    assert report_from_update(a, intent, base_decimals=9, quote_decimals=6) is None


USDM_DOC_ORDER = {  # derivatives docs "Event: Order Update" (trailing-stop fields trimmed)
    "s": "BTCUSDT", "c": "TEST", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.001",
    "p": "7103.04", "ap": "0", "sp": "0", "x": "NEW", "X": "NEW", "i": 8886774, "l": "0",
    "z": "0", "L": "0", "N": "USDT", "n": "0", "T": 1568879465650, "t": 0, "b": "0",
    "a": "9.91", "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH",
    "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_TAKER", "pm": "NONE",
    "gtd": 0}


def _usdm(order: dict[str, object]) -> bytes:
    return orjson.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1568879465651, "T": 1568879465650,
                         "o": order})


def test_usdm_documented_order_update_is_an_ack():
    [u] = binance_usdm_ws.parse_user_data(_usdm(USDM_DOC_ORDER), 7)
    assert (u.venue, u.symbol, u.client_order_id, u.venue_order_id, u.kind, u.side) == (
        "binance-usdm", "BTCUSDT", "TEST", "8886774", "ack", "sell")
    assert (u.cum_qty, u.fee, u.trade_id, u.ts_event_ns, u.ts_recv_ns) == (
        Decimal(0), Decimal(0), "", 1568879465650 * 1_000_000, 7)


def test_usdm_trades_then_expiry_are_partials_and_an_expire_with_fees():
    trade = USDM_DOC_ORDER | {"x": "TRADE", "X": "PARTIALLY_FILLED", "l": "0.0004",
                              "L": "7103.04", "z": "0.0004", "ap": "7103.04", "n": "0.00113648",
                              "t": 12}
    [u] = binance_usdm_ws.parse_user_data(_usdm(trade), 1)
    assert (u.kind, u.last_qty, u.last_price, u.fee, u.fee_asset, u.trade_id) == (
        "partial", Decimal("0.0004"), Decimal("7103.04"), Decimal("0.00113648"), "USDT", "12")
    assert u.cum_quote == Decimal("0.0004") * Decimal("7103.04")
    [e] = binance_usdm_ws.parse_user_data(
        _usdm(USDM_DOC_ORDER | {"x": "EXPIRED", "X": "EXPIRED", "z": "0.0004",
                                "ap": "7103.04"}), 1)
    assert (e.kind, e.cum_qty) == ("expire", Decimal("0.0004"))


def test_usdm_account_events_are_not_order_updates_and_an_expired_key_ends_the_stream():
    assert binance_usdm_ws.parse_user_data(b'{"e":"ACCOUNT_UPDATE","E":1,"a":{}}', 1) == []
    assert binance_usdm_ws.parse_user_data(b'{"result":null,"id":1}', 1) == []
    with pytest.raises(FeedError, match="listenKey expired"):
        binance_usdm_ws.parse_user_data(b'{"e":"listenKeyExpired","E":1,"listenKey":"k"}', 1)
    with pytest.raises(FeedError, match="bad ORDER_TRADE_UPDATE"):
        binance_usdm_ws.parse_user_data(b'{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":1}}', 1)


def test_usdm_listen_key_requests_carry_the_api_key_and_no_signature():
    rules = binance_usdm_ws.STREAM.listen_key
    assert rules is not None
    creds = Credentials(BINANCE_API_KEY, BINANCE_SECRET)
    for method in ("POST", "PUT", "DELETE"):
        req = rules.request(creds, method)
        assert (req.method, req.target, req.body, req.headers) == (
            method, "/fapi/v1/listenKey", b"", (("X-MBX-APIKEY", BINANCE_API_KEY),))
        assert BINANCE_SECRET not in repr(req)
    assert rules.parse(b'{"listenKey":"pqia91ma19a5s61cv6a81va65sdf19v8a65a1"}') == (
        "pqia91ma19a5s61cv6a81va65sdf19v8a65a1")
    assert rules.url("ws://h:1/private/ws/", "abc") == "ws://h:1/private/ws/abc"
    with pytest.raises(FeedError):
        rules.parse(b'{"code":-1125}')
