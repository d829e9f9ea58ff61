"""The risk guard: the only door to the sinks.

It merges opportunities and health events, owns caps / exposure / kill-switch state, and turns an
opportunity into two order intents only when every rail is green. Time is the events' own
(`ts_recv_ns` of health, `ts_detect_ns` of opportunities), never a wall clock, so a replay
takes the same decisions as the live run did.

Feeds. The guard follows the feeds trading depends on (`RiskParams.feed_of` maps each health
source it listens to onto its feed: a CEX venue id onto itself, the Solana account feed onto
itself, and every market id onto the feed that carries it; other sources, e.g. one RPC
endpoint's `rpc:ws:<name>`, are journaled but say nothing about a feed). Per feed:

    up ──down/stale──► down/stale ──resync──► resync ──up, or a market of it in sync──► up

`feeds_down_since` holds when the fault began: for `down`/`stale`, the event's `ts_event_ns`
(the transport stamps it with the time the feed last carried data, so the budget runs from the
fault, not from its detection); for a `resync` of a feed that was `up` (a book out of sync), the
resync itself. Only `up` clears it, from the feed itself or, after a `resync`, from one of its
markets saying its view is in sync again (resync-then-data: a reconnect whose `up` was never
sent cannot leave a feed down forever). The first connect of a feed never up starts no timer.

Kill switch. It trips when a feed stays down/stale/resyncing longer than `feed_down_kill_ns`
(`risk.ws_down_kill_ms`), on slot lag over `max_slot_lag`, on a venue clock drifting more than
`max_clock_drift_ns` (`risk.max_clock_drift_ms`, cause `clock`), on a `kill` event (cause
`manual` from `solarb kill`, `MANUAL_SOURCE`; else `request`), or from config.
Re-arm rule: a kill tripped by feed health (down/stale or slot lag) re-arms by itself when
`rearm_auto` (`risk.rearm = "auto"`) once every followed feed has been `up` without a break for
`rearm_after_ns` (`risk.rearm_after_ms`); with `manual` it stays until a `rearm` event (or a
restart). A clock kill follows the same rule, its clock counting as a feed until a drift
sample back in bounds. A `kill` event is cleared only by a `rearm` event, also when it lands on
a health kill already held (it takes that kill's place); the config kill switch never clears.
Each trip and re-arm is emitted as a `HealthEvent` from `risk:kill_switch` for the journal, and
each trip as a `KillRecord` (`take_kills`) for the `kills` table.

Sanity rail. An opportunity whose gross spread is above `max_spread_bps` (`risk.max_spread_bps`)
is refused with rail `too_good_to_be_true` and flagged as a `HealthEvent` from `risk:sanity`.

Exposure and open orders. Without a report stream (paper, replay: the fills are made downstream)
the guard books each accepted opportunity's quoted legs as exposure per market and counts two
open orders for `open_order_ttl_ns`. Live (`from_reports`), the venues' reports come in too
(`on_report`, taking effect `reports_settle_ns` later on the event clock, operators/settle.py):
legs are reserved, then settled by their fills and released by their final reports
(operators/guard_book.py); the exposure rail reads that book per venue, the open-order rail its
unreleased legs, and the day's realised loss from fills over `max_daily_loss_usd_micro` refuses
new opportunities (rail `daily_loss`).
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from math import gcd

from operators.events import ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.fixedpoint import bps_to_ppb
from operators.fx import limit_in_market
from operators.guard_book import GuardBook, Reservation, venue_key
from operators.settle import SettleQueue

MINUTE_NS = 60_000_000_000
PRUNE_BEHIND_NS = 30 * MINUTE_NS
"""How far behind the newest time seen the rolling budgets keep entries (cross-worker skew)."""
KILL_SOURCE = "risk:kill_switch"
"""`HealthEvent.source` of the guard's own kill / re-arm events."""
MANUAL_SOURCE = "control:manual"
"""`HealthEvent.source` of `solarb kill` / `solarb arm` (engine/control.py): cause `manual`."""
CLOCK_PREFIX = "clock:"
"""`HealthEvent.source` prefix of a venue's clock drift (`status="drift"`, `value` in ms)."""
NOTHING_RESTING = "nothing resting"
"""`KillRecord.cancelled` while no order execution is wired: there is nothing to cancel."""
SANITY_SOURCE = "risk:sanity"
"""`HealthEvent.source` of the flag raised for each opportunity refused as too good to be true."""
_AUTO_CAUSES = frozenset({"feed", "clock"})
"""Kill causes the auto re-arm rule may clear; `manual` / `request` need a `rearm` event."""
_NOT_UP = frozenset({"down", "stale"})


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
    """The widest a leg's limit may ever be from the opportunity's quote (a cap on `leg_limits`)."""
    give_up_ppb: int = 100_000
    """What a trade filled at both its limits may lose at worst, ppb of its buy notional
    (`risk.give_up_bps`, default 1 bps): the legs' limits share the expected PnL plus this."""
    rearm_auto: bool = True
    """Whether a kill tripped by feed health re-arms by itself (module docstring)."""
    rearm_after_ns: int = 5_000_000_000
    """How long every feed must have been up before an automatic re-arm."""
    feed_of: Mapping[str, str] | None = None
    """Health source -> the feed it speaks for; None = every source is its own feed."""
    max_clock_drift_ns: int = 500_000_000
    """A venue clock further than this from ours (either way) trips the kill (cause `clock`)."""
    max_spread_bps: int = 300
    """A gross spread above this is a broken view (wrong decimals, token order, a bad print),
    not an opportunity: refused with rail `too_good_to_be_true` and flagged (`SANITY_SOURCE`)."""
    from_reports: bool = False
    """Live trading: exposure, open orders and daily PnL from the execution reports
    (`on_report`, operators/guard_book.py); False: booked from the guard's own intents."""
    reports_settle_ns: int = 500_000_000
    """A report takes effect this long after its receive time, on the event clock
    (operators/settle.py: live and its replay apply it before the same input)."""
    unreported_leg_ns: int = 10_000_000_000
    """A reserved CEX leg no report answers is released after this."""
    dex_unreported_leg_ns: int = 105_000_000_000
    """... a DEX leg after this (past the DEX send bound)."""
    dex_markets: frozenset[str] = frozenset()
    """Market ids of DEX legs (their reservations wait `dex_unreported_leg_ns`)."""
    dex_first: bool = False
    """`engine.leg_order = "dex_first"`: a CEX twin is released with its unfilled DEX leg."""
    venue_of: Mapping[str, str] | None = None
    """Market id -> the venue id its reports name (the exposure key live); None: itself."""
    max_daily_loss_usd_micro: int = 500_000_000
    """Live: realised loss of the UTC day from fills above this refuses new opportunities
    (rail `daily_loss`)."""


