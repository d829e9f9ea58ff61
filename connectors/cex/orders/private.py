"""What a venue's private order stream is, to the user-stream client: steps and a parser.

Each venue module (binance_ws.py, okx_ws.py, bybit_ws.py) provides one `PrivateStream`:
the messages to send after connecting (`steps`, each answered before the next: Binance's signed
subscription; OKX login then subscribe; Bybit auth then subscribe), how to read an answer to a
step (`step_reply`: True ok, False refused, None for anything else), the push parser and the
application ping. `update_from_result` turns a REST query answer into the same `OrderUpdate`
the stream would have pushed, for reconciling after a gap.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from connectors.cex.orders.common import Credentials, OrderResult, SignedRequest, SymbolFilters
from connectors.cex.orders.updates import OrderUpdate, UpdateKind
from operators.errors import FeedError


class _Key(msgspec.Struct, frozen=True):
    listenKey: str


class ListenKey:
    """The listenKey endpoint of a venue's user-data stream (`connectors.cex.user_stream`)."""

    def __init__(self, path: str, keepalive_s: float) -> None:
        self.path = path
        self.keepalive_s = keepalive_s

    def request(self, creds: Credentials, method: str) -> SignedRequest:
        """`POST` (open or get the active key), `PUT` (keep alive) or `DELETE` (close)."""
        return SignedRequest(method=method, path=self.path, query="",  # type: ignore[arg-type]
                             body=b"", headers=(("X-MBX-APIKEY", creds.api_key),))

    def parse(self, body: bytes) -> str:
        """The key in an answer `{"listenKey": ".."}`; `FeedError` if there is none."""
        try:
            return msgspec.json.decode(body, type=_Key).listenKey
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise FeedError(f"no listenKey in {body[:120]!r}") from None

    def url(self, ws_base: str, key: str) -> str:
        """The stream's URL: the key is the last path segment."""
        return f"{ws_base.rstrip('/')}/{key}"





class PrivateStream(Protocol):
    """One venue's private order stream, sans-I/O."""

    ping: bytes | None
    ping_interval_s: float
    listen_key: ListenKey | None
    """A REST key to open (and keep alive) before connecting (Binance USD-M), or None."""

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]: ...

    def step_reply(self, frame: bytes) -> bool | None: ...

    def parse(self, frame: bytes, ts_recv_ns: int) -> list[OrderUpdate]: ...


_KIND: dict[str, UpdateKind] = {
    "new": "ack", "partially_filled": "partial", "filled": "fill", "cancelled": "cancel",
    "expired": "expire", "rejected": "reject",
}


def update_from_result(result: OrderResult, filters: SymbolFilters, side: str,
                       ts_recv_ns: int) -> OrderUpdate:
    """The `OrderUpdate` of a queried order's state (cumulative only: `last_*` are 0)."""
    cum = Decimal(result.filled_qty_units).scaleb(-filters.qty_decimals)
    scale = filters.price_decimals + filters.qty_decimals
    return OrderUpdate(
        venue=result.venue, symbol=result.symbol, client_order_id=result.client_order_id,
        venue_order_id=result.venue_order_id, kind=_KIND[result.status], side=side,
        last_qty=Decimal(0), last_price=Decimal(0), cum_qty=cum,
        cum_quote=Decimal(result.quote_units).scaleb(-scale), fee=result.fee,
        fee_asset=result.fee_asset, trade_id="", reason="reconciled",
        ts_event_ns=result.ts_event_ms * 1_000_000, ts_recv_ns=ts_recv_ns)
