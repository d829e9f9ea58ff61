"""Per-window figures of a calibration replay (replay/calibrate.py): a journal's signals, arbs,
PnL and slippage, split by market time into the walk-forward windows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from connectors.journal import read_table
from operators.errors import ConfigError
from replay.figures import (
    HIT_RATE_MIN,
    PNL_PER_DAY_MIN_BPS,
    SLIPPAGE_P95_MAX_BPS,
    STORM_MAX_PER_MIN,
    arbs_of,
    max_signals_per_minute,
)
from replay.money import fill_cash, gas_quote, net_base, open_mark


@dataclass
class WindowStats:
    """What one setting did in one window (of one or several captures); sums add up."""

    minutes: float = 0.0
    signals: int = 0
    accepted: int = 0
    completed: int = 0
    one_legged: int = 0
    wins: int = 0
    pnl_quote: int = 0
    notional_quote: int = 0
    max_signals_per_min: int = 0
    slippage_bps: list[float] = field(default_factory=list)
    predicted_by_venue: dict[str, list[float]] = field(default_factory=dict)
    """Per venue: the cost model's slippage (bps, both legs) of each signal it traded in."""
    paper_by_venue: dict[str, list[float]] = field(default_factory=dict)
    """Per venue: each full leg's paper fill vs detected price, bps (positive = worse)."""

    def add(self, o: WindowStats) -> None:
        """Fold `o` into this one (counts and money add; the storm figure is the worst)."""
        self.minutes += o.minutes
        for name in ("signals", "accepted", "completed", "one_legged", "wins"):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        self.pnl_quote += o.pnl_quote
        self.notional_quote += o.notional_quote
        self.max_signals_per_min = max(self.max_signals_per_min, o.max_signals_per_min)
        self.slippage_bps += o.slippage_bps
        for mine, theirs in (
            (self.predicted_by_venue, o.predicted_by_venue),
            (self.paper_by_venue, o.paper_by_venue),
        ):
            for v, xs in theirs.items():
                mine.setdefault(v, []).extend(xs)

    @property
    def hit_rate(self) -> float | None:
        """Profitable completed arbs over accepted signals; None with none accepted."""
        return self.wins / self.accepted if self.accepted else None

    @property
    def p95_slippage_bps(self) -> float | None:
        """95th percentile of paper leg slippage, bps; None with no full leg."""
        return float(np.percentile(self.slippage_bps, 95)) if self.slippage_bps else None

    @property
    def net_bps(self) -> float | None:
        """Net PnL over traded notional, bps (the mission's per-day figure is this ratio)."""
        return self.pnl_quote / self.notional_quote * 1e4 if self.notional_quote else None

    @property
    def signals_per_min(self) -> float:
        """Signals per minute of market time."""
        return self.signals / self.minutes if self.minutes else 0.0

    @property
    def storm(self) -> bool:
        """More than the mission's 50 signals in some 60 s window."""
        return self.max_signals_per_min > STORM_MAX_PER_MIN

    def venue_slippage(self) -> dict[str, tuple[float | None, float | None]]:
        """Per venue: (mean predicted, mean paper) slippage, bps."""
        venues = sorted(set(self.predicted_by_venue) | set(self.paper_by_venue))

        def mean(xs: list[float] | None) -> float | None:
            return float(np.mean(xs)) if xs else None

        return {
            v: (mean(self.predicted_by_venue.get(v)), mean(self.paper_by_venue.get(v)))
            for v in venues
        }

    def go_no_go(self) -> dict[str, bool | None]:
        """The mission's paper criteria on this window's figures (None: no figure)."""
        hr, p95, net = self.hit_rate, self.p95_slippage_bps, self.net_bps
        return {
            "hit rate": None if hr is None else hr >= HIT_RATE_MIN,
            "p95 slippage": None if p95 is None else p95 <= SLIPPAGE_P95_MAX_BPS,
            "net PnL": None if net is None else net >= PNL_PER_DAY_MIN_BPS,
            "no storm": not self.storm,
        }

    def as_json(self) -> dict[str, Any]:
        """Derived figures for results.json."""
        return {
            "minutes": round(self.minutes, 3),
            "signals": self.signals,
            "accepted": self.accepted,
            "completed": self.completed,
            "one_legged": self.one_legged,
            "hit_rate": self.hit_rate,
            "p95_slippage_bps": self.p95_slippage_bps,
            "pnl_quote": self.pnl_quote,
            "notional_quote": self.notional_quote,
            "net_bps": self.net_bps,
            "signals_per_min": self.signals_per_min,
            "max_signals_per_min": self.max_signals_per_min,
            "venue_slippage_bps": self.venue_slippage(),
        }


