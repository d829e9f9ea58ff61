"""CEX API key permission queries and answers (Binance apiRestrictions, OKX account config,
Bybit query-api), sans-I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from connectors.cex import key_permissions as kp
from connectors.cex.orders.common import Credentials
from operators.errors import ConfigError

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"  # Binance docs


def test_binance_query_is_signed_like_user_data_on_the_restrictions_path() -> None:
    req = kp.request_for("binance-usdm", Credentials("k", SECRET), 1_499_827_319_559, 5000)
    payload = "recvWindow=5000&timestamp=1499827319559"
    sig = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert (req.method, req.path, req.query) == (
        "GET", "/sapi/v1/account/apiRestrictions", f"{payload}&signature={sig}"
    )
    assert req.headers == (("X-MBX-APIKEY", "k"),)


def test_answer_with_withdrawals_enabled_says_the_key_can_withdraw() -> None:
    body = (b'{"ipRestrict":true,"createTime":1,"enableReading":true,"enableWithdrawals":true,'
            b'"enableSpotAndMarginTrading":false,"enableFutures":true}')
    assert kp.parse("binance", body) == kp.KeyPermissions(
        "binance", can_withdraw=True, can_trade=True, ip_restricted=True
    )


def test_unusable_answer_is_a_config_error_naming_the_venue() -> None:
    with pytest.raises(ConfigError, match=r"binance: unusable key permission answer"):
        kp.parse("binance", b'{"code":-2015,"msg":"Invalid API-key"}')


def test_venues_without_a_built_check_are_refused_not_assumed_safe() -> None:
    assert [kp.supported(v) for v in ("okx", "bybit", "binance", "binance-usdm", "orca")] == [
        True, True, True, True, False]
    with pytest.raises(ConfigError, match="orca: the API key permission check is not built"):
        kp.request_for("orca", Credentials("k", "s"), 1, 5000)


def test_okx_config_query_is_signed_with_timestamp_method_and_path() -> None:
    req = kp.request_for("okx", Credentials("k", "s", passphrase="p"), 1_700_000_000_123, 5000)
    ts = "2023-11-14T22:13:20.123Z"
    sign = base64.b64encode(hmac.new(b"s", f"{ts}GET/api/v5/account/config".encode(),
                                     hashlib.sha256).digest()).decode()
    assert (req.method, req.path, req.query, req.body) == ("GET", "/api/v5/account/config", "",
                                                           b"")
    assert dict(req.headers) == {"OK-ACCESS-KEY": "k", "OK-ACCESS-SIGN": sign,
                                 "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": "p"}


def test_bybit_query_api_is_signed_with_timestamp_key_and_window() -> None:
    req = kp.request_for("bybit", Credentials("k", "s"), 1_700_000_000_123, 5000)
    sign = hmac.new(b"s", b"1700000000123k5000", hashlib.sha256).hexdigest()
    assert (req.method, req.path, req.query) == ("GET", "/v5/user/query-api", "")
    assert dict(req.headers) == {"X-BAPI-API-KEY": "k", "X-BAPI-SIGN": sign,
                                 "X-BAPI-TIMESTAMP": "1700000000123",
                                 "X-BAPI-RECV-WINDOW": "5000"}


@pytest.mark.parametrize(("perm", "ip", "expected"), [
    ("read_only,trade", "", (False, True, False)),
    ("read_only,trade,withdraw", "1.2.3.4,5.6.7.8", (True, True, True)),
    ("read_only", "", (False, False, False)),
])
def test_okx_perm_and_ip(perm: str, ip: str, expected: tuple[bool, bool, bool]) -> None:
    body = orjson.dumps({"code": "0", "msg": "", "data": [{"uid": "1", "perm": perm, "ip": ip}]})
    p = kp.parse("okx", body)
    assert (p.can_withdraw, p.can_trade, p.ip_restricted) == expected


@pytest.mark.parametrize(("read_only", "wallet", "ips", "expected"), [
    (0, ["AccountTransfer"], ["*"], (False, True, False)),
    (0, ["AccountTransfer", "Withdraw"], ["1.2.3.4"], (True, True, True)),
    (1, [], [], (False, False, False)),
])
def test_bybit_wallet_withdraw_read_only_and_ips(
    read_only: int, wallet: list[str], ips: list[str], expected: tuple[bool, bool, bool]
) -> None:
    body = orjson.dumps({"retCode": 0, "retMsg": "", "result": {
        "readOnly": read_only, "ips": ips,
        "permissions": {"Spot": ["SpotTrade"], "ContractTrade": [], "Wallet": wallet}}})
    p = kp.parse("bybit", body)
    assert (p.can_withdraw, p.can_trade, p.ip_restricted) == expected


def test_a_refused_query_is_a_config_error_with_the_venues_code_and_message() -> None:
    with pytest.raises(ConfigError, match=r"okx: the key permission query was refused "
                                          r"\(HTTP 401, code 50111: Invalid OK-ACCESS-KEY.\)"):
        kp.parse("okx", b'{"code":"50111","msg":"Invalid OK-ACCESS-KEY.","data":[]}', 401)
    with pytest.raises(ConfigError, match=r"bybit: the key permission query was refused "
                                          r"\(HTTP 200, code 10003: API key is invalid.\)"):
        kp.parse("bybit", b'{"retCode":10003,"retMsg":"API key is invalid.","result":{}}')
    with pytest.raises(ConfigError, match=r"okx: unusable key permission answer"):
        kp.parse("okx", b'{"code":"0","data":[{"uid":"1"}]}')
