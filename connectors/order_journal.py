"""The journal's `orders` table: one row per order request sent to a CEX, and its outcome.

A row keeps what was asked (venue, market, symbol, side, type, time in force, price and qty as
the venue's decimal strings, client id), where it went (method, path and parameters WITHOUT
signature, key or passphrase: `SignedRequest.params` never holds them), what came back (venue
order id, outcome: a final status or the venue's error code, filled qty, fee and fee asset) and
when (intent, sent, ack, fill; ns). The journal sink writes it like any other record
(`connectors/journal.py` TABLES).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from connectors.cex.orders.common import OrderResult, OrderSpec, SignedRequest, SymbolFilters
from operators.errors import ExecutionError


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order request and its outcome (journal table `orders`)."""

    venue: str
    market: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: str
    qty: str
    client_order_id: str
    venue_order_id: str
    method: str
    path: str
    params: str
    """JSON object of the request's parameters, without signature, key or passphrase."""
    outcome: str
    """Final status (`filled`, `expired`, ...) or `error:<venue code>`."""
    error: str
    filled_qty: str
    fee: str
    fee_asset: str
    ts_intent_ns: int
    ts_sent_ns: int
    ts_ack_ns: int
    ts_fill_ns: int


def order_record(req: SignedRequest, filters: SymbolFilters, spec: OrderSpec, *,
                 result: OrderResult | None = None, error: ExecutionError | None = None,
                 ts_intent_ns: int = 0, ts_sent_ns: int = 0, ts_ack_ns: int = 0) -> OrderRecord:
    """The journal row of one sent order request and its answer (a result or an error)."""
    filled = result is not None and result.filled_qty_units > 0
    return OrderRecord(
        venue=filters.venue, market=spec.market, symbol=spec.symbol, side=spec.side,
        order_type="LIMIT", tif=spec.tif, price=filters.price_str(spec.price_units),
        qty=filters.qty_str(spec.qty_units), client_order_id=spec.client_order_id,
        venue_order_id=result.venue_order_id if result is not None else "",
        method=req.method, path=req.path, params=json.dumps(dict(req.params)),
        outcome=(result.status if result is not None
                 else f"error:{error.code}" if error is not None else "unknown"),
        error=str(error) if error is not None else "",
        filled_qty=filters.qty_str(result.filled_qty_units) if result is not None else "",
        fee=str(result.fee) if result is not None else "",
        fee_asset=result.fee_asset if result is not None else "",
        ts_intent_ns=ts_intent_ns, ts_sent_ns=ts_sent_ns, ts_ack_ns=ts_ack_ns,
        ts_fill_ns=ts_ack_ns if filled else 0)
