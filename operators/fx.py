"""Legs on a market quoted in another currency than their pair: one set of conversion rules.

A pair (SOL/USDC) may trade a leg on a market quoted in another currency (OKX SOL-USDT, the
USDT perp hedge). The spread engine decides in the pair's quote: it converts the market's
amounts at an exact ratio, `fx = (num, den)`, one market unit = num / den pair-quote units,
rounding against us (`pricing.to_pair_quote`: a cost up, proceeds down). Everything downstream
keeps the two currencies apart:

- an intent carries its market's currency and that ratio (`OrderIntent.quote_currency`,
  `.fx`); its `limit_quote` is in the **market's** currency (what the venue is sent), converted
  from the decision's pair-quote limit so that it is never looser (`limit_in_market`: a buy
  limit rounds down, a sell limit up); its `predicted_quote` stays in the pair's quote;
- a fill keeps the venue's own amounts (`quote_amount`, `fee_quote`: what happened, in the
  market's currency) and carries the same ratio (`ExecutionReport.fx`, stamped from its intent by
  `stamp`); every reader values it in the pair's quote with `quote_pair` / `cash_pair`, at that
  ratio, rounding against us as the decision did, so a fill at the predicted price has zero
  slippage and the money rules (replay/money.py), the fill risk, the learning and the guard's
  book never add two currencies at par.

A ratio of (1, 1) (the pair's own currency, or a constant of exactly 1) converts nothing and
rounds nothing: legs in the pair's currency are unchanged, to the unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from operators.errors import QuoteError
from operators.events import ExecutionReport, OrderIntent
from operators.pricing import fx_ratio, to_pair_quote

__all__ = [
    "PAR",
    "FxRatio",
    "cash_pair",
    "constant_fx",
    "fill_cash_pair",
    "fx_text",
    "limit_in_market",
    "parse_fx",
    "quote_pair",
    "stamp",
    "to_pair_quote",
]

FxRatio = tuple[int, int]
"""One market-currency unit in the pair's quote, exact: (num, den), both > 0."""
PAR: FxRatio = (1, 1)


def limit_in_market(limit_pair: int, fx: FxRatio, side: str) -> int:
    """A leg's limit (pair-quote base units) in its market's currency, never looser than the
    decision: a buy may pay at most `limit_pair` (rounded down), a sell must receive at least
    `limit_pair` (rounded up) once converted back at `fx`."""
    num, den = fx
    if num == 1 and den == 1:
        return limit_pair
    scaled = limit_pair * den
    return scaled // num if side == "buy" else -(-scaled // num)


def fill_cash_pair(side: str, quote_amount: int, fee_quote: int, fx: FxRatio) -> int:
    """Pair-quote cash of a fill in a market at `fx`: proceeds (sell, rounded down) or minus the
    cost (buy, rounded up), minus the fee (rounded up): never better than it was."""
    fee = to_pair_quote(fee_quote, fx, round_up=True)
    if side == "sell":
        return to_pair_quote(quote_amount, fx, round_up=False) - fee
    return -to_pair_quote(quote_amount, fx, round_up=True) - fee


def quote_pair(r: ExecutionReport) -> int:
    """A report's `quote_amount` in the pair's quote at its ratio (a buy up, a sale down)."""
    return to_pair_quote(r.quote_amount, r.fx, round_up=r.side == "buy")


def cash_pair(r: ExecutionReport) -> int:
    """A report's cash in the pair's quote (`fill_cash_pair` of its own amounts and ratio)."""
    return fill_cash_pair(r.side, r.quote_amount, r.fee_quote, r.fx)


def stamp(report: ExecutionReport, intent: OrderIntent) -> ExecutionReport:
    """`report` carrying its intent's market currency and ratio (and, for a flattening order,
    where the ratio came from: `extra["fx_source"]`); unchanged when it has them already."""
    if intent.quote_currency == report.quote_currency and intent.fx == report.fx:
        return report
    extra = report.extra
    if intent.fx_source:
        extra = {**extra, "fx_source": intent.fx_source}
    return replace(report, quote_currency=intent.quote_currency, fx=intent.fx, extra=extra)


def constant_fx(fx: Mapping[str, Decimal], currency: str, pair_quote: str) -> FxRatio:
    """The `[fx]` constant of `currency` in `pair_quote` (both valued in the [fx] unit), exact;
    PAR for the pair's own currency. QuoteError when either has no rate."""
    if currency == pair_quote or not currency:
        return PAR
    n1, d1 = fx_ratio(fx, currency)
    n2, d2 = fx_ratio(fx, pair_quote)
    num, den = n1 * d2, d1 * n2
    if num == den:
        return PAR
    return num, den


def fx_text(fx: FxRatio) -> str:
    """A ratio as the journal writes it: `num,den`."""
    return f"{fx[0]},{fx[1]}"


def parse_fx(text: str) -> FxRatio:
    """A journal's `fx` cell (`num,den`) back to the ratio; QuoteError when malformed."""
    num_s, sep, den_s = text.partition(",")
    try:
        num, den = int(num_s), int(den_s)
    except ValueError:
        raise QuoteError(f"fx {text!r} is not 'num,den'") from None
    if not sep or num <= 0 or den <= 0:
        raise QuoteError(f"fx {text!r} is not 'num,den' with both > 0")
    return num, den
