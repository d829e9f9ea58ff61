"""Leg risk: one state machine per opportunity, from its two intents to a closed, flat position.

    planned ─► sent ─► filled ─────────────────────────► closed
                 │                                          ▲
                 └─► partial | failed ─► hedging ─► hedged ─┤
                                            └─(timeout)─► unwinding ─► unwound ─┘

- `planned`: the guard accepted the opportunity; nothing is on the wire yet. With the default
  leg order `dex_first` the DEX leg goes first and the CEX IOC only once the DEX leg has filled
  (a DEX leg that fails then costs nothing but gas); `both` sends the two legs at once.
- `sent`: orders are out; every execution report moves the legs' fills on.
- `filled`: both legs filled in full, base amounts equal: the arb is flat and `closed` at once.
- `partial` / `failed`: a leg filled less than its twin (or nothing): the position holds net
  base. It is hedged on the pair's hedge market for the CEX leg's exchange (its USDT perp,
  lowest latency) for the net amount; `hedged` once the hedge fills. The hedge only buys time:
  at once the spot net is unwound on the spot venue that filled (the opposite side) and the
  perp position is closed (`unwinding`, both orders together, so the net stays hedged while
  they fill); `unwound` once both are flat, then `closed`.
- With no hedge market, or when the hedge fails or does not fill within its timeout, what is
  open is unwound straight away the same way (the spot net on its venue, any perp fill closed).
  A hedge that times out is queried, and stays counted while it may still fill: a fill it
  reports after the timeout (late) opens a perp position the first close did not cover, so a
  follow-up close (`/hedge-close-late`) is sent for it once the hedge's final report is in; the
  opportunity is `unwound` only when the spot and the perp are flat and the hedge is final.
- Reports are counted once per order (intent id): a report carries the order's cumulative
  fill, so a repeat (a query's answer arriving with or after the final report it duplicates)
  adds only what it reports beyond the largest fill seen, never the whole again.

Every state has a timeout (`LegPolicy`), so no opportunity can wait forever. Time is the
events' own (`ts_recv_ns` of reports, `now_ns` of ticks), never a wall clock, so a replay takes
the same steps. The machine only decides: it returns `LegCommand`s (send / hedge / unwind /
query) for the execution sinks and `LegTransition`s for the journal's `legs` table. Amounts are
base units and quote base units (integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from operators.errors import ExecutionError
from operators.events import ExecutionReport, OrderIntent, Side

LegsState = Literal[
    "planned", "sent", "filled", "partial", "failed", "hedging", "hedged", "unwinding",
    "unwound", "closed",
]  # fmt: skip
LegOrder = Literal["dex_first", "both"]
CommandKind = Literal["send", "hedge", "unwind", "query", "cancel"]
HEDGE_SUFFIX = "/hedge"
UNWIND_SUFFIX = "/unwind"
CLOSE_SUFFIX = "/hedge-close"
"""The order that closes the perp hedge once the spot net is being unwound."""
LATE_CLOSE_SUFFIX = "/hedge-close-late"
"""The follow-up close of what the hedge filled after it timed out (beyond the first close)."""
FLATTENING = (HEDGE_SUFFIX, UNWIND_SUFFIX, CLOSE_SUFFIX, LATE_CLOSE_SUFFIX)
"""Intent-id suffixes of the orders that flatten a one-legged opportunity (not its legs)."""
PERP_ORDERS = (HEDGE_SUFFIX, CLOSE_SUFFIX, LATE_CLOSE_SUFFIX)
"""Intent-id suffixes of the orders on the perp hedge market (the hedge and its closes)."""
FINAL = ("filled", "rejected", "cancelled")


@dataclass(frozen=True, slots=True)
class LegPolicy:
    """How legs are sent and how long each state may last (ns)."""

    order: LegOrder = "dex_first"
    planned_timeout_ns: int = 1_000_000_000
    """planned -> failed when the first order is not out by then."""
    sent_timeout_ns: int = 5_000_000_000
    """sent -> query the venues, then partial/failed, when a leg has no final report by then."""
    dex_sent_timeout_ns: int = 5_000_000_000
    """The same while a DEX leg is on the wire: never shorter than its sender's confirmation
    bound (the blockhash's validity), since a slow landing is not a one-legged arb (live:
    `engine/exec_step.dex_sent_timeout_ns`)."""
    hedge_timeout_ns: int = 2_000_000_000
    """hedging -> unwinding when the hedge has not filled by then."""
    unwind_timeout_ns: int = 10_000_000_000
    """unwinding -> closed (flagged) when the unwind has not filled by then: a person must look."""
    lot_base: int = 1
    """Net base below one lot is flat (nothing to hedge)."""


@dataclass(frozen=True, slots=True)
class LegCommand:
    """What the execution sinks must do for an opportunity."""

    kind: CommandKind
    opportunity_id: str
    venue: str
    market_id: str
    side: Side
    size_base: int
    intent_id: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class LegTransition:
    """One row of the `legs` journal table: a state change and why."""

    opportunity_id: str
    from_state: LegsState
    to_state: LegsState
    reason: str
    net_base: int
    ts_ns: int


@dataclass(slots=True)
class _Leg:
    intent: OrderIntent
    sent: bool = False
    done: bool = False
    filled_base: int = 0
    quote_amount: int = 0
    fee_quote: int = 0


@dataclass(slots=True)
class OpportunityLegs:
    """The legs of one opportunity and where they stand. Plain data: snapshot-able."""

    opportunity_id: str
    buy: _Leg
    sell: _Leg
    dex_venues: frozenset[str]
    hedge_market: tuple[str, str] | None
    """(venue, market_id) of the hedge (a CEX perp), or None: unwind straight away."""
    state: LegsState = "planned"
    since_ns: int = 0
    hedge_intent: str = ""
    """The latest flattening order sent (hedge, then unwind)."""
    hedge_filled_base: int = 0
    """Base sold minus bought by every flattening order (hedge, unwind, perp close)."""
    flattening: dict[str, bool] = field(default_factory=dict)
    """Intent id of each flattening order sent -> whether it trades the perp."""
    perp_sold_base: int = 0
    """The perp position: base sold minus bought there (short > 0); closed before `closed`."""
    hedge_side: Side = "sell"
    hedge_size_base: int = 0
    """The hedge order's side and size (what a query of it names)."""
    perp_covered_base: int = 0
    """The perp position the close orders sent so far were sized to close (short > 0)."""
    cumulative: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Intent id -> the largest (filled base, quote, fee) reported for that order: reports carry
    an order's cumulative fill, so a repeated report adds only what it has beyond this."""
    final: set[str] = field(default_factory=set)
    """Intent ids of the flattening orders whose final report has arrived."""
    queried: bool = False
    last_ns: int = 0
    """The latest report time seen: reports may arrive in any order, the clock never goes back."""
    transitions: list[LegTransition] = field(default_factory=list)

    @property
    def net_base(self) -> int:
        """Base bought minus base sold (the hedge counts on its side), base units."""
        return self.buy.filled_base - self.sell.filled_base - self.hedge_filled_base

    @property
    def spot_net_base(self) -> int:
        """The spot position alone (the perp hedge left out), base units."""
        return self.net_base + self.perp_sold_base

    def legs(self) -> tuple[_Leg, _Leg]:
        """(buy leg, sell leg)."""
        return self.buy, self.sell

    @property
    def hedge_intent_id(self) -> str:
        """The intent id of the perp hedge order (sent or not)."""
        return self.opportunity_id + HEDGE_SUFFIX

    @property
    def hedge_perp_base(self) -> int:
        """What the hedge order sold on the perp (bought: < 0), base units, counted once."""
        filled = self.cumulative.get(self.hedge_intent_id, (0, 0, 0))[0]
        return filled if self.hedge_side == "sell" else -filled

    @property
    def hedge_open(self) -> bool:
        """Whether the perp hedge was sent and its final report has not arrived (it may fill)."""
        hedge = self.hedge_intent_id
        return hedge in self.flattening and hedge not in self.final

    def count(self, r: ExecutionReport) -> tuple[int, int, int]:
        """What `r` adds to its order's fill: (base, quote, fee) beyond the largest cumulative
        fill already reported for the order, all 0 for a repeat (never counted twice)."""
        seen = self.cumulative.get(r.intent_id, (0, 0, 0))
        if r.filled_base <= seen[0]:
            return 0, 0, 0
        self.cumulative[r.intent_id] = (r.filled_base, r.quote_amount, r.fee_quote)
        return r.filled_base - seen[0], r.quote_amount - seen[1], r.fee_quote - seen[2]


