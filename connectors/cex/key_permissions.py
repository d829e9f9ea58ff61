"""What a CEX API key may do, from the venue's own key-permission endpoint (sans-I/O).

The engine must never hold a key that can withdraw: a leaked trading key then cannot move funds
off the venue. Built for Binance (spot and USD-M share the account's key):

    GET /sapi/v1/account/apiRestrictions  (USER_DATA, signed like an order query)
    {"ipRestrict": false, "createTime": 1698645219000, "enableReading": true,
     "enableWithdrawals": false, "enableInternalTransfer": false, "enableMargin": false,
     "enableFutures": false, "permitsUniversalTransfer": false, "enableVanillaOptions": false,
     "enableSpotAndMarginTrading": true, "enablePortfolioMarginTrading": false}

OKX (`GET /api/v5/account/config`, `perm`) and Bybit (`GET /v5/user/query-api`,
`permissions.Wallet`) are not built: `request_for` raises for them, and the preflight says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import msgspec

from connectors.cex.orders.binance import BinanceOrders
from connectors.cex.orders.common import Credentials, SignedRequest
from operators.errors import ConfigError

BINANCE_RESTRICTIONS_PATH = "/sapi/v1/account/apiRestrictions"
_BINANCE_HOME = {"binance": "binance", "binance-usdm": "binance"}
"""Venue id -> the account the key lives on (USD-M keys are the Binance account's keys)."""


class _BinanceRestrictions(msgspec.Struct, frozen=True):
    ipRestrict: bool
    enableWithdrawals: bool
    enableReading: bool = False
    enableSpotAndMarginTrading: bool = False
    enableFutures: bool = False


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """The permissions of one API key that the engine cares about."""

    venue: str
    can_withdraw: bool
    can_trade: bool
    ip_restricted: bool


def supported(venue: str) -> bool:
    """Whether the permission check is built for `venue`."""
    return venue in _BINANCE_HOME


def request_for(venue: str, creds: Credentials, ts_ms: int, recv_window_ms: int) -> SignedRequest:
    """The signed permission query of `venue`'s key (venue clock `ts_ms`)."""
    if venue not in _BINANCE_HOME:
        raise ConfigError(f"{venue}: the API key permission check is not built for this venue")
    # Binance signs the query string only: the order codec's signature holds for this path too
    req = BinanceOrders("binance").signed(creds, "GET", "spot", [], ts_ms, recv_window_ms)
    return replace(req, path=BINANCE_RESTRICTIONS_PATH)


def parse(venue: str, body: bytes) -> KeyPermissions:
    """`KeyPermissions` from the venue's answer; `ConfigError` naming the venue when unusable."""
    try:
        r = msgspec.json.decode(body, type=_BinanceRestrictions)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{venue}: unusable apiRestrictions answer ({exc})") from None
    return KeyPermissions(
        venue=venue,
        can_withdraw=r.enableWithdrawals,
        can_trade=r.enableSpotAndMarginTrading or r.enableFutures,
        ip_restricted=r.ipRestrict,
    )
