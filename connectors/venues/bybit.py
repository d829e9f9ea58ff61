"""Bybit v5 (spot and linear perpetuals, on sibling WS paths).

Book codec: connectors/cex/bybit.py. `{"op":"ping"}` every 20 s as the docs advise; a `u` gap is
resynced by unsubscribe + subscribe, which sends a fresh `snapshot`. Config holds the spot WS
URL (`.../v5/public/spot`); linear lives at `.../v5/public/linear`. `orderbook.50` pushes every
20 ms while the book changes; ten periods (200 ms) is under the 1 s floor, so the feed is stale
after 1 s without market data.
"""

from __future__ import annotations

import msgspec

from connectors.cex import bybit as codec
from connectors.cex.orders import bybit as orders
from connectors.venues._time import decode_body
from connectors.venues.base import CexAdapter


class _ServerTime(msgspec.Struct, frozen=True):
    """`GET /v5/market/time`: `{"retCode":0,"result":{...},"time":1688639403423}`."""

    time: int


def _server_time(body: bytes) -> int:
    return decode_body(body, _ServerTime, "bybit", "server-time").time


def _ping(n: int) -> bytes:
    return b'{"req_id":"%d","op":"ping"}' % n


def _ws_url(url: str, market: str) -> str:
    if market == "perp" and url.rstrip("/").endswith("/spot"):
        return url.rstrip("/")[: -len("/spot")] + "/linear"
    return url


BYBIT = CexAdapter(
    id="bybit",
    book_sync=codec.BookSync,
    decode_frame=codec.decode_frame,
    stream_symbol=codec.stream_symbol,
    subscribe_message=codec.subscribe_message,
    snapshot_path=codec.snapshot_path,
    resync="resubscribe",
    client_ping=b'{"op":"ping"}',
    ping_interval_s=20.0,
    snapshot_limit=50,
    rest_budget=(600, 5.0),
    server_time_path="/v5/market/time",
    parse_server_time_ms=_server_time,
    ws_url_rule=_ws_url,
    numbered_ping=_ping,
    book_cadence_ms=20,
    orders=orders.BYBIT,
)