@dataclass(frozen=True, slots=True)
class KillRecord:
    """One trip of the kill switch (the journal's `kills` table).

    `detected_ns` is when the fault was first seen (a feed leaving `up`, the drift or lag
    sample, the `solarb kill` request), `tripped_ns` when the guard stopped new intents, both on
    the events' clock. `cause` is `feed`, `clock`, `manual` or `request`.
    """

    cause: str
    reason: str
    detected_ns: int
    tripped_ns: int
    cancelled: str = NOTHING_RESTING
    scope: str = ""
    """Empty for the guard's kills (every pair); the pair of a fill-risk kill (fill_risk.py)."""


@dataclass(frozen=True, slots=True)
class KillEffect:
    """What one pair's execution step did about a kill of the guard (the `kill_effects` table).

    The guard (one key, upstream) stops new intents; each pair's execution step then flattens
    what it holds open (`LegMachine.on_kill`) and answers with this row, so the journal says what
    the trip cancelled and unwound. `cause` / `tripped_ns` name the guard's `KillRecord`.
    Counts are of the commands the kill gave at `tripped_ns`: `dropped` legs never sent (a plan
    closed, a `dex_first` twin), `cancelled` orders on the wire (a resting order is cancelled;
    an IOC order or a sent transaction still reports, and what it fills is flattened then),
    `hedged` / `unwound` flattening orders sent at once.
    """

    scope: str
    """The pair."""
    cause: str
    reason: str
    tripped_ns: int
    open_legs: int
    dropped: int
    cancelled: int
    hedged: int
    unwound: int
    detail: str


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
    kill_cause: str = ""
    """`config`, `manual`, `request`, `feed` or `clock`: what tripped the kill, hence what may
    clear it (`feed` / `clock`: the auto re-arm rule; `manual` / `request`: a `rearm` event)."""
    window: deque[tuple[int, int]] = field(default_factory=deque)
    """(ts_ns, notional micro-USD) of the trades accepted in the last minute."""
    exposure_usd_micro: dict[str, int] = field(default_factory=dict)
    """Signed exposure per venue in micro-USD (bought positive)."""
    open_orders: deque[int] = field(default_factory=deque)
    feeds_down_since: dict[str, int] = field(default_factory=dict)
    """Feed -> when it left `up` for down/stale (ns); cleared by `up` only."""
    feed_state: dict[str, str] = field(default_factory=dict)
    """Feed -> up | down | stale | resync | lag (a feed never heard of counts as up)."""
    all_up_since: int | None = None
    """Since when every feed has been up (ns); None while one is not."""
    rearms: int = 0
    pending: list[HealthEvent] = field(default_factory=list)
    """Kill / re-arm events not yet handed out (`take_events`)."""
    accepted: int = 0
    rejected: int = 0
    kills: list[KillRecord] = field(default_factory=list)
    """Trips not yet handed out (`take_kills`)."""
    book: GuardBook = field(default_factory=GuardBook)
    """Live (`RiskParams.from_reports`): reservations, fills and the day's PnL."""
    settling: SettleQueue | None = None
    """Live: reports waiting for the event clock (operators/settle.py)."""


