"""Paper venue: fills order intents at the real depth of the venue views, after a latency.

Keyed per pair. It keeps a short history of every market's views and fills an intent against
the view that was current `latency_ns` after the intent (CEX and DEX have their own latency; a
DEX leg lands a slot or so later). An intent waits until a view newer than its fill time has
arrived (or the run ends), so the fill never depends on how frames were batched: a replay gives
the same fills at any batch size. The fill walks that view at the intent's size with the same
executable-price code the spread engine uses (book walk, ladder walk, exact CLMM swap).

Order semantics are the live venues' (issue 12 item 5):
- CEX book and CLOB ladder: a limit order walks the levels whose price is within the limit
  price (`limit_quote / size_base`); IOC fills what they hold and the rest expires (a `partial`
  report, then a `cancelled` one for the remainder), FOK fills all or is rejected;
- CLMM: the exact swap on the pool one latency later, all or nothing: an amount past the
  limit (the swap's `other_amount_threshold`) fails the transaction (`rejected`).
A missing or out-of-sync view rejects the leg; a leg with nothing at its limit is rejected
(`price moved: ...`). Each fill carries its predicted price and slippage
(`fill_risk.with_prediction`). A view is walked in its market's own currency, which is the
intent's limit's and the fill's (`quote_amount`, `fee_quote`); the report carries the intent's
ratio to the pair's quote (operators/fx.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

from operators.depth import depth_at_limit
from operators.errors import QuoteError
from operators.events import ExecutionReport, OrderIntent
from operators.fill_risk import with_prediction
from operators.fx import stamp
from operators.latency import LatencyModel
from operators.legs import FLATTENING
from operators.pricing import LegQuote, buy_base, sell_base
from operators.views import CexBookView, ClobView, VenueView

HISTORY = 4096


@dataclass(slots=True)
class PaperVenue:
    """View history per market, pending intents and counters; plain data, snapshot-able."""

    base_decimals: int
    quote_decimals: int
    cex_latency_ns: int
    dex_latency_ns: int
    views: dict[str, deque[VenueView]] = field(default_factory=dict)
    pending: list[OrderIntent] = field(default_factory=list)
    taken: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(market, side) -> (ts_recv_ns of the view, base units already filled against it)."""
    filled: int = 0
    rejected: int = 0
    partial: int = 0
    latency: LatencyModel | None = None
    """Seeded per-venue delay distributions (operators/latency.py); None = the fixed latencies."""

    def _delays(self, intent: OrderIntent, view_or_none: VenueView | None) -> tuple[int, int]:
        """(intent -> execution, execution -> report) delays of `intent`, ns."""
        fixed = (
            self.cex_latency_ns if isinstance(view_or_none, CexBookView) else self.dex_latency_ns
        )
        if self.latency is None:
            return fixed, 0
        venue = intent.market_id.split(":", 1)[0]
        return self.latency.leg_delays_ns(intent.intent_id, venue, fixed)

    def _latency(self, intent: OrderIntent, view_or_none: VenueView | None) -> int:
        return self._delays(intent, view_or_none)[0]

    def on_view(self, view: VenueView) -> list[ExecutionReport]:
        """Record a view; fill the pending intents whose fill time it has passed."""
        hist = self.views.get(view.market_id)
        if hist is None:  # not `setdefault`: that would build a deque per view
            hist = self.views[view.market_id] = deque(maxlen=HISTORY)
        hist.append(view)
        if not self.pending:
            return []  # nothing waits for a fill: most views
        ready = [
            i
            for i in self.pending
            if i.market_id == view.market_id
            and view.ts_recv_ns > i.ts_intent_ns + self._latency(i, view)
        ]
        if not ready:
            return []
        self.pending = [i for i in self.pending if i not in ready]
        return [r for i in ready for r in self._fill(i)]

    def on_intent(self, intent: OrderIntent) -> list[ExecutionReport]:
        """Queue an intent; fill at once if a view past its fill time is already held."""
        hist = self.views.get(intent.market_id)
        last = hist[-1] if hist else None
        if last is not None and last.ts_recv_ns > intent.ts_intent_ns + self._latency(intent, last):
            return self._fill(intent)
        self.pending.append(intent)
        return []

    def reject_now(self, intent: OrderIntent, reason: str) -> ExecutionReport:
        """Refuse `intent` at its own time, unfilled (e.g. a hedge on a market with no book)."""
        return self._reject(intent, intent.ts_intent_ns, reason)

    def on_end(self) -> list[ExecutionReport]:
        """End of input: fill what is pending against the latest views."""
        out = [r for i in self.pending for r in self._fill(i)]
        self.pending = []
        return out

    def _view_at(self, intent: OrderIntent) -> VenueView | None:
        hist = self.views.get(intent.market_id)
        if not hist:
            return None
        target = intent.ts_intent_ns + self._latency(intent, hist[-1])
        chosen = None
        for v in hist:
            if v.ts_recv_ns <= target:
                chosen = v
            else:
                break
        return chosen

    def _fill(self, intent: OrderIntent) -> list[ExecutionReport]:
        view = self._view_at(intent)
        execute_ns, confirm_ns = self._delays(intent, view)
        # the price is the one at execution; we learn of it `confirm_ns` later
        fill_ns = intent.ts_intent_ns + execute_ns + confirm_ns
        if view is None or not view.in_sync:
            why = "no view" if view is None else "view out of sync"
            return [self._reject(intent, fill_ns, why)]
        # Earlier paper fills on this very view and side have used up its best levels: this
        # leg gets the marginal price of walking on from there (total minus what was taken).
        key = (intent.market_id, intent.side)
        taken_view_ns, taken_base = self.taken.get(key, (-1, 0))
        flattening = intent.intent_id.endswith(FLATTENING)
        if taken_view_ns != view.ts_recv_ns or flattening:
            # A hedge / unwind is made by a report, and which report comes first depends on how
            # views and intents interleave (batching): priced alone on the view and leaving the
            # levels to the legs, it fills the same at any batch size.
            taken_base = 0
        full: LegQuote | None = None
        try:
            full = self._walk(view, intent.side, taken_base, intent.size_base)
        except QuoteError as exc:
            failure = f"cannot fill at size: {exc}"
        else:
            failure = _beyond_limit(intent, full.quote_amount)
        at_limit = units_at_limit(view, intent, self.base_decimals, self.quote_decimals)
        if at_limit is None:
            # a CLMM swap is all or nothing: the program fails the transaction when the amount
            # passes `other_amount_threshold` (the limit)
            if full is None or failure:
                why = failure + (" (other_amount_threshold)" if full is not None else "")
                return [self._reject(intent, fill_ns, why)]
            return [self._report(intent, view, full, taken_base, fill_ns, "filled")]
        room = min(intent.size_base, at_limit - taken_base)
        if room >= intent.size_base:
            # every level walked is within the limit price, so the whole is within the limit
            if full is None or failure:
                return [self._reject(intent, fill_ns, failure)]
            return [self._report(intent, view, full, taken_base, fill_ns, "filled")]
        if room <= 0:
            return [self._reject(intent, fill_ns, failure or "nothing at the limit")]
        if intent.time_in_force == "fok":
            why = f"FOK: {room} of {intent.size_base} base units at the limit"
            return [self._reject(intent, fill_ns, why)]
        try:
            part = self._walk(view, intent.side, taken_base, room)
        except QuoteError as exc:  # below one lot of a CLOB: nothing fills
            return [self._reject(intent, fill_ns, f"cannot fill at size: {exc}")]
        left = intent.size_base - part.size_base
        expired = replace(
            self._reject(intent, fill_ns, f"IOC: {left} base units past the limit expired"),
            status="cancelled",
        )
        self.rejected -= 1
        self.partial += 1
        return [self._report(intent, view, part, taken_base, fill_ns, "partial"), expired]

    def _walk(self, view: VenueView, side: str, taken_base: int, size_base: int) -> LegQuote:
        """`size_base` priced on `view` after `taken_base` already filled on it (marginal)."""
        price = buy_base if side == "buy" else sell_base
        bd, qd = self.base_decimals, self.quote_decimals
        leg = price(view, taken_base + size_base, bd, qd)
        if taken_base:
            before = price(view, taken_base, bd, qd)
            leg = leg._replace(
                size_base=leg.size_base - before.size_base,
                quote_amount=leg.quote_amount - before.quote_amount,
                fee_quote=leg.fee_quote - before.fee_quote,
            )
        return leg

    def _report(
        self,
        intent: OrderIntent,
        view: VenueView,
        leg: LegQuote,
        taken_base: int,
        fill_ns: int,
        status: Literal["filled", "partial"],
    ) -> ExecutionReport:
        self.filled += 1
        if not intent.intent_id.endswith(FLATTENING):
            key = (intent.market_id, intent.side)
            self.taken[key] = (view.ts_recv_ns, taken_base + leg.size_base)
        # A CLMM swap's pool fee is inside its amounts already; CEX/CLOB fees come on top.
        in_price = leg.fee_in_amount
        report = ExecutionReport(
            intent_id=intent.intent_id,
            opportunity_id=intent.opportunity_id,
            venue=intent.venue,
            side=intent.side,
            status=status,
            filled_base=leg.size_base,
            quote_amount=leg.quote_amount,
            fee_quote=0 if in_price else leg.fee_quote,
            reason="",
            ts_event_ns=view.ts_event_ns,
            ts_recv_ns=intent.ts_recv_ns,
            ts_fill_ns=fill_ns,
            extra=self._extra(leg.fee_quote if in_price else None, taken_base),
        )
        return with_prediction(report, intent)

    @staticmethod
    def _extra(fee_in_price: int | None, taken_base: int) -> dict[str, str]:
        extra = {}
        if fee_in_price is not None:
            extra["fee_in_price_quote"] = str(fee_in_price)
        if taken_base:
            extra["walked_on_from_base"] = str(taken_base)
        return extra

    def _reject(self, intent: OrderIntent, fill_ns: int, reason: str) -> ExecutionReport:
        self.rejected += 1
        return stamp(ExecutionReport(
            intent_id=intent.intent_id,
            opportunity_id=intent.opportunity_id,
            venue=intent.venue,
            side=intent.side,
            status="rejected",
            filled_base=0,
            quote_amount=0,
            fee_quote=0,
            reason=reason,
            ts_event_ns=intent.ts_event_ns,
            ts_recv_ns=intent.ts_recv_ns,
            ts_fill_ns=fill_ns,
        ), intent)  # fmt: skip


