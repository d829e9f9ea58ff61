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

from connectors.cex.orders.common import Credentials, OrderResult, SymbolFilters
from connectors.cex.orders.updates import OrderUpdate, UpdateKind


class PrivateStream(Protocol):
    """One venue's private order stream, sans-I/O."""

    ping: bytes | None
    ping_interval_s: float

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
