"""Risk from fills: what really filled, not what the guard meant to trade (issues 12 and 13).

The risk guard (operators/risk.py) sits upstream of execution and books exposure from its own
intents; a Bytewax graph has no cycles, so it never sees a fill. `FillRisk` lives where the
fills are (the paper step in paper/replay, the live execution step live) and is fed there:

    on_intent(intent)            every leg intent the step will send (predicted price, pair)
    on_report(report) -> kills   every execution report of those legs, hedges and unwinds
    refuses(intent) -> reason    asked before a new opportunity starts its legs
    on_kill(...) / on_arm(...)   an outside kill (`solarb kill`) and the explicit re-arm

It follows, on integers only:
- exposure per (venue, asset) from fills: base units of the pair's base asset, quote units of
  the currency the venue's market is quoted in (its own amounts), signed (bought positive);
- open orders: intents sent and not yet final;
- realised PnL of the UTC day (event time) in micro-USD: an opportunity's cash (its legs, hedge
  and unwind, fees taken out, each fill valued in the pair's quote at its own ratio:
  operators/fx.py) is realised when its base is flat again, converted at the pair's [fx] rate
  (`RiskParams.quote_usd_micro`); a loss beyond `max_daily_loss_usd_micro` kills;
- DEX failures: `rejected` reports of DEX legs (a transaction that failed, e.g. its
  `other_amount_threshold` breached); `max_dex_failures` within `dex_failure_window_ns` kills;
- slippage per venue: each leg fill's realised price against the intent's predicted price
  (ppb, positive = worse), a rolling window of the last `slippage_window` fills; once a venue has
  `slippage_min_fills`, a p95 (nearest rank) above `max_slippage_p95_ppb` kills.

A kill is a `KillRecord` (the journal's `kills` table, `scope` = the pair) and holds until
`on_arm`: nothing re-arms by itself. While killed, `refuses` names the kill for every new
opportunity; the host hedges or unwinds what is open (`LegMachine.on_kill`). Plain data:
the object pickles (Bytewax recovery), so a restart keeps the kill.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from operators.events import ExecutionReport, OrderIntent
from operators.fx import cash_pair, stamp, to_pair_quote
from operators.risk import KillRecord

DAY_NS = 86_400_000_000_000
PPB = 1_000_000_000
FINAL = frozenset({"filled", "rejected", "cancelled"})
FILL_CAUSES = ("daily_loss", "slippage", "dex_failures")
"""`KillRecord.cause` of the kills FillRisk trips itself."""


@dataclass(frozen=True, slots=True)
class FillRiskParams:
    """Thresholds (config `[risk]`, docs/config.md). Money in micro-USD, slippage in ppb."""

    max_daily_loss_usd_micro: int
    max_slippage_p95_ppb: int
    slippage_window: int = 200
    slippage_min_fills: int = 20
    max_dex_failures: int = 3
    dex_failure_window_ns: int = 60_000_000_000
    max_exposure_usd_micro: int = 10_000_000_000
    """Net base left open across venues (unhedged residue, at the intent's price) above this
    refuses new opportunities of the asset until it is flat again."""
    quote_usd_micro: Mapping[str, tuple[int, int]] = field(default_factory=dict)


def slippage_ppb(intent: OrderIntent, filled_base: int, quote_amount: int) -> int:
    """Realised vs predicted price of a fill, ppb of the predicted, positive = worse (floored).

    `quote_amount` is the venue's (the intent's market currency): it is valued in the pair's
    quote at the intent's ratio, rounded as the decision rounded it (operators/fx.py), before
    it meets the prediction (pair quote). 0 when the intent carries no prediction (hedges,
    unwinds) or nothing filled.
    """
    p, size = intent.predicted_quote, intent.size_base
    quote_amount = to_pair_quote(quote_amount, intent.fx, round_up=intent.side == "buy")
    if p <= 0 or filled_base <= 0 or size <= 0:
        return 0
    # realised / filled vs p / size, exact: (q * size - p * filled) / (p * filled)
    diff = quote_amount * size - p * filled_base
    if intent.side == "sell":
        diff = -diff
    return diff * PPB // (p * filled_base)


def with_prediction(report: ExecutionReport, intent: OrderIntent) -> ExecutionReport:
    """`report` carrying its intent's market currency and ratio (`fx.stamp`), decision-time
    price for what filled and the slippage."""
    report = stamp(report, intent)
    if intent.predicted_quote <= 0 or report.filled_base <= 0:
        return report
    pred = intent.predicted_quote * report.filled_base // intent.size_base
    slip = slippage_ppb(intent, report.filled_base, report.quote_amount)
    return replace(report, predicted_quote=pred, slippage_ppb=slip, slippage_bps=slip / 1e5)


def p95(values: list[int]) -> int:
    """The 95th percentile by nearest rank (an element of `values`, which must not be empty)."""
    ordered = sorted(values)
    return ordered[-(-95 * len(ordered) // 100) - 1]


@dataclass(slots=True)
class _OppCash:
    pair: str
    net_base: int = 0
    cash_quote: int = 0
    filled: bool = False
    open_orders: int = 0


def _assets(pair: str) -> tuple[str, str]:
    base, _, quote = pair.partition("/")
    return base, quote


class FillRisk:
    """Exposure, open orders, daily PnL, DEX failures and slippage from execution reports."""

    def __init__(self, params: FillRiskParams, dex_venues: frozenset[str], scope: str = "") -> None:
        self.p = params
        self.dex_venues = dex_venues
        """Venue / market ids whose rejected reports count as DEX failures."""
        self.scope = scope
        self.killed = False
        self.kill_cause = ""
        self.kill_reason = ""
        self.intents: dict[str, OrderIntent] = {}
        self.open_orders: set[str] = set()
        self.opps: dict[str, _OppCash] = {}
        self.day = -1
        self.daily_pnl_usd_micro = 0
        self.dex_failures: deque[int] = deque()
        self.slippage: dict[str, deque[int]] = {}
        self.exposure_base: dict[tuple[str, str], int] = {}
        self.exposure_quote: dict[tuple[str, str], int] = {}
        self.rearms = 0

    # -- inputs -------------------------------------------------------------------------------

    def on_intent(self, intent: OrderIntent) -> None:
        """An order the host will send (a leg, a resized twin, a hedge or an unwind)."""
        if intent.intent_id not in self.open_orders:
            self.open_orders.add(intent.intent_id)
            if intent.pair:
                opp = self.opps.setdefault(intent.opportunity_id, _OppCash(intent.pair))
                opp.open_orders += 1
        self.intents[intent.intent_id] = intent

    def on_report(self, r: ExecutionReport) -> list[KillRecord]:
        """Book one execution report; returns the kills it trips (at most one)."""
        now = r.ts_recv_ns
        intent = self.intents.get(r.intent_id)
        kills: list[KillRecord] = []
        if r.status == "rejected" and r.venue in self.dex_venues:
            kills += self._on_dex_failure(r, now)
        if r.filled_base > 0:
            kills += self._on_fill(r, intent, now)
        if r.status in FINAL and r.intent_id in self.open_orders:
            # the order is done: forget it, and an opportunity nothing of which ever filled
            self.open_orders.discard(r.intent_id)
            self.intents.pop(r.intent_id, None)
            opp = self.opps.get(r.opportunity_id)
            if opp is not None:
                opp.open_orders -= 1
                if opp.open_orders <= 0 and not opp.filled:
                    del self.opps[r.opportunity_id]
        return kills[:1]

    def refuses(self, intent: OrderIntent) -> str | None:
        """Why a new opportunity's leg must not start, or None."""
        if self.killed:
            return f"fill risk kill ({self.kill_cause}): {self.kill_reason}"
        base, _ = _assets(intent.pair)
        held = sum(b for (_, asset), b in self.exposure_base.items() if asset == base)
        if held and intent.size_base > 0 and intent.predicted_quote > 0:
            value = abs(held) * intent.predicted_quote // intent.size_base
            ratio = self.p.quote_usd_micro.get(intent.pair)
            usd = value * ratio[0] // ratio[1] if ratio else 0
            if usd > self.p.max_exposure_usd_micro:
                return (
                    f"fill exposure: {held} base units of {base} open "
                    f"({usd} > {self.p.max_exposure_usd_micro} micro-USD)"
                )
        return None

    def on_kill(self, cause: str, reason: str, now_ns: int, detected_ns: int) -> list[KillRecord]:
        """Hold a kill (FillRisk's own or from outside); a kill already held is kept."""
        if self.killed:
            return []
        self.killed, self.kill_cause, self.kill_reason = True, cause, reason
        return [KillRecord(cause, reason, detected_ns, now_ns, scope=self.scope)]

    def on_arm(self, now_ns: int) -> bool:
        """The explicit re-arm (`solarb arm`): clear the kill. Returns whether one was held."""
        if not self.killed:
            return False
        self.killed, self.kill_cause, self.kill_reason = False, "", ""
        self.rearms += 1
        # the failures and slippage that tripped the kill must not trip it again at once
        self.dex_failures.clear()
        self.slippage.clear()
        return True

    # -- rails --------------------------------------------------------------------------------

    def _on_dex_failure(self, r: ExecutionReport, now: int) -> list[KillRecord]:
        w = self.dex_failures
        w.append(now)
        while w and now - w[0] > self.p.dex_failure_window_ns:
            w.popleft()
        if len(w) < self.p.max_dex_failures:
            return []
        secs = self.p.dex_failure_window_ns / 1e9
        why = f"{len(w)} DEX failures within {secs:g} s (last {r.venue}: {r.reason})"
        return self.on_kill("dex_failures", why, now, w[0])

    def _on_fill(
        self, r: ExecutionReport, intent: OrderIntent | None, now: int
    ) -> list[KillRecord]:
        sign = 1 if r.side == "buy" else -1
        pair = intent.pair if intent is not None else ""
        opp = self.opps.get(r.opportunity_id)
        if opp is None and pair:
            opp = self.opps[r.opportunity_id] = _OppCash(pair)
        pair = pair or (opp.pair if opp is not None else "")
        base, quote = _assets(pair)
        eb, eq = self.exposure_base, self.exposure_quote
        eb[(r.venue, base)] = eb.get((r.venue, base), 0) + sign * r.filled_base
        # the venue holds its own currency; the opportunity's cash counts in the pair's quote
        held = r.quote_currency or quote
        eq[(r.venue, held)] = eq.get((r.venue, held), 0) - sign * r.quote_amount - r.fee_quote
        cash = cash_pair(r)
        kills: list[KillRecord] = []
        if intent is not None and intent.predicted_quote > 0:
            kills += self._on_slippage(r, intent, now)
        if opp is not None:
            opp.net_base += sign * r.filled_base
            opp.cash_quote += cash
            opp.filled = True
            if opp.net_base == 0:
                kills += self._realise(r.opportunity_id, opp, now)
        return kills

    def _realise(self, oid: str, opp: _OppCash, now: int) -> list[KillRecord]:
        del self.opps[oid]
        ratio = self.p.quote_usd_micro.get(opp.pair)
        if ratio is None:
            return []
        day = now // DAY_NS
        if day != self.day:
            self.day, self.daily_pnl_usd_micro = day, 0
        # floor division rounds a loss further down: the rail never flatters the day
        self.daily_pnl_usd_micro += opp.cash_quote * ratio[0] // ratio[1]
        if -self.daily_pnl_usd_micro <= self.p.max_daily_loss_usd_micro:
            return []
        why = (
            f"realised loss today {-self.daily_pnl_usd_micro} micro-USD > "
            f"{self.p.max_daily_loss_usd_micro} (last {oid})"
        )
        return self.on_kill("daily_loss", why, now, now)

    def _on_slippage(self, r: ExecutionReport, intent: OrderIntent, now: int) -> list[KillRecord]:
        venue = r.venue.split(":", 1)[0]
        w = self.slippage.setdefault(venue, deque(maxlen=self.p.slippage_window))
        w.append(slippage_ppb(intent, r.filled_base, r.quote_amount))
        if len(w) < self.p.slippage_min_fills:
            return []
        worst = p95(list(w))
        if worst <= self.p.max_slippage_p95_ppb:
            return []
        why = (
            f"p95 slippage on {venue} {worst / 1e5:.2f} bps over {len(w)} fills > "
            f"{self.p.max_slippage_p95_ppb / 1e5:.2f} bps"
        )
        return self.on_kill("slippage", why, now, now)
