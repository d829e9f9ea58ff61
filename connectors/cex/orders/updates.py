"""Order updates pushed by a venue's private stream, as one typed event for every venue.

The user-data parsers (binance_ws.py, okx_ws.py, bybit_ws.py) turn the venues' pushes into
`OrderUpdate`s: sans-I/O, bytes in, events out. Prices and quantities stay `Decimal` here (the
human edge, as the book events in operators/events.py); the consumer knows the market's filters
and converts to integer units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

UpdateKind = Literal["ack", "partial", "fill", "cancel", "reject", "expire", "other"]


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One change of one order: `last_*` is this execution, `cum_*` the order so far.

    `kind`: ack (accepted, nothing filled), partial (a fill, the order goes on), fill (filled
    completely), cancel / expire (done with what filled), reject (refused), other (nothing the
    engine acts on). `fee` is this execution's fee in `fee_asset`, positive when paid. `cum_*`
    is None when the push does not carry it (Bybit `execution`).
    """

    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str
    kind: UpdateKind
    side: str
    last_qty: Decimal
    last_price: Decimal
    cum_qty: Decimal | None
    cum_quote: Decimal | None
    fee: Decimal
    fee_asset: str
    trade_id: str
    reason: str
    ts_event_ns: int
    ts_recv_ns: int