def _onset(ev: HealthEvent) -> int:
    """When a feed fault began: the event's `ts_event_ns` when set and not in the future."""
    return ev.ts_event_ns if 0 < ev.ts_event_ns <= ev.ts_recv_ns else ev.ts_recv_ns


def _gross_bps_above(buy_quote: int, sell_quote: int, max_bps: int) -> bool:
    """Whether (sell - buy) / buy exceeds `max_bps`, in integers (no float rounding at the edge)."""
    return (sell_quote - buy_quote) * 10_000 > max_bps * buy_quote


LIMIT_FEE_BOUND_PPB = 10_000_000
"""Taker fee rate no venue exceeds (1 %): a buy filled worse also pays its fee on the extra."""


def leg_limits(
    buy_quote: int,
    sell_quote: int,
    expected_pnl_quote: int,
    give_up_ppb: int,
    cap_bps: int,
    provisions_quote: int = 0,
) -> tuple[int, int]:
    """(buy limit, sell limit) in quote base units, from the opportunity's edge.

    The slack both legs may give away together is the expected PnL (after every cost), plus the
    provisions the cost model took for what may not come (expected slippage, hedge, safety
    margin: `provisions_quote`, never more than were deducted), plus the give-up (`give_up_ppb`
    of the buy notional); each leg gets half, the buy's half shrunk so its fee on the extra
    fits too. Both legs filled at their limits then lose at most the give-up, counting the costs
    that are certain: `sell_limit * (1 - f_s) - buy_limit * (1 + f_b) - gas >= -give_up` for any
    fee rates up to `LIMIT_FEE_BOUND_PPB`. No leg is ever wider than `cap_bps`
    (`risk.limit_slippage_bps`).
    """
    slack = (
        max(expected_pnl_quote, 0)
        + max(provisions_quote, 0)
        + buy_quote * give_up_ppb // 1_000_000_000
    )
    half = slack // 2
    buy_slack = min(
        half * 1_000_000_000 // (1_000_000_000 + LIMIT_FEE_BOUND_PPB),
        buy_quote * cap_bps // 10_000,
    )
    sell_slack = min(half, sell_quote * cap_bps // 10_000)
    return buy_quote + buy_slack, sell_quote - sell_slack


def provisions_quote(opp: Opportunity) -> int:
    """The opportunity's provisions (expected slippage, hedge, safety margin) in quote units.

    The cost breakdown carries them as float bps, report views of integer ppb
    (operators/fixedpoint.py): each is taken back to its nearest ppb, which is that integer,
    and applied to the smaller leg notional, rounded down, so never more than was deducted.
    """
    c = opp.costs
    ppb = sum(bps_to_ppb(x) for x in (c.slippage_bps, c.hedge_bps, c.safety_margin_bps))
    return min(opp.buy_quote, opp.sell_quote) * ppb // 1_000_000_000


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
        self.s = state or RiskState(
            killed=params.kill_switch,
            kill_reason="config kill_switch" if params.kill_switch else "",
            kill_cause="config" if params.kill_switch else "",
        )

    def on_health(self, ev: HealthEvent) -> list[HealthEvent]:
        """Follow feed health; trip or re-arm the kill switch. Returns kill / re-arm events."""
        s, now = self.s, ev.ts_recv_ns
        if s.settling is not None:
            self._settle(now)
        feed = self._feed(ev.source)
        if ev.status == "kill":
            cause = "manual" if ev.source == MANUAL_SOURCE else "request"
            self._kill(f"kill requested by {ev.source}: {ev.detail}", cause, now, ev.ts_event_ns)
        elif ev.status == "rearm":
            self._rearm(f"re-armed by {ev.source}: {ev.detail}", now)
        elif ev.status == "drift" and ev.source.startswith(CLOCK_PREFIX):
            self._on_drift(ev)
        elif feed is None:
            pass  # not a feed trading depends on (e.g. one RPC endpoint among several)
        elif ev.source != feed:
            # a market of the feed: its `up` (view in sync on fresh data) ends a resync
            if ev.status == "up" and s.feed_state.get(feed) == "resync":
                self._feed_up(feed)
        elif ev.status == "up":
            self._feed_up(feed)
        elif ev.status in _NOT_UP:
            s.feed_state[feed] = ev.status
            # the fault began when the feed last carried data (`ts_event_ns` of a stale or down
            # event), not when its silence was noticed: the budget runs from the fault itself
            s.feeds_down_since.setdefault(feed, _onset(ev))
        elif ev.status == "resync":
            if s.feed_state.get(feed) == "up":
                # a book out of sync on a feed that was up: trading waits for it like for a
                # silent feed (a first connect, never up yet, starts no timer)
                s.feeds_down_since.setdefault(feed, _onset(ev))
            s.feed_state[feed] = "resync"
        elif ev.status == "lag" and ev.value > self.p.max_slot_lag:
            s.feed_state[feed] = "lag"
            self._kill(
                f"slot lag {ev.value:.0f} > {self.p.max_slot_lag} on {ev.source}",
                "feed",
                now,
                ev.ts_event_ns,
            )
        self._check_feeds(now)
        return self.take_events()

    def on_report(self, pair: str, r: ExecutionReport) -> None:
        """Live: one execution report of `pair`, booked once the event clock reaches its
        receive time + `reports_settle_ns` (operators/settle.py, guard_book.py)."""
        if not self.p.from_reports:
            return
        s = self.s
        if s.settling is None:
            s.settling = SettleQueue(self.p.reports_settle_ns)
        s.settling.push(r.ts_recv_ns, (pair, r))

    def on_end(self) -> None:
        """End of input: book every report still waiting (the final exposure is the fills')."""
        if self.s.settling is not None:
            for pair, r in self.s.settling.drain():
                self._book(pair, r)

    def _settle(self, now_ns: int) -> None:
        assert self.s.settling is not None
        for pair, r in self.s.settling.due(now_ns):
            self._book(pair, r)

    def _book(self, pair: str, r: ExecutionReport) -> None:
        ratio = self.p.quote_usd_micro.get(pair)
        self.s.book.on_report(pair, r, ratio, r.ts_recv_ns, self.p.dex_first)

    def take_events(self) -> list[HealthEvent]:
        """Kill / re-arm events since the last call (for the journal)."""
        out, self.s.pending = self.s.pending, []
        return out

    def take_kills(self) -> list[KillRecord]:
        """Kill switch trips since the last call (the journal's `kills` table)."""
        out, self.s.kills = self.s.kills, []
        return out

    def _on_drift(self, ev: HealthEvent) -> None:
        # a drifting clock is followed like a feed: it blocks the auto re-arm until back in bounds
        drift_ns = int(abs(ev.value) * 1_000_000)
        if drift_ns > self.p.max_clock_drift_ns:
            self.s.feed_state[ev.source] = "drift"
            self._kill(
                f"clock drift {ev.value:.0f} ms > {self.p.max_clock_drift_ns // 1_000_000} ms "
                f"on {ev.source}",
                "clock",
                ev.ts_recv_ns,
                ev.ts_event_ns,
            )
        else:
            self.s.feed_state[ev.source] = "up"

    def _feed(self, source: str) -> str | None:
        return source if self.p.feed_of is None else self.p.feed_of.get(source)

    def _feed_up(self, feed: str) -> None:
        self.s.feed_state[feed] = "up"
        self.s.feeds_down_since.pop(feed, None)

    def _kill(self, reason: str, cause: str, now_ns: int, detected_ns: int) -> None:
        s = self.s
        # a manual or requested kill over a health kill takes its place, so that the health
        # kill's auto re-arm cannot clear it; a health kill never replaces a kill already held
        upgrade = s.killed and s.kill_cause in _AUTO_CAUSES and cause not in _AUTO_CAUSES
        if not s.killed or upgrade:
            s.killed, s.kill_reason, s.kill_cause = True, reason, cause
            s.pending.append(HealthEvent(KILL_SOURCE, "kill", reason, now_ns, now_ns))
            s.kills.append(KillRecord(cause, reason, detected_ns, now_ns))

    def _rearm(self, reason: str, now_ns: int) -> None:
        s = self.s
        if s.killed and s.kill_cause != "config":
            s.killed, s.kill_reason, s.kill_cause = False, "", ""
            s.rearms += 1
            s.pending.append(HealthEvent(KILL_SOURCE, "up", reason, now_ns, now_ns))

    def _check_feeds(self, now_ns: int) -> None:
        """Trip on a feed down too long; track `all_up_since`; apply the auto re-arm rule."""
        s, p = self.s, self.p
        for src, since in s.feeds_down_since.items():
            if now_ns - since > p.feed_down_kill_ns:
                state = s.feed_state.get(src, "down")
                self._kill(
                    f"feed {src} {state} for {(now_ns - since) / 1e6:.0f} ms", "feed", now_ns, since
                )
                break
        healthy = not s.feeds_down_since and not {"lag", "drift"} & set(s.feed_state.values())
        if not healthy:
            s.all_up_since = None
            return
        if s.all_up_since is None:
            s.all_up_since = now_ns
        if (
            s.killed
            and s.kill_cause in _AUTO_CAUSES
            and p.rearm_auto
            and now_ns - s.all_up_since >= p.rearm_after_ns
        ):
            up_ms = (now_ns - s.all_up_since) / 1e6
            self._rearm(f"auto: every feed up for {up_ms:.0f} ms", now_ns)

    def on_opportunity(self, opp: Opportunity) -> tuple[RiskDecision, list[OrderIntent]]:
        """Accept (two intents: buy leg and sell leg) or reject with the rail that said no."""
        s, p = self.s, self.p
        now = opp.ts_detect_ns
        book = s.book
        if p.from_reports:
            if s.settling is not None:
                self._settle(now)
            book.expire(now)
        self._check_feeds(now)
        # Pairs on other workers reach this one key out of time order (a worker may run ahead in
        # capture time), so the rolling budgets count by the entries' own times, (now - span,
        # now], rather than by arrival: in time order this is the same as popping the front.
        # Entries are dropped only well behind the newest time seen (PRUNE_BEHIND_NS).
        newest = max(now, s.window[-1][0] if s.window else now)
        horizon = newest - max(PRUNE_BEHIND_NS, p.open_order_ttl_ns)
        while s.window and s.window[0][0] < horizon:
            s.window.popleft()
        while s.open_orders and s.open_orders[0] < horizon:
            s.open_orders.popleft()
        minute_used = sum(n for t, n in s.window if 0 <= now - t <= MINUTE_NS)
        if p.from_reports:
            open_now = book.open_legs()
            exposure = book.exposure_usd_micro
            buy_key = venue_key(p.venue_of, opp.buy_venue)
            sell_key = venue_key(p.venue_of, opp.sell_venue)
        else:
            open_now = sum(1 for t in s.open_orders if 0 <= now - t <= p.open_order_ttl_ns)
            exposure = s.exposure_usd_micro
            buy_key, sell_key = opp.buy_venue, opp.sell_venue
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
        elif _gross_bps_above(opp.buy_quote, opp.sell_quote, p.max_spread_bps):
            rail = "too_good_to_be_true"
            reason = (
                f"gross spread {opp.buy_venue}->{opp.sell_venue} above {p.max_spread_bps} bps "
                f"(buy {opp.buy_quote}, sell {opp.sell_quote} quote units)"
            )
            s.pending.append(
                HealthEvent(SANITY_SOURCE, "too_good", f"{opp.opportunity_id}: {reason}", now, now)
            )
        elif opp.net_bps < 0 or opp.expected_pnl_quote <= 0:
            rail, reason = "spread_under_threshold", f"net {opp.net_bps:.2f} bps"
        elif p.from_reports and book.daily_loss_usd_micro(now) > p.max_daily_loss_usd_micro:
            rail = "daily_loss"
            reason = (
                f"realised loss today {book.daily_loss_usd_micro(now)} micro-USD > "
                f"{p.max_daily_loss_usd_micro} (from fills)"
            )
        elif notional > p.max_notional_usd_micro:
            rail, reason = "max_notional", f"{notional} > {p.max_notional_usd_micro}"
        elif minute_used + notional > p.max_notional_per_minute_usd_micro:
            rail, reason = "max_notional_per_minute", "minute budget exhausted"
        elif open_now + 2 > p.max_open_orders:
            rail, reason = "max_open_orders", f"{open_now} open"
        else:
            for venue, signed in (
                (buy_key, opp.buy_quote * num // den),
                (sell_key, -(opp.sell_quote * num // den)),
            ):
                if abs(exposure.get(venue, 0) + signed) > p.max_exposure_usd_micro:
                    rail, reason = "max_exposure", f"{venue} exposure cap"
                    break
        decision = RiskDecision(opp.opportunity_id, opp.pair, not rail, rail or "ok", reason, now)
        if rail:
            s.rejected += 1
            return decision, []
        s.accepted += 1
        insort(s.window, (now, notional))
        if p.from_reports:
            oid = opp.opportunity_id
            for leg, key, market, signed in (
                ("buy", buy_key, opp.buy_venue, opp.buy_quote * num // den),
                ("sell", sell_key, opp.sell_venue, -(opp.sell_quote * num // den)),
            ):
                dex = market in p.dex_markets
                ttl = p.dex_unreported_leg_ns if dex else p.unreported_leg_ns
                book.reserve(
                    f"{oid}/{leg}", Reservation(oid, key, signed, opp.size_base, now, ttl, dex)
                )
        else:
            insort(s.open_orders, now)
            insort(s.open_orders, now)
            exp = s.exposure_usd_micro
            exp[opp.buy_venue] = exp.get(opp.buy_venue, 0) + opp.buy_quote * num // den
            exp[opp.sell_venue] = exp.get(opp.sell_venue, 0) - opp.sell_quote * num // den
        buy_limit, sell_limit = leg_limits(
            opp.buy_quote, opp.sell_quote, opp.expected_pnl_quote, p.give_up_ppb,
            p.limit_slippage_bps, provisions_quote(opp),
        )  # fmt: skip
        intents = [
            OrderIntent(
                intent_id=f"{opp.opportunity_id}/buy",
                opportunity_id=opp.opportunity_id,
                venue=opp.buy_venue,
                market_id=opp.buy_venue,
                side="buy",
                size_base=opp.size_base,
                limit_quote=limit_in_market(buy_limit, opp.buy_fx, "buy"),
                ts_event_ns=opp.ts_event_ns,
                ts_recv_ns=opp.ts_recv_ns,
                ts_intent_ns=now,
                pair=opp.pair,
                predicted_quote=opp.buy_quote,
                quote_currency=opp.buy_quote_currency,
                fx=opp.buy_fx,
            ),
            OrderIntent(
                intent_id=f"{opp.opportunity_id}/sell",
                opportunity_id=opp.opportunity_id,
                venue=opp.sell_venue,
                market_id=opp.sell_venue,
                side="sell",
                size_base=opp.size_base,
                limit_quote=limit_in_market(sell_limit, opp.sell_fx, "sell"),
                ts_event_ns=opp.ts_event_ns,
                ts_recv_ns=opp.ts_recv_ns,
                ts_intent_ns=now,
                pair=opp.pair,
                predicted_quote=opp.sell_quote,
                quote_currency=opp.sell_quote_currency,
                fx=opp.sell_fx,
            ),
        ]
        return decision, intents
