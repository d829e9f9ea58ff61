"""Paper venue: fills order intents at the real depth of the venue views, after a latency.

Keyed per pair. It keeps a short history of every market's views and fills an intent against
the view that was current `latency_ns` after the intent (CEX and DEX have their own latency; a
DEX leg lands a slot or so later). An intent waits until a view newer than its fill time has
arrived (or the run ends), so the fill never depends on how frames were batched: a replay gives
the same fills at any batch size. The fill walks that view at the intent's size with the same
executable-price code the spread engine uses (book walk, ladder walk, exact CLMM swap). A missing,
out-of-sync or too-thin view rejects the leg, and so does a price worse than the intent's limit
(IOC semantics).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from operators.errors import QuoteError
from operators.events import ExecutionReport, OrderIntent
from operators.latency import LatencyModel
from operators.pricing import buy_base, sell_base
from operators.views import CexBookView, VenueView

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
        hist = self.views.setdefault(view.market_id, deque(maxlen=HISTORY))
        hist.append(view)
        ready = [
            i
            for i in self.pending
            if i.market_id == view.market_id
            and view.ts_recv_ns > i.ts_intent_ns + self._latency(i, view)
        ]
        if not ready:
            return []
        self.pending = [i for i in self.pending if i not in ready]
        return [self._fill(i) for i in ready]

    def on_intent(self, intent: OrderIntent) -> list[ExecutionReport]:
        """Queue an intent; fill at once if a view past its fill time is already held."""
        hist = self.views.get(intent.market_id)
        last = hist[-1] if hist else None
        if last is not None and last.ts_recv_ns > intent.ts_intent_ns + self._latency(intent, last):
            return [self._fill(intent)]
        self.pending.append(intent)
        return []

    def on_end(self) -> list[ExecutionReport]:
        """End of input: fill what is pending against the latest views."""
        out = [self._fill(i) for i in self.pending]
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

    def _fill(self, intent: OrderIntent) -> ExecutionReport:
        view = self._view_at(intent)
        execute_ns, confirm_ns = self._delays(intent, view)
        # the price is the one at execution; we learn of it `confirm_ns` later
        fill_ns = intent.ts_intent_ns + execute_ns + confirm_ns
        if view is None or not view.in_sync:
            why = "no view" if view is None else "view out of sync"
            return self._reject(intent, fill_ns, why)
        price = buy_base if intent.side == "buy" else sell_base
        # Earlier paper fills on this very view and side have used up its best levels: this
        # leg gets the marginal price of walking on from there (total minus what was taken).
        key = (intent.market_id, intent.side)
        taken_view_ns, taken_base = self.taken.get(key, (-1, 0))
        if taken_view_ns != view.ts_recv_ns:
            taken_base = 0
        try:
            bd, qd = self.base_decimals, self.quote_decimals
            leg = price(view, taken_base + intent.size_base, bd, qd)
            if taken_base:
                before = price(view, taken_base, bd, qd)
                leg = leg._replace(
                    size_base=leg.size_base - before.size_base,
                    quote_amount=leg.quote_amount - before.quote_amount,
                    fee_quote=leg.fee_quote - before.fee_quote,
                )
        except QuoteError as exc:
            return self._reject(intent, fill_ns, f"cannot fill at size: {exc}")
        gross = leg.quote_amount
        if intent.side == "buy" and gross > intent.limit_quote:
            return self._reject(
                intent, fill_ns, f"price moved: cost {gross} > limit {intent.limit_quote}"
            )
        if intent.side == "sell" and gross < intent.limit_quote:
            return self._reject(
                intent, fill_ns, f"price moved: proceeds {gross} < limit {intent.limit_quote}"
            )
        self.filled += 1
        self.taken[key] = (view.ts_recv_ns, taken_base + leg.size_base)
        # A CLMM swap's pool fee is inside its amounts already; CEX/CLOB fees come on top.
        in_price = leg.fee_in_amount
        return ExecutionReport(
            intent_id=intent.intent_id,
            opportunity_id=intent.opportunity_id,
            venue=intent.venue,
            side=intent.side,
            status="filled",
            filled_base=leg.size_base,
            quote_amount=gross,
            fee_quote=0 if in_price else leg.fee_quote,
            reason="",
            ts_event_ns=view.ts_event_ns,
            ts_recv_ns=intent.ts_recv_ns,
            ts_fill_ns=fill_ns,
            extra=self._extra(leg.fee_quote if in_price else None, taken_base),
        )

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
        return ExecutionReport(
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
        )
