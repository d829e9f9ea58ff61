"""OKX (spot and USDT swaps on one public socket).

Book codec: connectors/cex/okx.py. Text `ping` after 15 s of silence (OKX drops a socket silent
for 30 s); a gap is resynced by unsubscribing and subscribing the instrument again, which makes
OKX send a fresh `snapshot`. Public REST: 40 requests per 2 s. The `books` channel pushes the
changes of each 100 ms, so the feed is stale after 1 s without market data.
"""

from __future__ import annotations

import msgspec

from connectors.cex import okx as codec
from connectors.cex.orders import okx as orders
from connectors.venues._time import decode_body
from connectors.venues.base import CexAdapter
from operators.errors import FeedError


class _Ts(msgspec.Struct, frozen=True):
    ts: str


class _ServerTime(msgspec.Struct, frozen=True):
    """`GET /api/v5/public/time`: `{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}`."""

    data: list[_Ts]


def _server_time(body: bytes) -> int:
    data = decode_body(body, _ServerTime, "okx", "server-time").data
    if not data or not data[0].ts.isdigit():
        raise FeedError(f"bad server-time body: {body[:120]!r} (data[0].ts)", venue="okx")
    return int(data[0].ts)


OKX = CexAdapter(
    id="okx",
    book_sync=codec.BookSync,
    decode_frame=codec.decode_frame,
    stream_symbol=codec.stream_symbol,
    subscribe_message=codec.subscribe_message,
    snapshot_path=codec.snapshot_path,
    resync="resubscribe",
    client_ping=b"ping",
    ping_interval_s=15.0,
    snapshot_limit=400,
    rest_budget=(40, 2.0),
    server_time_path="/api/v5/public/time",
    parse_server_time_ms=_server_time,
    book_cadence_ms=100,
    orders=orders.OKX,
)
