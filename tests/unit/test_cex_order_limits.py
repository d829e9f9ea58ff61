"""Order rate limits, sans-I/O: usage headers become exact hold-backs, local windows count."""

from __future__ import annotations

from connectors.cex.orders.binance import SPOT, USDM
from connectors.cex.orders.bybit import BYBIT
from connectors.cex.orders.limits import RequestLimit, SlidingWindows
from connectors.cex.orders.okx import OKX


def test_binance_order_count_near_the_limit_holds_until_the_ten_second_block_ends():
    headers = {"X-MBX-USED-WEIGHT-1M": "12", "X-MBX-ORDER-COUNT-10S": "99",
               "X-MBX-ORDER-COUNT-1D": "400"}
    assert SPOT.hold_ms(headers, now_ms=1_700_000_003_250) == 6_750
    headers["X-MBX-ORDER-COUNT-10S"] = "98"
    assert SPOT.hold_ms(headers, now_ms=1_700_000_003_250) == 0


def test_binance_weight_near_the_limit_holds_until_the_minute_ends():
    assert SPOT.hold_ms({"X-MBX-USED-WEIGHT-1M": "5980"}, now_ms=120_000 + 45_500) == 14_500
    assert SPOT.hold_ms({"X-MBX-USED-WEIGHT-1M": "5979"}, now_ms=165_500) == 0
    # USD-M's limits are its own: 2400 weight, 1200 orders a minute.
    assert USDM.hold_ms({"X-MBX-USED-WEIGHT-1M": "2380"}, now_ms=165_500) == 14_500
    assert USDM.hold_ms({"X-MBX-ORDER-COUNT-1M": "1199"}, now_ms=165_500) == 14_500
    assert USDM.hold_ms({"X-MBX-ORDER-COUNT-1M": "1198"}, now_ms=165_500) == 0


def test_unreadable_or_missing_headers_hold_nothing():
    assert SPOT.hold_ms({"X-MBX-ORDER-COUNT-10S": "lots"}, now_ms=5) == 0
    assert SPOT.hold_ms({}, now_ms=5) == 0
    assert BYBIT.hold_ms({"X-Bapi-Limit-Status": "0"}, now_ms=5) == 0


def test_bybit_last_request_left_holds_until_the_reset_timestamp():
    headers = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "1",
               "X-Bapi-Limit-Reset-Timestamp": "1672211918900"}
    assert BYBIT.hold_ms(headers, now_ms=1672211918471) == 429
    headers["X-Bapi-Limit-Status"] = "2"
    assert BYBIT.hold_ms(headers, now_ms=1672211918471) == 0
    headers["X-Bapi-Limit-Status"] = "0"
    assert BYBIT.hold_ms(headers, now_ms=1672211919000) == 0  # already reset


def test_okx_counts_each_endpoint_locally_over_a_sliding_two_seconds():
    assert OKX.hold_ms({"anything": "1"}, now_ms=1) == 0
    w = SlidingWindows.of(OKX.request_limits)
    for k in range(60):
        assert w.wait_s("POST", "/api/v5/trade/order", 10.0 + k * 0.01) == 0.0
        w.note("POST", "/api/v5/trade/order", 10.0 + k * 0.01)
    assert abs(w.wait_s("POST", "/api/v5/trade/order", 10.9) - 1.1) < 1e-9
    assert w.wait_s("POST", "/api/v5/trade/cancel-order", 10.9) == 0.0  # its own window
    assert w.wait_s("POST", "/api/v5/trade/order", 12.0) == 0.0  # the first one aged out


def test_endpoints_without_a_documented_limit_never_wait():
    w = SlidingWindows.of((RequestLimit("POST", "/a", 1, 1000),))
    w.note("GET", "/b", 0.0)
    assert (w.wait_s("GET", "/b", 0.0), w.wait_s("POST", "/a", 0.0)) == (0.0, 0.0)


def test_binance_exchange_info_rate_limits_become_the_accounts_header_limits():
    body = (b'{"symbols":[],"rateLimits":['
            b'{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000},'
            b'{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50},'
            b'{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000},'
            b'{"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":61000}]}')
    limits = SPOT.parse_limits(body)
    assert [(x.header, x.limit, x.window_ms, x.reserve) for x in limits] == [
        ("X-MBX-USED-WEIGHT-1M", 6000, 60_000, 20), ("X-MBX-ORDER-COUNT-10S", 50, 10_000, 1),
        ("X-MBX-ORDER-COUNT-1D", 160000, 86_400_000, 1)]
    assert SPOT.hold_ms({"X-MBX-ORDER-COUNT-10S": "49"}, 3_000, limits) == 7_000
    assert SPOT.hold_ms({"X-MBX-ORDER-COUNT-10S": "49"}, 3_000) == 0  # default limit 100
    assert SPOT.parse_limits(b"not json") == ()
