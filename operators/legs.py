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

Slicing (issue 11): a CEX IOC leg deeper than the book's usual depth at its limit (the rolling
quantile of `operators/depth.py`, measured when the leg is made) is sent as N child IOC orders
one after another, each at the same limit price, the next when the previous has a final report;
the leg's fill is their sum, and a slice that fills short (`partial` + `cancelled`, or
`rejected`: the book is exhausted at the limit) ends the slicing, so the leg settles `partial`
and is hedged / unwound as usual. Each slice has its own intent id (`<leg>#slice<k>`, the host
derives its client order id from it) and a `sent -> sent` row in the `legs` table saying "slice
k/N by p95 depth D". FOK legs, DEX legs, hedges and unwinds are never sliced. After a restore
from a snapshot (`on_resume`) every further CEX order of an open opportunity is sent with
`probe`: the venue is asked about its client id first (it may have gone out after the
snapshot), so no slice is ever sent twice.

Every state has a timeout (`LegPolicy`), so no opportunity can wait forever. Time is the
events' own (`ts_recv_ns` of reports, `now_ns` of ticks), never a wall clock, so a replay takes
the same steps. The machine only decides: it returns `LegCommand`s (send / hedge / unwind /
query) for the execution sinks and `LegTransition`s for the journal's `legs` table. Amounts are
base units and quote base units (integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from operators.depth import SlicePlan, Slicer
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
SLICE_SEP = "#slice"
"""A slice's intent id is its leg's, this, and the slice number (1..N)."""


@dataclass(frozen=True, slots=True)
class FlattenFx:
    """The currency and ratio of a flattening order (hedge, unwind, perp close) of a pair.

    Its fills must be valued in the pair's quote like the legs' (operators/fx.py). An unwind on
    a leg's own market takes that leg's currency and ratio (`leg`); an order on the perp hedge
    takes its market's currency: at par when it is the pair's, else the ratio the opportunity
    decided that currency at when one of its legs was quoted in it (`opportunity`), else the
    `[fx]` constant (`[fx] constant`, as the perp fee is valued live). Plain data.
    """

    pair_quote: str = ""
    currency_of: dict[str, str] = field(default_factory=dict)
    """Market id (the hedge perps) -> its quote currency."""
    constants: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Currency -> its `[fx]` constant in the pair's quote, exact (num, den)."""

    def terms(self, legs: OpportunityLegs, market_id: str) -> tuple[str, tuple[int, int], str]:
        """(quote currency, ratio, source) of a flattening order of `legs` on `market_id`."""
        for leg in (legs.buy, legs.sell):
            if leg.intent.market_id == market_id:
                i = leg.intent
                same = i.quote_currency in ("", self.pair_quote)
                return i.quote_currency, i.fx, "" if same else "leg"
        currency = self.currency_of.get(market_id, self.pair_quote)
        if currency == self.pair_quote:
            return "", (1, 1), ""  # the pair's own (spelled "" as on the legs)
        for leg in (legs.buy, legs.sell):
            if leg.intent.quote_currency == currency:
                return currency, leg.intent.fx, "opportunity"
        ratio = self.constants.get(currency)
        if ratio is None:
            raise ExecutionError(
                f"{legs.opportunity_id}: {market_id} is quoted in {currency}, which has no [fx]",
                retryable=False,
            )
        return currency, ratio, "[fx] constant"

    def apply(self, legs: OpportunityLegs, intent: OrderIntent) -> OrderIntent:
        """`intent` (a flattening order) with its market's currency and ratio (`terms`)."""
        currency, ratio, source = self.terms(legs, intent.market_id)
        if (currency, ratio, source) == (intent.quote_currency, intent.fx, intent.fx_source):
            return intent
        return replace(intent, quote_currency=currency, fx=ratio, fx_source=source)


def slice_intent_id(leg_intent_id: str, slice_no: int) -> str:
    """The intent id of slice `slice_no` (1..N) of a sliced leg."""
    return f"{leg_intent_id}{SLICE_SEP}{slice_no}"


def leg_intent_id(intent_id: str) -> str:
    """The leg an intent id belongs to: a slice's leg, or the id itself."""
    return intent_id.split(SLICE_SEP, 1)[0]


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
    slice_no: int = 0
    """1..N for a slice of a sliced leg (its client id has its own slice digit), else 0."""
    intent: OrderIntent | None = None
    """A slice's own order (its id, size, the leg's limit price pro rata); None otherwise."""
    probe: bool = False
    """Ask the venue about this order's client id before sending it (after a restore)."""


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
    plan: SlicePlan | None = None
    """How the leg is sliced (None: one order)."""
    slice_no: int = 0
    """The slice on the wire or last sent (1..N), 0 before the first."""
    slice_filled_base: int = 0
    """What the current slice has filled so far."""
    last_slice: bool = False
    """No slice after the current one (the plan's last, or a kill stopped the slicing)."""

    def slice_order(self) -> OrderIntent:
        """The current slice's order: its own id and size at the leg's limit price."""
        assert self.plan is not None and self.slice_no > 0
        size = self.plan.sizes_base[self.slice_no - 1]
        return replace(
            _resized(self.intent, size),
            intent_id=slice_intent_id(self.intent.intent_id, self.slice_no),
        )

    def order_id(self) -> str:
        """The intent id of what is on the wire for this leg (its current slice's, if sliced)."""
        if self.plan is None:
            return self.intent.intent_id
        return slice_intent_id(self.intent.intent_id, self.slice_no)


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
    resumed: bool = False
    """Restored from a snapshot: CEX orders sent from now on are probed first (`probe`)."""
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

    def __init__(
        self,
        policy: LegPolicy,
        hedge_markets: dict[str, tuple[str, str]],
        slicer: Slicer | None = None,
    ) -> None:
        self.p = policy
        self.hedge_markets = hedge_markets
        """CEX venue -> (perp venue, perp market id) used to hedge its pair's base."""
        self.slicer = slicer
        """Plans the slices of a CEX leg deeper than its book's usual depth (None: never)."""
        self.open: dict[str, OpportunityLegs] = {}
        self.closed = 0

    def on_resume(self) -> None:
        """The machine was restored from a snapshot: orders sent after it was taken are unknown
        here, so every further CEX order of the open opportunities is probed before it is sent."""
        for legs in self.open.values():
            legs.resumed = True

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
        moves = [self._move(legs, "sent", f"sent {len(cmds)} leg(s)", now_ns)]
        return cmds, moves + [m for leg in to_send for m in self._slice_note(legs, leg, now_ns)]

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
        base_id = leg_intent_id(r.intent_id)
        leg = next((x for x in legs.legs() if x.intent.intent_id == base_id), None)
        if leg is None:
            raise ExecutionError(f"{r.opportunity_id}: report for unknown leg {r.intent_id}",
                                 retryable=False)  # fmt: skip
        if leg.plan is not None and (leg.done or r.intent_id != leg.order_id()):
            return [], []  # an earlier slice's report again (already counted): the journal has it
        base, quote, fee = legs.count(r)
        leg.filled_base += base
        leg.quote_amount += quote
        leg.fee_quote += fee
        if leg.plan is not None:
            return self._after_slice(legs, leg, r, base, now)
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
                    x.last_slice = True  # a sliced leg ends with the slice on the wire
                    cmds.append(self._order_cmd("cancel", legs, x, now_ns))
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
            return [self._send(legs, twin, now)], self._slice_note(legs, twin, now)
        if not (buy.done and sell.done):
            return [], []
        return self._settle(legs, now)

    def _after_slice(
        self, legs: OpportunityLegs, leg: _Leg, r: ExecutionReport, base: int, now: int
    ) -> tuple[list[LegCommand], list[LegTransition]]:
        """A report of the slice on the wire (`base`: what it adds to the slice's fill): the
        next slice once it filled in full; one that fills short (the book exhausted at the
        limit) ends the slicing."""
        leg.slice_filled_base += base
        if r.status not in FINAL:
            return [], []
        plan = leg.plan
        assert plan is not None
        k, n = leg.slice_no, len(plan.sizes_base)
        if r.status == "filled" and not leg.last_slice and legs.state == "sent":
            leg.slice_no += 1
            leg.slice_filled_base = 0
            leg.last_slice = leg.slice_no == n
            legs.queried = False  # the query-then-give-up timeout starts again for this slice
            return [self._order_cmd("send", legs, leg, now)], self._slice_note(legs, leg, now)
        leg.done = True
        moves: list[LegTransition] = []
        if k < n and legs.state == "sent":
            size = plan.sizes_base[k - 1]
            why = f"slice {k}/{n} {r.status} with {leg.slice_filled_base} of {size}: slicing ends"
            moves.append(self._move(legs, "sent", why, now))
        cmds, more = self._after_leg(legs, leg, now)
        return cmds, moves + more

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
                    self._order_cmd("query", legs, x, now)
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
        if (
            self.slicer is not None
            and i.market_id not in legs.dex_venues
            and i.venue not in legs.dex_venues
        ):
            leg.plan = self.slicer.plan(i, now)
            if leg.plan is not None:
                leg.slice_no = 1
                leg.last_slice = len(leg.plan.sizes_base) == 1
        return self._order_cmd("send", legs, leg, now)

    def _order_cmd(
        self, kind: CommandKind, legs: OpportunityLegs, leg: _Leg, now: int
    ) -> LegCommand:
        """The command that sends / queries / cancels what this leg has on the wire."""
        i = leg.intent
        probe = kind == "send" and legs.resumed and i.market_id not in legs.dex_venues
        if leg.plan is None:
            return LegCommand(kind, legs.opportunity_id, i.venue, i.market_id, i.side,
                              i.size_base, i.intent_id, now, probe=probe)  # fmt: skip
        o = leg.slice_order()
        return LegCommand(kind, legs.opportunity_id, o.venue, o.market_id, o.side, o.size_base,
                          o.intent_id, now, leg.slice_no, o, probe)  # fmt: skip

    def _slice_note(self, legs: OpportunityLegs, leg: _Leg, now: int) -> list[LegTransition]:
        """The `legs` row of a slice just sent: "slice k/N by p95 depth D" (+ the plan's note)."""
        plan = leg.plan
        if plan is None or leg.slice_no == 0:
            return []
        label = self.slicer.label if self.slicer is not None else "depth"
        why = f"slice {leg.slice_no}/{len(plan.sizes_base)} by {label} depth {plan.depth_base}"
        why += f" ({leg.intent.market_id} {leg.intent.side} {leg.intent.size_base} base)"
        if plan.note and leg.slice_no == 1:
            why += f": {plan.note}"
        return [self._move(legs, "sent", why, now)]

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
