"""What the journal's fill and opportunity rows are worth: one set of rules for every reader.

The run summary, the outcomes table, the HTML report's arbs, the dashboard and the simulator's
scoring all count money from the same rows; they share these functions so that they cannot
disagree. Amounts are the pair's quote base units (integers).

A fill row keeps the venue's own amounts (`quote_amount`, `fee_quote`, in its market's
`quote_currency`) and the ratio its intent carried (`fx`, `num,den`: one market unit in the
pair's quote). Money is never read from those columns directly: `quote_value` / `fee_value` /
`fill_cash` value them in the pair's quote at that ratio with the engine's own rules
(operators/fx.py: a cost and a fee rounded up, proceeds down), so no reader adds two
currencies at par. A row with no `fx` (a journal written before the column existed) is read at
par, as it was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from operators.fx import PAR, FxRatio, fill_cash_pair, parse_fx, to_pair_quote
from operators.legs import FLATTENING, PERP_ORDERS

Row = Mapping[str, Any]


def is_flattening(fill: Row) -> bool:
    """Whether a fill is the hedge or unwind of a one-legged arb, not one of its legs."""
    return str(fill.get("intent_id", "")).endswith(FLATTENING)


def is_hedge(fill: Row) -> bool:
    """Whether a fill is on the perp hedge (the hedge or its close), not a spot unwind."""
    return str(fill.get("intent_id", "")).endswith(PERP_ORDERS)


def moved(fill: Row) -> bool:
    """Whether a fill row moved money: `filled`, or the `partial` fill of an IOC whose
    remainder expired (that remainder is a `cancelled` row of nothing)."""
    status = fill["status"]
    return status == "filled" or (status == "partial" and int(fill["filled_base"]) > 0)


def fill_fx(fill: Row) -> FxRatio:
    """The ratio a fill row is valued at in the pair's quote (PAR for a row without one)."""
    text = fill.get("fx")
    if text is None or text != text:  # absent, or null in a part written before the column
        return PAR
    return parse_fx(str(text))


def quote_value(fill: Row) -> int:
    """A fill's `quote_amount` in the pair's quote (a buy's cost rounded up, proceeds down)."""
    return to_pair_quote(int(fill["quote_amount"]), fill_fx(fill), round_up=fill["side"] == "buy")


def fee_value(fill: Row) -> int:
    """A fill's `fee_quote` in the pair's quote (rounded up)."""
    return to_pair_quote(int(fill["fee_quote"]), fill_fx(fill), round_up=True)


def fill_cash(fill: Row) -> int:
    """Quote received (sell) or paid (buy, negative) by a fill, its fee taken out, in the
    pair's quote (`operators.fx.fill_cash_pair`: the engine's own rule)."""
    return fill_cash_pair(
        str(fill["side"]), int(fill["quote_amount"]), int(fill["fee_quote"]), fill_fx(fill)
    )


def net_base(fills: Iterable[Row]) -> int:
    """Base bought minus base sold by `fills` (0 = flat)."""
    return int(sum(f["filled_base"] if f["side"] == "buy" else -f["filled_base"] for f in fills))


def gas_quote(opportunity: Row) -> int:
    """The gas the opportunity's costs put on its buy notional (its DEX transaction was sent)."""
    gas_bps: float = opportunity["cost_gas_bps"]
    buy_quote: int = opportunity["buy_quote"]
    return round(gas_bps * buy_quote / 1e4)


def open_mark(base: int, opportunity: Row) -> int:
    """Value of base still open after an opportunity's fills, at the worse of its two quoted
    prices (long: the lower, short: the higher) so an open leg never looks better than it is."""
    size = opportunity["size_base"]
    buy_q, sell_q = opportunity["buy_quote"], opportunity["sell_quote"]
    if base > 0:
        return int(base * min(buy_q, sell_q) // size)
    if base < 0:
        return -int(-base * max(buy_q, sell_q) // size)
    return 0
