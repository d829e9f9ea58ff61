"""The dashboard's figures from journal rows: a pure fold, no I/O, no clock, no widgets.

`DashFold.add(table, rows)` takes rows as the journal holds them (any order, any batch split);
`DashFold.state(now_ns)` returns a frozen `DashState` of everything the screen shows. Money
stays integer base units here; only bps and latency are floats, for reading.

Definitions (also shown on screen where they are not obvious):
- live spread: per pair, direction and venue combination, the latest journaled opportunity
  (the engine journals a spread only while it beats the trigger, so this is the last spread
  that did, with its age on the journal clock);
- hit rate: arbs whose two legs filled with a positive net PnL, over the signals the risk
  guard accepted;
- PnL: per completed arb, sell proceeds minus buy cost minus both fees minus gas, the same
  figure as `replay.report.summarize`;
- feed freshness: age of each health source's latest event (heartbeats repeat `up` live);
- kill switch: the latest of the guard's `risk:kill_switch` events and `kill_switch` rejections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from operators.risk import KILL_SOURCE
from replay.figures import realised_slippages
from replay.money import (
    fill_cash,
    gas_quote,
    is_flattening,
    moved,
    net_base,
    open_mark,
    quote_value,
)

RECENT_SIGNALS = 10
"""How many of the newest signals the dashboard lists."""
_UPDATE_RAIL = "signal_update"
UNWIND_TIMED_OUT = "UNWIND TIMED OUT"
"""How a leg machine's reason starts when a position was left open (docs/journal.md, legs)."""


@dataclass(frozen=True, slots=True)
class SpreadLine:
    """The latest journaled opportunity of one pair / direction / venue combination."""

    pair: str
    direction: str
    buy_venue: str
    sell_venue: str
    spread_bps: float
    threshold_bps: float
    net_bps: float
    size_base: int
    update_seq: int
    ts_detect_ns: int
    age_ns: int


@dataclass(frozen=True, slots=True)
class PairFigures:
    """One pair's counts and money (quote and base units of the pair)."""

    pair: str
    signals: int
    accepted: int
    hits: int
    completed: int
    one_legged: int
    pnl_quote: int
    notional_quote: int
    volume_base: int
    spreads: tuple[SpreadLine, ...]

    @property
    def pnl_bps(self) -> float | None:
        """Net PnL over traded notional, bps; None before any completed arb."""
        return self.pnl_quote / self.notional_quote * 1e4 if self.notional_quote else None

    @property
    def hit_rate(self) -> float | None:
        """Hits over accepted signals (0..1); None before any accepted signal."""
        return self.hits / self.accepted if self.accepted else None


@dataclass(frozen=True, slots=True)
class FeedLine:
    """A health source's latest state, and for a market its end-of-run frame counters.

    A market that journaled counters but no health event (a replayed CEX book) has no status:
    `status` is "", `ts_recv_ns` and `age_ns` None."""

    source: str
    status: str
    detail: str
    ts_recv_ns: int | None
    age_ns: int | None
    events: int
    not_up_events: int
    frames: int | None = None
    resyncs: int | None = None

    @property
    def in_sync(self) -> bool | None:
        """True when the source's latest word is `up`; None without any health event."""
        return self.status == "up" if self.status else None


@dataclass(frozen=True, slots=True)
class KillState:
    """The kill switch as the journal tells it."""

    killed: bool
    since_ns: int
    reason: str
    trips: int
    rearms: int
    rejected: int


@dataclass(frozen=True, slots=True)
class Latency:
    """Tick -> opportunity latency inside Bytewax, microseconds (wall-clock stamps)."""

    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float
    n: int


@dataclass(frozen=True, slots=True)
class SignalLine:
    """One signal (first sighting of an opportunity) and what became of it."""

    ts_detect_ns: int
    pair: str
    direction: str
    buy_venue: str
    sell_venue: str
    size_base: int
    net_bps: float
    decision: str
    legs_filled: int
    legs_reported: int
    pnl_quote: int | None


