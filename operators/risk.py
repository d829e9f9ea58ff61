"""The risk guard: the only door to the sinks.

It merges opportunities and health events, owns caps / exposure / kill-switch state, and turns an
opportunity into two order intents only when every rail is green. Time is the events' own
(`ts_recv_ns` of health, `ts_detect_ns` of opportunities), never a wall clock, so a replay
takes the same decisions as the live run did.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from math import gcd

from operators.events import HealthEvent, Opportunity, OrderIntent

MINUTE_NS = 60_000_000_000


@dataclass(frozen=True, slots=True)
class RiskParams:
    """Hard rails. Caps are in micro-USD, so pairs quoted in different currencies share them.

    `quote_usd_micro[pair] = (num, den)` converts that pair's quote base units to micro-USD
    (`units * num // den`): one micro-USDC is one micro-USD at the [fx] rate of 1.
    """

    max_notional_usd_micro: int
    max_notional_per_minute_usd_micro: int
    max_exposure_usd_micro: int
    max_open_orders: int
    kill_switch: bool
    feed_down_kill_ns: int
    max_slot_lag: int
    quote_usd_micro: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    open_order_ttl_ns: int = 1_000_000_000
    limit_slippage_bps: int = 10
    """How far a leg's fill may be worse than the opportunity's quote before the IOC rejects."""


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """What the guard did with one opportunity: accepted, or rejected by `rail`."""

    opportunity_id: str
    pair: str
    accepted: bool
    rail: str
    reason: str
    ts_recv_ns: int


@dataclass(slots=True)
class RiskState:
    """Plain, snapshot-able state of the guard."""

    killed: bool = False
    kill_reason: str = ""
    window: deque[tuple[int, int]] = field(default_factory=deque)
    """(ts_ns, notional micro-USD) of the trades accepted in the last minute."""
    exposure_usd_micro: dict[str, int] = field(default_factory=dict)
    """Signed exposure per venue in micro-USD (bought positive)."""
    open_orders: deque[int] = field(default_factory=deque)
    feeds_down_since: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0


def usd_to_quote_units(usd: Decimal, quote_decimals: int, usd_per_quote: Decimal) -> int:
    """Convert a USD cap into quote-token base units (rounded down: caps never grow)."""
    return int((usd / usd_per_quote) * (Decimal(10) ** quote_decimals))


def usd_micro(usd: Decimal) -> int:
    """A USD amount in micro-USD (rounded down: caps never grow)."""
    return int(usd * 1_000_000)


def quote_to_usd_micro_ratio(quote_decimals: int, usd_per_quote: Decimal) -> tuple[int, int]:
    """(num, den) with `quote base units * num // den` = micro-USD, exact."""
    num, den = usd_per_quote.as_integer_ratio()
    num *= 1_000_000
    den *= 10**quote_decimals
    g = gcd(num, den)
    return num // g, den // g


class RiskGuard:
    """Evaluate rails for opportunities; trip the kill switch on unhealthy feeds."""

    def __init__(self, params: RiskParams, state: RiskState | None = None) -> None:
        self.p = params
        self.s = state or RiskState(killed=params.kill_switch, kill_reason="config kill_switch")

    def on_health(self, ev: HealthEvent) -> list[RiskDecision]:
        """Track feed health; a feed down longer than the limit, or slot lag, kills trading."""
        s = self.s
        if ev.status == "down":
            s.feeds_down_since.setdefault(ev.source, ev.ts_recv_ns)
        elif ev.status == "up":
            s.feeds_down_since.pop(ev.source, None)
        elif ev.status == "lag" and ev.value > self.p.max_slot_lag:
            self._kill(f"slot lag {ev.value:.0f} > {self.p.max_slot_lag} on {ev.source}")
        elif ev.status == "kill":
            self._kill(f"kill requested by {ev.source}: {ev.detail}")
        self._check_feeds(ev.ts_recv_ns)
        return []

    def _kill(self, reason: str) -> None:
        if not self.s.killed:
            self.s.killed = True
            self.s.kill_reason = reason

    def _check_feeds(self, now_ns: int) -> None:
        for src, since in self.s.feeds_down_since.items():
            if now_ns - since > self.p.feed_down_kill_ns:
                self._kill(f"feed {src} down for {(now_ns - since) / 1e6:.0f} ms")
                return

    def on_opportunity(self, opp: Opportunity) -> tuple[RiskDecision, list[OrderIntent]]:
        """Accept (two intents: buy leg and sell leg) or reject with the rail that said no."""
        s, p = self.s, self.p
        now = opp.ts_detect_ns
        self._check_feeds(now)
        while s.window and now - s.window[0][0] > MINUTE_NS:
            s.window.popleft()
        while s.open_orders and now - s.open_orders[0] > p.open_order_ttl_ns:
            s.open_orders.popleft()
        ratio = p.quote_usd_micro.get(opp.pair)
        num, den = ratio if ratio is not None else (0, 1)
        notional = max(opp.buy_quote, opp.sell_quote) * num // den
        rail, reason = "", ""
        if ratio is None:
            rail, reason = "unpriced_pair", f"no micro-USD rate for pair {opp.pair}"
        elif s.killed:
            rail, reason = "kill_switch", s.kill_reason
        elif opp.update_seq != 0:
            rail, reason = (
                "signal_update",
                "updates of a signal already acted on are journaled only",
            )
        elif opp.stale_venues:
            rail, reason = "stale_view", f"stale: {', '.join(opp.stale_venues)}"
        elif opp.net_bps < 0 or opp.expected_pnl_quote <= 0:
            rail, reason = "spread_under_threshold", f"net {opp.net_bps:.2f} bps"
        elif notional > p.max_notional_usd_micro:
            rail, reason = "max_notional", f"{notional} > {p.max_notional_usd_micro}"
        elif sum(n for _, n in s.window) + notional > p.max_notional_per_minute_usd_micro:
            rail, reason = "max_notional_per_minute", "minute budget exhausted"
        elif len(s.open_orders) + 2 > p.max_open_orders:
            rail, reason = "max_open_orders", f"{len(s.open_orders)} open"
        else:
            for venue, signed in (
                (opp.buy_venue, opp.buy_quote * num // den),
                (opp.sell_venue, -(opp.sell_quote * num // den)),
            ):
                if abs(s.exposure_usd_micro.get(venue, 0) + signed) > p.max_exposure_usd_micro:
                    rail, reason = "max_exposure", f"{venue} exposure cap"
                    break
        decision = RiskDecision(opp.opportunity_id, opp.pair, not rail, rail or "ok", reason, now)
        tol = p.limit_slippage_bps
        if rail:
            s.rejected += 1
            return decision, []
        s.accepted += 1
        s.window.append((now, notional))
        s.open_orders.extend((now, now))
        exp = s.exposure_usd_micro
        exp[opp.buy_venue] = exp.get(opp.buy_venue, 0) + opp.buy_quote * num // den
        exp[opp.sell_venue] = exp.get(opp.sell_venue, 0) - opp.sell_quote * num // den
        intents = [
            OrderIntent(
                intent_id=f"{opp.opportunity_id}/buy",
                opportunity_id=opp.opportunity_id,
                venue=opp.buy_venue,
                market_id=opp.buy_venue,
                side="buy",
                size_base=opp.size_base,
                limit_quote=opp.buy_quote * (10_000 + tol) // 10_000,
                ts_event_ns=opp.ts_event_ns,
                ts_recv_ns=opp.ts_recv_ns,
                ts_intent_ns=now,
                pair=opp.pair,
            ),
            OrderIntent(
                intent_id=f"{opp.opportunity_id}/sell",
                opportunity_id=opp.opportunity_id,
                venue=opp.sell_venue,
                market_id=opp.sell_venue,
                side="sell",
                size_base=opp.size_base,
                limit_quote=-(-opp.sell_quote * (10_000 - tol) // 10_000),
                ts_event_ns=opp.ts_event_ns,
                ts_recv_ns=opp.ts_recv_ns,
                ts_intent_ns=now,
                pair=opp.pair,
            ),
        ]
        return decision, intents
