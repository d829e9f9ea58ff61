"""CEX API key permission query and answer (Binance apiRestrictions), sans-I/O."""

from __future__ import annotations

import hashlib
import hmac

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
    with pytest.raises(ConfigError, match=r"binance: unusable apiRestrictions answer"):
        kp.parse("binance", b'{"code":-2015,"msg":"Invalid API-key"}')


def test_venues_without_a_built_check_are_refused_not_assumed_safe() -> None:
    assert (kp.supported("okx"), kp.supported("bybit"), kp.supported("binance")) == (
        False, False, True
    )
    with pytest.raises(ConfigError, match="okx: the API key permission check is not built"):
        kp.request_for("okx", Credentials("k", "s"), 1, 5000)