class LegMachine:
    """Every open opportunity's legs; `on_intents`, `on_report`, `on_tick` drive them."""

    def __init__(self, policy: LegPolicy, hedge_markets: dict[str, tuple[str, str]]) -> None:
        self.p = policy
        self.hedge_markets = hedge_markets
        """CEX venue -> (perp venue, perp market id) used to hedge its pair's base."""
        self.open: dict[str, OpportunityLegs] = {}
        self.closed = 0

    # -- inputs -------------------------------------------------------------------------------

    def on_intents(
        self, buy: OrderIntent, sell: OrderIntent, dex_venues: frozenset[str], now_ns: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        """Start an accepted opportunity: send its first leg(s) as the leg order says."""
        oid = buy.opportunity_id
        if sell.opportunity_id != oid or buy.side != "buy" or sell.side != "sell":
            raise ExecutionError(
                f"{oid}: intents are not one buy and one sell leg", retryable=False
            )
        if oid in self.open:
            raise ExecutionError(f"{oid}: legs already planned (never sent twice)", retryable=False)
        cex = sell.venue if buy.venue in dex_venues else buy.venue
        legs = OpportunityLegs(
            oid, _Leg(buy), _Leg(sell), dex_venues, self.hedge_markets.get(cex), since_ns=now_ns
        )
        self.open[oid] = legs
        first = [x for x in legs.legs() if x.intent.venue in dex_venues]
        to_send = first if self.p.order == "dex_first" and len(first) == 1 else list(legs.legs())
        cmds = [self._send(legs, leg, now_ns) for leg in to_send]
        return cmds, [self._move(legs, "sent", f"sent {len(cmds)} leg(s)", now_ns)]

    def on_report(self, r: ExecutionReport) -> tuple[list[LegCommand], list[LegTransition]]:
        """Apply one execution report (leg, hedge or unwind) and move the machine on."""
        legs = self.open.get(r.opportunity_id)
        if legs is None:
            return [], []  # a late report of a closed opportunity: the journal has it
        # the machine's clock is the latest report seen, so the order reports of one moment
        # arrive in (batching, merges) cannot change what it decides
        legs.last_ns = max(legs.last_ns, r.ts_recv_ns, legs.since_ns)
        now = legs.last_ns
        on_perp = legs.flattening.get(r.intent_id)
        if on_perp is not None:
            base, _quote, _fee = legs.count(r)
            signed = base if r.side == "sell" else -base
            legs.hedge_filled_base += signed
            if on_perp:
                legs.perp_sold_base += signed
            if r.status in FINAL:
                legs.final.add(r.intent_id)
            return self._after_flattening(legs, r, now)
        leg = next((x for x in legs.legs() if x.intent.intent_id == r.intent_id), None)
        if leg is None:
            raise ExecutionError(f"{r.opportunity_id}: report for unknown leg {r.intent_id}",
                                 retryable=False)  # fmt: skip
        base, quote, fee = legs.count(r)
        leg.filled_base += base
        leg.quote_amount += quote
        leg.fee_quote += fee
        if r.status in FINAL:
            leg.done = True
        return self._after_leg(legs, leg, now)

    def on_kill(self, now_ns: int) -> tuple[list[LegCommand], list[LegTransition]]:
        """A kill: no leg not yet sent is ever sent, what rests is cancelled, and every net
        position is hedged or unwound by the policy (`hedge_markets`, else unwind).

        Planned opportunities close; a `dex_first` twin waiting for its DEX leg is dropped, so a
        filled DEX leg is flattened instead of completed; legs on the wire get a `cancel` (an
        IOC or a sent transaction cannot be recalled: its report still comes and is flattened
        when it does). Hedges and unwinds already running go on.
        """
        cmds: list[LegCommand] = []
        moves: list[LegTransition] = []
        for legs in list(self.open.values()):
            if legs.state == "planned":
                moves.append(self._close(legs, "kill: nothing sent", now_ns))
                continue
            if legs.state != "sent":
                continue
            for x in legs.legs():
                if not x.sent:
                    x.sent = x.done = True  # dropped by the kill: never on the wire, no fill
                elif not x.done:
                    i = x.intent
                    cmds.append(LegCommand("cancel", legs.opportunity_id, i.venue, i.market_id,
                                           i.side, i.size_base, i.intent_id, now_ns))  # fmt: skip
            if legs.buy.done and legs.sell.done:
                c, m = self._settle(legs, now_ns)
                cmds += c
                moves += m
        return cmds, moves

    def on_tick(self, now_ns: int) -> tuple[list[LegCommand], list[LegTransition]]:
        """Fire the timeouts due at `now_ns` (event time)."""
        cmds: list[LegCommand] = []
        moves: list[LegTransition] = []
        for legs in list(self.open.values()):
            c, m = self._timeout(legs, now_ns)
            cmds += c
            moves += m
        return cmds, moves

    # -- transitions --------------------------------------------------------------------------

    def _after_leg(
        self, legs: OpportunityLegs, leg: _Leg, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        if legs.state != "sent":
            return [], []
        buy, sell = legs.legs()
        twin = sell if leg is buy else buy
        if leg.done and not twin.sent:
            # dex_first: the DEX leg's outcome decides whether the CEX leg goes at all
            if leg.filled_base == 0:
                return [], [self._close(legs, "first leg filled nothing", now)]
            twin_intent = twin.intent
            if leg.filled_base < twin_intent.size_base:
                twin.intent = _resized(twin_intent, leg.filled_base)
            return [self._send(legs, twin, now)], []
        if not (buy.done and sell.done):
            return [], []
        return self._settle(legs, now)

    def _settle(
        self, legs: OpportunityLegs, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        """Both legs final: close flat, or hedge / unwind the net position."""
        buy, sell = legs.legs()
        if legs.net_base == 0 and buy.filled_base > 0:
            return [], [
                self._move(legs, "filled", "both legs filled", now),
                self._close(legs, "flat", now),
            ]
        if buy.filled_base == 0 and sell.filled_base == 0:
            return [], [self._move(legs, "failed", "no leg filled", now),
                        self._close(legs, "nothing filled, nothing to hedge", now)]  # fmt: skip
        state: LegsState = "partial" if buy.filled_base and sell.filled_base else "failed"
        move = self._move(legs, state, f"net {legs.net_base} base after both legs", now)
        cmds, more = self._hedge_or_unwind(legs, now)
        return cmds, [move, *more]

    def _hedge_or_unwind(
        self, legs: OpportunityLegs, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        net = legs.net_base
        if abs(net) < self.p.lot_base:
            return [], [self._close(legs, f"net {net} base is under one lot", now)]
        if legs.hedge_market is None:
            return self._unwind(legs, now, "no hedge market configured")
        venue, market = legs.hedge_market
        side: Side = "sell" if net > 0 else "buy"
        legs.hedge_intent = legs.opportunity_id + HEDGE_SUFFIX
        legs.flattening[legs.hedge_intent] = True
        legs.hedge_side, legs.hedge_size_base = side, abs(net)
        cmd = LegCommand("hedge", legs.opportunity_id, venue, market, side, abs(net),
                         legs.hedge_intent, now)  # fmt: skip
        return [cmd], [self._move(legs, "hedging", f"hedge {side} {abs(net)} on {market}", now)]

    def _after_flattening(
        self, legs: OpportunityLegs, r: ExecutionReport, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        lot = self.p.lot_base
        flat = abs(legs.net_base) < lot
        if legs.state == "hedging":
            if flat:
                hedged = self._move(legs, "hedged", f"hedge {r.status} {r.filled_base}", now)
                cmds, more = self._unwind(legs, now, "hedged: unwind the spot, close the perp")
                return cmds, [hedged, *more]
            if r.intent_id == legs.hedge_intent and r.status in ("rejected", "cancelled",
                                                                   "filled"):  # fmt: skip
                return self._unwind(legs, now, f"hedge {r.status} with net {legs.net_base} left")
            return [], []
        if legs.state != "unwinding":
            return [], []
        late: list[LegCommand] = []
        if r.intent_id == legs.hedge_intent_id and r.intent_id in legs.final:
            # the hedge's final report came after it timed out: close what it filled beyond
            # what the close orders already sent were sized for
            late = self._close_late_hedge(legs, now)
        if flat and abs(legs.perp_sold_base) < lot and not legs.hedge_open:
            return late, [self._move(legs, "unwound", f"{r.status} {r.filled_base}", now),
                          self._close(legs, "flat", now)]  # fmt: skip
        return late, []

    def _close_late_hedge(self, legs: OpportunityLegs, now: int) -> list[LegCommand]:
        """A follow-up close of the perp the hedge filled after its timeout (none when the
        close orders sent already cover it, or no hedge market)."""
        uncovered = legs.hedge_perp_base - legs.perp_covered_base
        if legs.hedge_market is None or abs(uncovered) < self.p.lot_base:
            return []
        oid = legs.opportunity_id
        close_id = oid + (LATE_CLOSE_SUFFIX if oid + CLOSE_SUFFIX in legs.flattening
                          else CLOSE_SUFFIX)  # fmt: skip
        if close_id in legs.flattening:
            return []  # both closes already out: the unwind timeout flags what is left
        venue, market = legs.hedge_market
        legs.flattening[close_id] = True
        legs.perp_covered_base += uncovered
        side: Side = "buy" if uncovered > 0 else "sell"
        return [LegCommand("unwind", oid, venue, market, side, abs(uncovered), close_id, now)]

    def _unwind(
        self, legs: OpportunityLegs, now: int, why: str
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        """Unwind the spot net on the spot venue that filled and close any perp position."""
        cmds: list[LegCommand] = []
        oid = legs.opportunity_id
        spot = legs.spot_net_base
        if abs(spot) >= self.p.lot_base:
            filled = legs.buy if spot > 0 else legs.sell
            side: Side = "sell" if spot > 0 else "buy"
            legs.hedge_intent = oid + UNWIND_SUFFIX
            legs.flattening[legs.hedge_intent] = False
            i = filled.intent
            cmds.append(LegCommand("unwind", oid, i.venue, i.market_id, side, abs(spot),
                                   legs.hedge_intent, now))  # fmt: skip
        perp = legs.perp_sold_base
        if legs.hedge_market is not None and abs(perp) >= self.p.lot_base:
            venue, market = legs.hedge_market
            close_id = oid + CLOSE_SUFFIX
            legs.flattening[close_id] = True
            legs.perp_covered_base += perp
            close_side: Side = "buy" if perp > 0 else "sell"
            cmds.append(LegCommand("unwind", oid, venue, market, close_side, abs(perp),
                                   close_id, now))  # fmt: skip
        if legs.hedge_open:
            # a hedge that gave up may still fill (an order on the wire cannot be recalled):
            # ask the venue, and close what it reports when it does (`_close_late_hedge`)
            venue, market = legs.hedge_market or ("", "")
            hedge_id = legs.hedge_intent_id
            cmds.append(LegCommand("query", oid, venue, market, legs.hedge_side,
                                   legs.hedge_size_base, hedge_id, now))  # fmt: skip
        return cmds, [self._move(legs, "unwinding", why, now)]

    def _timeout(
        self, legs: OpportunityLegs, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        age = now - legs.since_ns
        p = self.p
        if legs.state == "sent" and age > self._sent_timeout_ns(legs):
            if not legs.queried:
                # resolve by asking the venues before anything else: never re-send blindly
                legs.queried = True
                legs.since_ns = now
                return [
                    LegCommand("query", legs.opportunity_id, x.intent.venue, x.intent.market_id,
                               x.intent.side, x.intent.size_base, x.intent.intent_id, now)
                    for x in legs.legs() if x.sent and not x.done
                ], []  # fmt: skip
            for x in legs.legs():
                x.done = True
            if legs.net_base == 0:
                return [], [self._move(legs, "failed", "no report after query", now),
                            self._close(legs, "flat", now)]  # fmt: skip
            move = self._move(legs, "partial", "legs timed out with a net position", now)
            cmds, more = self._hedge_or_unwind(legs, now)
            return cmds, [move, *more]
        if legs.state == "hedging" and age > p.hedge_timeout_ns:
            return self._unwind(legs, now, "hedge timed out")
        if legs.state == "unwinding" and age > p.unwind_timeout_ns:
            open_txt = f"net {legs.net_base} base open, perp {-legs.perp_sold_base} base"
            if legs.hedge_open:
                open_txt += ", the hedge order never reported its end"
            return [], [self._close(legs, f"UNWIND TIMED OUT: {open_txt}", now)]
        return [], []

    # -- helpers ------------------------------------------------------------------------------

    def _sent_timeout_ns(self, legs: OpportunityLegs) -> int:
        dex_out = any(
            x.sent and not x.done and x.intent.venue in legs.dex_venues for x in legs.legs()
        )
        p = self.p
        return max(p.sent_timeout_ns, p.dex_sent_timeout_ns) if dex_out else p.sent_timeout_ns

    def _send(self, legs: OpportunityLegs, leg: _Leg, now: int) -> LegCommand:
        leg.sent = True
        i = leg.intent
        return LegCommand("send", legs.opportunity_id, i.venue, i.market_id, i.side, i.size_base,
                          i.intent_id, now)  # fmt: skip

    def _move(self, legs: OpportunityLegs, to: LegsState, why: str, now: int) -> LegTransition:
        t = LegTransition(legs.opportunity_id, legs.state, to, why, legs.net_base, now)
        legs.state = to
        legs.since_ns = now
        legs.transitions.append(t)
        return t

    def _close(self, legs: OpportunityLegs, why: str, now: int) -> LegTransition:
        t = self._move(legs, "closed", why, now)
        del self.open[legs.opportunity_id]
        self.closed += 1
        return t


def _resized(i: OrderIntent, size_base: int) -> OrderIntent:
    """The twin leg cut down to what the first leg filled (its limit scaled pro rata, rounded
    in the venue's favour so the limit never loosens; its predicted price pro rata too)."""
    if i.side == "buy":
        limit = i.limit_quote * size_base // i.size_base
    else:
        limit = -(-i.limit_quote * size_base // i.size_base)
    predicted = i.predicted_quote * size_base // i.size_base
    return replace(i, size_base=size_base, limit_quote=limit, predicted_quote=predicted)
