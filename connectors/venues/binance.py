"""Binance spot (`binance`) and USD-M perpetuals (`binance-usdm`).

Book codec: connectors/cex/binance.py. Resync by REST depth snapshot while diffs are buffered;
the server pings and aiohttp answers, so no application ping. REST weights from Binance's
tables (spot: 6,000 per minute; USD-M: 2,400), reported back in `X-MBX-USED-WEIGHT-1M`.
The book stream is `depth@100ms` (a diff every 100 ms while the book changes), so the feed is
stale after 10 silent periods: 1 s (`CexAdapter.stale_after_ms`), not the 30 s a socket may idle.
"""

from __future__ import annotations

from dataclasses import replace

import msgspec

from connectors.cex import binance as codec
from connectors.cex.orders import binance as orders
from connectors.venues._time import decode_body
from connectors.venues.base import CexAdapter


class _ServerTime(msgspec.Struct, frozen=True):
    """`GET /api/v3/time` | `/fapi/v1/time`: `{"serverTime": 1499827319559}`."""

    serverTime: int


def _server_time(venue: str):  # type: ignore[no-untyped-def]
    def parse(body: bytes) -> int:
        return decode_body(body, _ServerTime, venue, "server-time").serverTime

    return parse


def _spot_depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _usdm_depth_weight(limit: int) -> int:
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


SPOT = CexAdapter(
    id="binance",
    book_sync=codec.BookSync,
    decode_frame=codec.decode_frame,
    stream_symbol=codec.stream_symbol,
    subscribe_message=codec.subscribe_message,
    snapshot_path=codec.snapshot_path,
    resync="rest",
    client_ping=None,
    ping_interval_s=15.0,
    snapshot_limit=1000,
    rest_budget=(6000, 60.0),
    server_time_path="/api/v3/time",
    parse_server_time_ms=_server_time("binance"),
    depth_weight=_spot_depth_weight,
    used_weight_header="X-MBX-USED-WEIGHT-1M",
    book_cadence_ms=100,
    market_sources={"perp": "binance-usdm"},
    orders=orders.SPOT,
)

# USD-M speaks the same wire protocol on its own hosts, with its own REST weights and orders.
USDM = replace(
    SPOT,
    id="binance-usdm",
    rest_budget=(2400, 60.0),
    server_time_path="/fapi/v1/time",
    parse_server_time_ms=_server_time("binance-usdm"),
    depth_weight=_usdm_depth_weight,
    market_sources={},
    orders=orders.USDM,
)