@dataclass(frozen=True, slots=True)
class DashState:
    """Every figure the dashboard shows, as of `clock_ns`."""

    clock_ns: int
    rows: int
    pairs: tuple[PairFigures, ...]
    feeds: tuple[FeedLine, ...]
    kill: KillState
    latency: Latency | None
    slippage_p95_bps: float | None
    awaiting_fill: int
    open_legs: dict[str, int] | None
    """Opportunities whose legs are not `closed`, per leg state; None without a legs table."""
    stuck_legs: int
    """Open legs whose unwind timed out: a position a person must close."""
    recent: tuple[SignalLine, ...]


def _latest(old: dict[str, Any] | None, new: dict[str, Any], key: str) -> bool:
    return old is None or new[key] >= old[key]


@dataclass
class _Opp:
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DashFold:
    """Accumulates journal rows; cheap to feed incrementally, `state()` on demand."""

    opps: dict[str, _Opp] = field(default_factory=dict)
    spreads: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    health_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    market_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)
    kill_event: dict[str, Any] | None = None
    kill_trips: int = 0
    kill_rearms: int = 0
    kill_decision: dict[str, Any] | None = None
    kill_rejected: int = 0
    latency_ns: list[int] = field(default_factory=list)
    slippage_bps: list[float] = field(default_factory=list)
    intents: set[str] = field(default_factory=set)
    filled_intents: set[str] = field(default_factory=set)
    pairs: set[str] = field(default_factory=set)
    clock_ns: int = 0
    rows: int = 0

    def add(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Fold rows of one journal table in."""
        handler = {
            "opportunities": self._opportunity,
            "decisions": self._decision,
            "fills": self._fill,
            "intents": self._intent,
            "health": self._health,
            "counters": self._counter,
            "legs": self._leg,
        }.get(table)
        for r in rows:
            self.rows += 1
            if handler is not None:
                handler(r)

    def _tick(self, ts_ns: int) -> None:
        self.clock_ns = max(self.clock_ns, ts_ns)

    def _opp(self, oid: str) -> _Opp:
        o = self.opps.get(oid)
        if o is None:
            o = self.opps[oid] = _Opp()
        return o

    def _opportunity(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_detect_ns"])
        self.pairs.add(r["pair"])
        o = self._opp(r["opportunity_id"])
        if r["update_seq"] == 0:
            o.first = r
        if o.last is None or r["update_seq"] >= o.last["update_seq"]:
            o.last = r
        combo = (r["pair"], r["direction"], r["buy_venue"], r["sell_venue"])
        if _latest(self.spreads.get(combo), r, "ts_detect_ns"):
            self.spreads[combo] = r
        ingest, detect = r.get("ts_ingest_ns") or 0, r.get("ts_detect_wall_ns") or 0
        if ingest and detect:
            self.latency_ns.append(detect - ingest)

    def _decision(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_recv_ns"])
        self._opp(r["opportunity_id"]).decisions.append(r)
        if r["rail"] == "kill_switch":
            self.kill_rejected += 1
            if _latest(self.kill_decision, r, "ts_recv_ns"):
                self.kill_decision = r

    def _fill(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_fill_ns"])
        self._opp(r["opportunity_id"]).fills.append(r)
        self.filled_intents.add(r["intent_id"])
        # the fill vs its decision-time price (journal `slippage_bps`; the report's rule:
        # replay.figures.realised_slippages): realised in a live run, simulated in paper
        self.slippage_bps += realised_slippages([r])

    def _intent(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_intent_ns"])
        self.intents.add(r["intent_id"])

    def _health(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_recv_ns"])
        src = r["source"]
        if src == KILL_SOURCE:
            if r["status"] == "kill":
                self.kill_trips += 1
            elif r["status"] == "up":
                self.kill_rearms += 1
            if _latest(self.kill_event, r, "ts_recv_ns"):
                self.kill_event = r
            return
        n, bad = self.health_counts.get(src, (0, 0))
        self.health_counts[src] = (n + 1, bad + (r["status"] != "up"))
        if _latest(self.health.get(src), r, "ts_recv_ns"):
            self.health[src] = r

    def _leg(self, r: dict[str, Any]) -> None:
        self._tick(r["ts_ns"])
        if _latest(self.legs.get(r["opportunity_id"]), r, "ts_ns"):
            self.legs[r["opportunity_id"]] = r

    def _counter(self, r: dict[str, Any]) -> None:
        # written when a run ends (or a live one stops): frames and resyncs per market
        if r["step"] == "market_state" and r["name"] in ("frames", "resyncs"):
            self.market_counters.setdefault(r["key"], {})[r["name"]] = int(r["value"])

    def state(self, now_ns: int | None = None) -> DashState:
        """The figures as of `now_ns` (default: the journal's own clock, its newest event)."""
        now = self.clock_ns if now_ns is None else now_ns
        arbs = {oid: _arb(o) for oid, o in self.opps.items()}
        pairs = []
        for pair in sorted(self.pairs):
            mine = [(oid, o) for oid, o in self.opps.items() if o.last and o.last["pair"] == pair]
            pnl = notional = volume = hits = completed = one_leg = 0
            for oid, _ in mine:
                a = arbs[oid]
                if a.net_quote is None:
                    continue
                pnl += a.net_quote
                notional += a.notional_quote
                volume += a.volume_base
                if a.complete:
                    completed += 1
                    hits += a.net_quote > 0
                else:
                    one_leg += 1
            spreads = tuple(
                _spread_line(r, now)
                for combo, r in sorted(self.spreads.items())
                if combo[0] == pair
            )
            pairs.append(
                PairFigures(
                    pair=pair,
                    signals=sum(1 for _, o in mine if o.first is not None),
                    accepted=sum(1 for _, o in mine if any(d["accepted"] for d in o.decisions)),
                    hits=hits,
                    completed=completed,
                    one_legged=one_leg,
                    pnl_quote=pnl,
                    notional_quote=notional,
                    volume_base=volume,
                    spreads=spreads,
                )
            )
        feeds = tuple(
            self._feed(src, now) for src in sorted(self.health.keys() | self.market_counters)
        )
        signals = sorted(
            ((o.first, oid, o) for oid, o in self.opps.items() if o.first is not None),
            key=lambda x: x[0]["ts_detect_ns"],
            reverse=True,
        )[:RECENT_SIGNALS]
        recent = tuple(_signal_line(first, o, arbs[oid]) for first, oid, o in signals)
        return DashState(
            clock_ns=now,
            rows=self.rows,
            pairs=tuple(pairs),
            feeds=feeds,
            kill=self._kill(),
            latency=_latency(self.latency_ns),
            slippage_p95_bps=(
                float(np.percentile(self.slippage_bps, 95)) if self.slippage_bps else None
            ),
            awaiting_fill=len(self.intents - self.filled_intents),
            open_legs=self._open_legs(),
            stuck_legs=sum(
                1
                for r in self.legs.values()
                if r["to_state"] != "closed" and r["reason"].startswith(UNWIND_TIMED_OUT)
            ),
            recent=recent,
        )

    def _open_legs(self) -> dict[str, int] | None:
        if not self.legs:
            return None
        out: dict[str, int] = {}
        for r in self.legs.values():
            if r["to_state"] != "closed":
                out[r["to_state"]] = out.get(r["to_state"], 0) + 1
        return dict(sorted(out.items()))

    def _feed(self, src: str, now_ns: int) -> FeedLine:
        r = self.health.get(src)
        n, bad = self.health_counts.get(src, (0, 0))
        c = self.market_counters.get(src, {})
        ts = None if r is None else r["ts_recv_ns"]
        return FeedLine(
            source=src,
            status="" if r is None else r["status"],
            detail="" if r is None else r["detail"],
            ts_recv_ns=ts,
            age_ns=None if ts is None else now_ns - ts,
            events=n,
            not_up_events=bad,
            frames=c.get("frames"),
            resyncs=c.get("resyncs"),
        )

    def _kill(self) -> KillState:
        ev, dec = self.kill_event, self.kill_decision
        # a config kill switch trips before any event: only its rejections show it
        ev_ts = ev["ts_recv_ns"] if ev else -1
        dec_ts = dec["ts_recv_ns"] if dec else -1
        if dec is not None and dec_ts > ev_ts:
            killed, since, reason = True, dec_ts, dec["reason"]
        elif ev is not None:
            killed, since, reason = ev["status"] == "kill", ev_ts, ev["detail"]
        else:
            killed, since, reason = False, 0, ""
        return KillState(
            killed=killed,
            since_ns=since,
            reason=reason,
            trips=self.kill_trips,
            rearms=self.kill_rearms,
            rejected=self.kill_rejected,
        )


@dataclass(frozen=True, slots=True)
class _Arb:
    legs_filled: int
    complete: bool
    net_quote: int | None
    notional_quote: int
    volume_base: int


def _arb(o: _Opp) -> _Arb:
    """One opportunity's money, counted as `replay.report.summarize` counts it: every fill
    (legs, and the hedge / unwind that flattened a one-legged trade), a position still open
    marked at the worse of the two quoted prices, gas once the DEX transaction was sent."""
    ok = [f for f in o.fills if moved(f)]
    # the signal row is the one accepted and sized on (as in the report); an update's gas can
    # differ (live SOL price), so the latest row only stands in until the signal row is read
    row = o.first if o.first is not None else o.last
    if not ok or row is None:
        return _Arb(0, False, None, 0, 0)
    legs = [f for f in ok if not is_flattening(f)]
    cash = sum(fill_cash(f) for f in ok) + open_mark(net_base(ok), row)
    gas = gas_quote(row)
    complete = len({f["side"] for f in legs}) == 2
    bought = [f for f in legs if f["side"] == "buy"]
    notional = (
        sum(quote_value(f) for f in bought)
        if complete
        else sum(quote_value(f) for f in legs)
    )
    return _Arb(
        legs_filled=len(legs),
        complete=complete,
        net_quote=cash - gas,
        notional_quote=notional,
        volume_base=sum(f["filled_base"] for f in bought),
    )


def _spread_line(r: Mapping[str, Any], now_ns: int) -> SpreadLine:
    return SpreadLine(
        pair=r["pair"],
        direction=r["direction"],
        buy_venue=r["buy_venue"],
        sell_venue=r["sell_venue"],
        spread_bps=r["spread_bps"],
        threshold_bps=r["threshold_bps"],
        net_bps=r["net_bps"],
        size_base=r["size_base"],
        update_seq=r["update_seq"],
        ts_detect_ns=r["ts_detect_ns"],
        age_ns=now_ns - r["ts_detect_ns"],
    )


def _signal_line(first: dict[str, Any], o: _Opp, arb: _Arb) -> SignalLine:
    accepted = any(d["accepted"] for d in o.decisions)
    acted = [d for d in o.decisions if d["rail"] != _UPDATE_RAIL]
    if accepted:
        decision = "accepted"
    elif acted:
        decision = f"rejected: {max(acted, key=lambda d: d['ts_recv_ns'])['rail']}"
    else:
        decision = "pending"
    return SignalLine(
        ts_detect_ns=first["ts_detect_ns"],
        pair=first["pair"],
        direction=first["direction"],
        buy_venue=first["buy_venue"],
        sell_venue=first["sell_venue"],
        size_base=first["size_base"],
        net_bps=first["net_bps"],
        decision=decision,
        legs_filled=arb.legs_filled,
        legs_reported=len(o.fills),
        pnl_quote=arb.net_quote,
    )


def _latency(samples_ns: list[int]) -> Latency | None:
    if not samples_ns:
        return None
    # linear interpolation, as the replay summary computes it, so both print the same figures
    arr = np.array(samples_ns, dtype=np.int64) / 1e3
    p50, p90, p99 = (float(v) for v in np.percentile(arr, [50, 90, 99]))
    return Latency(p50_us=p50, p90_us=p90, p99_us=p99, max_us=float(arr.max()), n=len(arr))