def window_bounds(start_ns: int, end_ns: int, windows: int) -> list[tuple[int, int]]:
    """`windows` consecutive [lo, hi) spans of equal length covering [start_ns, end_ns]."""
    if windows < 2:
        raise ConfigError(f"calibrate: need at least 2 windows, got {windows}")
    span = max(end_ns - start_ns + 1, windows)
    edges = [start_ns + span * i // windows for i in range(windows + 1)]
    return list(itertools.pairwise(edges))


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(root, name)
    return [] if t is None else t.to_pylist()


def journal_windows(journal: Path, bounds: list[tuple[int, int]]) -> list[WindowStats]:
    """The figures of one replay journal, per window of market time (signal detection time)."""
    opps, decisions, fills = (_rows(journal, n) for n in ("opportunities", "decisions", "fills"))
    first = {o["opportunity_id"]: o for o in opps if o["update_seq"] == 0}

    def window_of(ts_ns: int) -> int | None:
        for i, (lo, hi) in enumerate(bounds):
            if lo <= ts_ns < hi:
                return i
        return None

    out = [WindowStats(minutes=(hi - lo) / 60e9) for lo, hi in bounds]
    sig_ts: list[list[int]] = [[] for _ in bounds]
    for o in first.values():
        w = window_of(o["ts_detect_ns"])
        if w is not None:
            out[w].signals += 1
            sig_ts[w].append(o["ts_detect_ns"])
    for w, ts in enumerate(sig_ts):
        out[w].max_signals_per_min = max_signals_per_minute(ts)
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for f in fills:
        by_opp.setdefault(f["opportunity_id"], []).append(f)
    for a in arbs_of(opps, decisions, fills):
        o = first[a.opportunity_id]
        w = window_of(o["ts_detect_ns"])
        if w is None:
            continue
        s = out[w]
        s.accepted += 1
        ok = [x for x in by_opp.get(a.opportunity_id, []) if x["status"] == "filled"]
        if ok:  # the run summary's rule: every fill, an open leg at the worse quoted price, gas
            s.pnl_quote += sum(fill_cash(x) for x in ok) + open_mark(net_base(ok), o)
            s.pnl_quote -= gas_quote(o)
        if a.outcome == "completed" and a.buy is not None:
            s.completed += 1
            s.wins += (a.net_quote or 0) > 0
            s.notional_quote += a.buy.quote_amount
        elif a.outcome.startswith("one-legged"):
            s.one_legged += 1
            s.notional_quote += sum(x.quote_amount for x in (a.buy, a.sell) if x and x.filled)
        for leg in (a.buy, a.sell):
            if leg is None:
                continue
            s.predicted_by_venue.setdefault(leg.venue, []).append(o["cost_slippage_bps"])
            slip = leg.slippage_bps
            if slip is not None:
                s.slippage_bps.append(slip)
                s.paper_by_venue.setdefault(leg.venue, []).append(slip)
    return out


def capture_span(path: Path) -> tuple[int, int]:
    """First and last receive time of a capture, ns."""
    col = pq.read_table(path, columns=["ts_recv_ns"]).column("ts_recv_ns")
    if len(col) == 0:
        raise ConfigError(f"{path}: empty capture: nothing to calibrate on")
    lo, hi = col.to_numpy().min(), col.to_numpy().max()
    return int(lo), int(hi)
