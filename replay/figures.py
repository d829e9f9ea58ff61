"""Per-arb outcomes and the mission's go/no-go figures, computed from a run's journal.

Money stays in integer quote base units here; bps and rates are floats (for reading only). A
figure the journal cannot support yet is a `Criterion` with `value=None` and the reason, never
a guess:

- hit rate = arbs completed with a positive net (both legs filled, after fees and gas) over the
  signals the risk guard accepted (each accepted signal sent two legs);
- p95 slippage is *realised* slippage, which needs live fills: in a live run's journal it is the
  p95 of the fills' own `slippage_bps` (fill vs the decision-time price of the arb's legs,
  `realised_slippages`); a paper or replay journal's fills are simulated, so there the
  criterion is n/a and the paper figure (fill vs detected price, per leg) is shown beside it;
- net PnL per day is computed per UTC day of market time over that day's traded notional, and
  only for days the session covers entirely (a 3-minute replay is never extrapolated to a day);
- a storm is more than 50 signals (first appearances, not debounced updates) in any 60 s window
  of market time;
- a critical incident is a kill-switch trip (`health` rows of `risk:kill_switch`, status `kill`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from replay.money import fee_value, fill_cash, gas_quote, is_flattening, moved, quote_value

DAY_NS = 86_400_000_000_000
MINUTE_NS = 60_000_000_000
KILL_SOURCE = "risk:kill_switch"
HIT_RATE_MIN = 0.35
SLIPPAGE_P95_MAX_BPS = 6.0
PNL_PER_DAY_MIN_BPS = 10.0
STORM_MAX_PER_MIN = 50


@dataclass(frozen=True, slots=True)
class Leg:
    """One filled or refused leg: venue, side, status, base and quote amounts, fee (base units;
    quote amounts in the pair's quote, valued at each fill's ratio: replay/money.py)."""

    venue: str
    side: str
    status: str
    filled_base: int
    quote_amount: int
    fee_quote: int
    detected_quote: int
    """The quote amount the opportunity priced this leg at (at its full size)."""
    size_base: int
    reason: str

    @property
    def filled(self) -> bool:
        """True when the leg filled (in full, or an IOC's part: `size_base` says which)."""
        return self.filled_base > 0

    @property
    def slippage_bps(self) -> float | None:
        """Fill vs detected price, bps, positive = worse for us; None unless filled in full."""
        if not self.filled or self.filled_base != self.size_base or not self.detected_quote:
            return None
        diff = self.quote_amount - self.detected_quote
        if self.side == "sell":
            diff = -diff
        return diff / self.detected_quote * 1e4


@dataclass(frozen=True, slots=True)
class Arb:
    """One accepted signal and what became of its legs."""

    opportunity_id: str
    pair: str
    direction: str
    size_base: int
    ts_ns: int
    """Market time of the last fill (or of the detection when no leg filled)."""
    buy: Leg | None
    sell: Leg | None
    gas_quote: int
    """Gas as the journal has it: the opportunity's gas cost (bps) on its buy notional."""
    predicted_net_bps: float
    unwind_cash_quote: int | None = None
    """A one-legged arb the paper venue unwound (operators/legs.py): the unwind's own cash
    (sells positive, fees out), so its round trip has a net; None when nothing flattened it."""

    @property
    def outcome(self) -> str:
        """`completed`, `one-legged (buy filled)`, `one-legged (sell filled)` or `no fill`."""
        b = self.buy is not None and self.buy.filled
        s = self.sell is not None and self.sell.filled
        if b and s:
            return "completed"
        if b or s:
            return f"one-legged ({'buy' if b else 'sell'} filled)"
        return "no fill"

    @property
    def net_quote(self) -> int | None:
        """Net PnL (quote base units, after fees and gas) of a completed arb, or of a one-legged
        one that was unwound (its filled leg and the unwind); else None.

        A one-legged outcome still open is a position, not a PnL: the journal has no mark for it.
        """
        if self.outcome.startswith("one-legged") and self.unwind_cash_quote is not None:
            leg = self.buy if self.buy is not None and self.buy.filled else self.sell
            if leg is None:
                return None
            cash = leg.quote_amount if leg.side == "sell" else -leg.quote_amount
            return cash - leg.fee_quote + self.unwind_cash_quote - self.gas_quote
        if self.outcome != "completed" or self.buy is None or self.sell is None:
            return None
        return (
            self.sell.quote_amount
            - self.sell.fee_quote
            - self.buy.quote_amount
            - self.buy.fee_quote
            - self.gas_quote
            + (self.unwind_cash_quote or 0)  # what an IOC's partial left, flattened
        )

    @property
    def net_bps(self) -> float | None:
        """Net PnL over the buy leg's notional, bps; None unless completed."""
        net = self.net_quote
        if net is None or self.buy is None or not self.buy.quote_amount:
            return None
        return net / self.buy.quote_amount * 1e4


def arbs_of(
    opportunities: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    fills: list[dict[str, Any]],
) -> list[Arb]:
    """Every accepted signal with its legs, in detection order (rows as journal dicts)."""
    opp = {o["opportunity_id"]: o for o in opportunities if o["update_seq"] == 0}
    accepted = [d["opportunity_id"] for d in decisions if d["accepted"]]
    legs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in fills:
        legs[f["opportunity_id"]].append(f)
    out: list[Arb] = []
    for oid in dict.fromkeys(accepted + list(legs)):
        o = opp.get(oid)
        if o is None:
            continue
        by_side: dict[str, Leg] = {}
        unwind: int | None = None
        for f in legs.get(oid, []):
            if is_flattening(f):
                # a hedge / unwind closes a one-legged arb: its cash, never one of the legs
                if moved(f):
                    unwind = (unwind or 0) + fill_cash(f)
                continue
            detected = o["buy_quote"] if f["side"] == "buy" else o["sell_quote"]
            leg = Leg(
                f["venue"],
                f["side"],
                f["status"],
                f["filled_base"],
                quote_value(f),  # the pair's quote, at the fill's own ratio
                fee_value(f),
                detected,
                o["size_base"],
                f["reason"] or "",
            )
            # a leg reported twice (an IOC's partial, then its expired remainder) is one leg:
            # its fills add up, its last status and reason stand
            prev = by_side.get(f["side"])
            if prev is not None:
                leg = replace(
                    leg,
                    filled_base=prev.filled_base + leg.filled_base,
                    quote_amount=prev.quote_amount + leg.quote_amount,
                    fee_quote=prev.fee_quote + leg.fee_quote,
                    status=leg.status if leg.filled_base or not prev.filled_base else "partial",
                )
            by_side[f["side"]] = leg
        ts = max((f["ts_fill_ns"] for f in legs.get(oid, [])), default=o["ts_detect_ns"])
        out.append(
            Arb(
                oid,
                o["pair"],
                o["direction"],
                o["size_base"],
                ts,
                by_side.get("buy"),
                by_side.get("sell"),
                gas_quote(o),
                o["net_bps"],
                unwind,
            )
        )
    return sorted(out, key=lambda a: (opp[a.opportunity_id]["ts_detect_ns"], a.opportunity_id))


@dataclass(frozen=True, slots=True)
class Criterion:
    """One go/no-go line: the figure (None when it cannot be computed) and whether it passes."""

    name: str
    target: str
    value: float | None
    text: str
    """The figure as shown, or `n/a (why)`."""
    passed: bool | None


def max_signals_per_minute(signal_ts_ns: list[int]) -> int:
    """Most signals in any 60 s window of market time (inclusive start, exclusive end)."""
    ts = sorted(signal_ts_ns)
    best = lo = 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= MINUTE_NS:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _full_days(first_ns: int, last_ns: int) -> list[int]:
    # UTC days [d, d + 1) that lie entirely inside the session's market time
    start = -(-first_ns // DAY_NS)
    return list(range(start, last_ns // DAY_NS))


def realised_slippages(fills: list[dict[str, Any]]) -> list[float]:
    """Each live fill's realised slippage, bps (its journal `slippage_bps`): rows that filled
    something of an arb's own leg (a decision-time price to compare with; hedges and unwinds
    have none)."""
    return [
        float(f["slippage_bps"])
        for f in fills
        if f.get("status") in ("filled", "partial")
        and (f.get("predicted_quote") or 0) > 0
        and f.get("slippage_bps") is not None
    ]


def go_no_go(
    arbs: list[Arb],
    signal_ts_ns: list[int],
    session_ns: tuple[int, int] | None,
    kills: int,
    realised_slippage_bps: list[float] | None = None,
) -> list[Criterion]:
    """The mission's go/no-go table from a run's arbs, signal times and kill count.

    `realised_slippage_bps` (a live run's fills, `realised_slippages`) judges the p95 slippage;
    without it (paper, replay) that criterion is n/a."""
    rows: list[Criterion] = []
    accepted = len(arbs)
    wins = sum(1 for a in arbs if a.outcome == "completed" and (a.net_quote or 0) > 0)
    if accepted:
        rate = wins / accepted
        rows.append(
            Criterion(
                "hit rate",
                f">= {HIT_RATE_MIN:.0%}",
                rate,
                f"{rate:.1%} ({wins} profitable completed / {accepted} accepted signals)",
                rate >= HIT_RATE_MIN,
            )
        )
    else:
        rows.append(
            Criterion("hit rate", f">= {HIT_RATE_MIN:.0%}", None, "n/a (no accepted signal)", None)
        )
    slips = [
        s
        for a in arbs
        for leg in (a.buy, a.sell)
        if leg is not None
        for s in (leg.slippage_bps,)
        if s is not None
    ]
    paper = (
        f"; paper fills vs detected price: p95 {float(np.percentile(slips, 95)):.2f} bps over "
        f"{len(slips)} legs"
        if slips
        else ""
    )
    if realised_slippage_bps:
        p95 = float(np.percentile(realised_slippage_bps, 95))
        rows.append(
            Criterion(
                "p95 slippage",
                f"<= {SLIPPAGE_P95_MAX_BPS:g} bps",
                p95,
                f"{p95:.2f} bps over {len(realised_slippage_bps)} live fills "
                "(fill vs decision-time price)",
                p95 <= SLIPPAGE_P95_MAX_BPS,
            )
        )
    else:
        live = " (a live run without fills)" if realised_slippage_bps is not None else ""
        rows.append(
            Criterion(
                "p95 slippage",
                f"<= {SLIPPAGE_P95_MAX_BPS:g} bps",
                None,
                f"n/a (realised slippage needs live fills{paper}){live}",
                None,
            )
        )
    rows.append(_pnl_per_day(arbs, session_ns))
    storm = max_signals_per_minute(signal_ts_ns)
    rows.append(
        Criterion(
            "signal storm",
            f"<= {STORM_MAX_PER_MIN} signals/min",
            float(storm),
            f"max {storm} signals in a 60 s window",
            storm <= STORM_MAX_PER_MIN,
        )
    )
    rows.append(
        Criterion("critical incidents", "0", float(kills), f"{kills} kill-switch trips", kills == 0)
    )
    return rows


def _pnl_per_day(arbs: list[Arb], session_ns: tuple[int, int] | None) -> Criterion:
    name, target = "net PnL per day", f">= {PNL_PER_DAY_MIN_BPS:g} bps/day"
    done = [a for a in arbs if a.net_quote is not None and a.buy is not None]
    notional = sum(a.buy.quote_amount for a in done if a.buy is not None)
    net = sum(a.net_quote or 0 for a in done)
    session_bps = f"{net / notional * 1e4:.2f} bps" if notional else "no completed arb"
    days = _full_days(*session_ns) if session_ns else []
    if not days:
        span = (session_ns[1] - session_ns[0]) / MINUTE_NS if session_ns else 0.0
        return Criterion(
            name,
            target,
            None,
            f"n/a (the session covers {span:.1f} min of market time, no whole UTC day; "
            f"session net: {session_bps})",
            None,
        )
    per_day: list[float] = []
    for d in days:
        in_day = [a for a in done if d * DAY_NS <= a.ts_ns < (d + 1) * DAY_NS]
        n = sum(a.buy.quote_amount for a in in_day if a.buy is not None)
        per_day.append(sum(a.net_quote or 0 for a in in_day) / n * 1e4 if n else 0.0)
    worst = min(per_day)
    return Criterion(
        name,
        target,
        worst,
        f"worst whole day {worst:.2f} bps ({len(days)} days)",
        worst >= PNL_PER_DAY_MIN_BPS,
    )