def _beyond_limit(intent: OrderIntent, gross: int) -> str:
    """Why a whole-size amount breaks the intent's limit ("" when it does not)."""
    if intent.side == "buy" and gross > intent.limit_quote:
        return f"price moved: cost {gross} > limit {intent.limit_quote}"
    if intent.side == "sell" and gross < intent.limit_quote:
        return f"price moved: proceeds {gross} < limit {intent.limit_quote}"
    return ""


def units_at_limit(
    view: VenueView, intent: OrderIntent, base_decimals: int, quote_decimals: int
) -> int | None:
    """Base units a book or ladder holds at prices no worse than the intent's limit price.

    The limit price is `limit_quote / size_base` (quote base units per base unit); a level
    counts when its own price is within it, as a venue's matching engine walks an IOC limit
    order. Quantities are floored to base units (CEX) or whole lots (CLOB) as the pricing walk
    does. None for a CLMM pool: a swap is all or nothing against `other_amount_threshold`.
    """
    buy = intent.side == "buy"
    size, limit = intent.size_base, intent.limit_quote
    if isinstance(view, CexBookView):
        levels = view.asks if buy else view.bids
        return depth_at_limit(levels, intent.side, limit, size, base_decimals, quote_decimals)
    if isinstance(view, ClobView):
        # one lot at price_ticks is price_ticks * num / den quote units for base_units_per_lot
        rhs = limit * view.quote_units_per_tick_lot_den * view.base_units_per_lot
        mul = view.quote_units_per_tick_lot_num * size
        lots = 0
        for price_ticks, size_lots in view.asks if buy else view.bids:
            lhs = price_ticks * mul
            if (lhs > rhs) if buy else (lhs < rhs):
                break
            lots += size_lots
        return lots * view.base_units_per_lot
    return None
