"""What a CEX API key may do, from the venue's own key-permission endpoint (sans-I/O).

The engine must never hold a key that can withdraw: a leaked trading key then cannot move funds
off the venue. Each venue's query is signed like its order queries (the order codecs' `signed`):

Binance (spot and USD-M share the account's key)
    GET /sapi/v1/account/apiRestrictions  (USER_DATA)
    {"ipRestrict": false, "enableReading": true, "enableWithdrawals": false,
     "enableSpotAndMarginTrading": true, "enableFutures": false, ...}

OKX
    GET /api/v5/account/config
    {"code": "0", "msg": "", "data": [{"uid": "...", "perm": "read_only,trade", "ip": "", ...}]}
    `perm` is comma-separated among read_only / trade / withdraw; `ip` the IP addresses bound to
    the key, comma-separated, "" when none.

Bybit v5
    GET /v5/user/query-api
    {"retCode": 0, "retMsg": "", "result": {"readOnly": 0, "ips": ["*"],
     "permissions": {"Spot": ["SpotTrade"], "ContractTrade": ["Order", "Position"],
                     "Wallet": ["AccountTransfer"], ...}, ...}}
    `readOnly` 0 = read and write, 1 = read only; a "Withdraw" entry in `permissions.Wallet`
    means the key can withdraw; `ips` ["*"] (or empty) = not bound to an IP.

A venue refusing the query (bad signature, unknown key, expired timestamp) is a `ConfigError`
naming the venue with the venue's own code and message, never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import msgspec

from connectors.cex.orders.binance import BinanceOrders
from connectors.cex.orders.bybit import BybitOrders
from connectors.cex.orders.common import Credentials, SignedRequest
from connectors.cex.orders.okx import OkxOrders
from operators.errors import ConfigError

BINANCE_RESTRICTIONS_PATH = "/sapi/v1/account/apiRestrictions"
OKX_CONFIG_PATH = "/api/v5/account/config"
BYBIT_QUERY_API_PATH = "/v5/user/query-api"
_HOME = {"binance": "binance", "binance-usdm": "binance", "okx": "okx", "bybit": "bybit"}
"""Venue id -> the account the key lives on (USD-M keys are the Binance account's keys)."""


class _BinanceRestrictions(msgspec.Struct, frozen=True):
    ipRestrict: bool
    enableWithdrawals: bool
    enableReading: bool = False
    enableSpotAndMarginTrading: bool = False
    enableFutures: bool = False


class _OkxConfig(msgspec.Struct, frozen=True):
    perm: str
    ip: str = ""


class _OkxAnswer(msgspec.Struct, frozen=True):
    code: str
    msg: str = ""
    data: list[_OkxConfig] = []


class _BybitKey(msgspec.Struct, frozen=True):
    readOnly: int
    permissions: dict[str, list[str]]
    ips: list[str] = []


class _BybitAnswer(msgspec.Struct, frozen=True):
    retCode: int
    retMsg: str = ""
    result: msgspec.Raw = msgspec.Raw(b"null")


class _VenueError(msgspec.Struct, frozen=True):
    code: int | str | None = None
    msg: str = ""
    retCode: int | None = None
    retMsg: str = ""


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """The permissions of one API key that the engine cares about."""

    venue: str
    can_withdraw: bool
    can_trade: bool
    ip_restricted: bool


def supported(venue: str) -> bool:
    """Whether the permission check is built for `venue`."""
    return venue in _HOME


def request_for(venue: str, creds: Credentials, ts_ms: int, recv_window_ms: int) -> SignedRequest:
    """The signed permission query of `venue`'s key (venue clock `ts_ms`)."""
    home = _HOME.get(venue)
    if home == "binance":
        # Binance signs the query string only: the order codec's signature holds for this path
        req = BinanceOrders("binance").signed(creds, "GET", "spot", [], ts_ms, recv_window_ms)
        return replace(req, path=BINANCE_RESTRICTIONS_PATH)
    if home == "okx":
        return OkxOrders().signed(creds, "GET", OKX_CONFIG_PATH, "", b"", (), ts_ms)
    if home == "bybit":
        return BybitOrders().signed(creds, "GET", BYBIT_QUERY_API_PATH, "", b"", (), ts_ms,
                                    recv_window_ms)
    raise ConfigError(f"{venue}: the API key permission check is not built for this venue")


def _refusal(venue: str, status: int, body: bytes) -> ConfigError:
    """The venue said no: its code and message, in a sentence that names the venue."""
    try:
        e = msgspec.json.decode(body, type=_VenueError)
        code = e.retCode if e.retCode is not None else e.code
        msg = e.retMsg or e.msg
    except msgspec.DecodeError:
        code, msg = None, body[:120].decode(errors="replace")
    return ConfigError(f"{venue}: the key permission query was refused (HTTP {status}, "
                       f"code {code}: {msg}); check the key, secret and passphrase")


def parse(venue: str, body: bytes, status: int = 200) -> KeyPermissions:
    """`KeyPermissions` from the venue's answer; `ConfigError` naming the venue when refused or
    unusable."""
    home = _HOME.get(venue)
    if home is None:
        raise ConfigError(f"{venue}: the API key permission check is not built for this venue")
    if status != 200:
        raise _refusal(venue, status, body)
    try:
        if home == "binance":
            r = msgspec.json.decode(body, type=_BinanceRestrictions)
            return KeyPermissions(venue, can_withdraw=r.enableWithdrawals,
                                  can_trade=r.enableSpotAndMarginTrading or r.enableFutures,
                                  ip_restricted=r.ipRestrict)
        if home == "okx":
            o = msgspec.json.decode(body, type=_OkxAnswer)
            if o.code != "0" or not o.data:
                raise _refusal(venue, status, body)
            perms = {p.strip() for p in o.data[0].perm.split(",") if p.strip()}
            return KeyPermissions(venue, can_withdraw="withdraw" in perms,
                                  can_trade="trade" in perms,
                                  ip_restricted=bool(o.data[0].ip.strip()))
        b = msgspec.json.decode(body, type=_BybitAnswer)
        if b.retCode != 0:
            raise _refusal(venue, status, body)
        k = msgspec.json.decode(b.result, type=_BybitKey)
        wallet = k.permissions.get("Wallet", [])
        trade = any(k.permissions.get(g) for g in ("Spot", "ContractTrade", "Derivatives"))
        return KeyPermissions(venue, can_withdraw="Withdraw" in wallet,
                              can_trade=k.readOnly == 0 and trade,
                              ip_restricted=bool(k.ips) and k.ips != ["*"])
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{venue}: unusable key permission answer ({exc})") from None
