"""The graph's stateful steps: plain objects with `on_item(v) -> list` and `on_eof() -> list`.

- `PairStep` (keyed per pair): every market of the pair (CEX book / CLMM pool / CLOB market
  state, engine/markets.py) and the pair's spread engine (`operators.spread.PairEngine`);
  live (`learn`), the reports that teach its estimators (operators/learning.py).
- `RiskStep` (one key): the risk guard (`operators.risk.RiskGuard`); live (`from_reports`),
  its exposure, open legs and daily loss from the reports (operators/guard_book.py).
- `PaperStep` (keyed per pair): the paper venue (`operators.paper.PaperVenue`), the legs
  (`operators.legs.LegMachine`) and the fill risk (`operators.fill_risk.FillRisk`).

`stateful()` adapts them to Bytewax's `StatefulBatchLogic`; their `snapshot()` is a deep,
picklable copy (Bytewax forbids handing out the live object, and recovery pickles it), or
nothing at all in a run without recovery (`snapshots=False`).
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.operators import StatefulBatchLogic

from config import DelaySettings, Settings
from connectors import venues
from connectors.journal import CounterRecord
from connectors.solana.sources import FEED_SOURCE
from engine.markets import CexMarketState, MarketState, build_market_state
from engine.params import (
    fill_risk_params,
    flatten_fx,
    hedge_markets,
    risk_params,
    spread_params_from_settings,
)
from engine.router import Router
from engine.state_version import STATE_VERSION
from operators.depth import DepthTracker, Slicer, quantile_ppm
from operators.errors import ConfigError
from operators.events import ExecutionReport, HealthEvent, OrderIntent
from operators.fill_risk import FillRisk
from operators.fx import PAR, FxRatio, stamp
from operators.latency import DelayDist, LatencyModel, VenueDelays
from operators.learning import FillLearner, FillObservation
from operators.legs import PERP_ORDERS, LegCommand, LegMachine, LegPolicy, OpportunityLegs
from operators.paper import HISTORY, PaperVenue
from operators.risk import NOTHING_RESTING, KillEffect, KillRecord, RiskGuard
from operators.settle import SettleQueue
from operators.spread import PairEngine
from operators.views import CexBookView, ClmmView, ClobView

VIEW_TYPES = (CexBookView, ClmmView, ClobView)
RISK_KEY = "risk"
UNROUTED = "\x00unrouted"
"""Route key of frames no configured market claims (never a pair name)."""
FEED_HEALTH = "solana:feed-health"
"""Pseudo market id of feed health items routed into every pair's state."""
FILL_REPORTS = "\x00reports"
"""Pseudo market id of live execution reports routed into their pair's state (learning)."""


class RecoveryStateError(ConfigError):
    """A recovery snapshot this build cannot resume (another state version, or not ours)."""


NO_SNAPSHOT = b"solarb:no-snapshot"
"""What a step built with `snapshots=False` hands Bytewax at an epoch end instead of its pickled
state: a run without recovery keeps no snapshot, so none is made (`restore_state` refuses it by
name, should one ever reach a resume)."""


class _Logic(StatefulBatchLogic[Any, Any, bytes]):
    """Adapter: a plain stateful object with `on_item(v) -> list` and `on_eof() -> list`.

    Bytewax hands a builder only the resume state, not the key, so the object is made from the
    first item (which names its market or pair) unless a snapshot restores it. The snapshot is
    `(STATE_VERSION, object)` pickled: an immutable copy, as Bytewax requires, made only when
    Bytewax asks (at the end of each epoch, recovery or not). A step built with
    `snapshots=False` (a run without recovery: nothing would read the copy) skips the pickling
    and hands `NO_SNAPSHOT`. A batch logic rather than `StatefulLogic`: Bytewax's per-item
    adapter would add a Python call per item between the batch and the object.
    """

    def __init__(
        self, factory: Callable[[Any], Any], resume: bytes | None, snapshots: bool = True
    ) -> None:
        self.factory = factory
        self.snapshots = snapshots
        self.obj = None if resume is None else restore_state(resume)

    def on_batch(self, values: list[Any]) -> tuple[list[Any], bool]:
        obj = self.obj
        if obj is None:
            if not values:
                return [], StatefulBatchLogic.RETAIN
            obj = self.obj = self.factory(values[0])
        if len(values) == 1:
            return obj.on_item(values[0]), StatefulBatchLogic.RETAIN
        out: list[Any] = []
        on_item = obj.on_item
        for v in values:
            out += on_item(v)
        return out, StatefulBatchLogic.RETAIN

    def on_item(self, value: Any) -> tuple[list[Any], bool]:
        """One item: a batch of one (tests drive the steps item by item)."""
        return self.on_batch([value])

    def on_eof(self) -> tuple[list[Any], bool]:
        return ([] if self.obj is None else self.obj.on_eof()), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        if not self.snapshots:
            return NO_SNAPSHOT
        return pickle.dumps((STATE_VERSION, self.obj), protocol=pickle.HIGHEST_PROTOCOL)


def restore_state(resume: bytes) -> Any:
    """The object of a `_Logic` snapshot; `RecoveryStateError` if another version wrote it."""
    if resume == NO_SNAPSHOT:
        raise RecoveryStateError(
            "recovery snapshot of a run built without snapshots (snapshots=False: no recovery "
            "configured when its flow was built): start with a fresh --recovery-dir"
        )
    try:
        state = pickle.loads(resume)
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError) as exc:
        raise RecoveryStateError(f"recovery snapshot unreadable by this build: {exc}") from None
    if not (isinstance(state, tuple) and len(state) == 2 and state[0] == STATE_VERSION):
        found = state[0] if isinstance(state, tuple) and state else "none"
        raise RecoveryStateError(
            f"recovery snapshot of state version {found}, this build reads {STATE_VERSION}: "
            "resume with the build that wrote it, or start with a fresh --recovery-dir"
        )
    return state[1]


def stateful(step_id: str, up: Any, factory: Callable[[Any], Any], snapshots: bool = True) -> Any:
    """A keyed Bytewax step around the plain object `factory(first item)` (`_Logic`);
    `snapshots=False` when the run has no recovery (its epoch ends then pickle nothing)."""
    return op.stateful_batch(step_id, up, lambda resume: _Logic(factory, resume, snapshots))


class PairStep:
    """All markets of one pair and its spread engine, in one keyed step.

    Book/pool states are keyed per market *inside* the pair's step rather than in a step of
    their own: Bytewax groups a batch by key, so separate per-market steps would hand the pair
    join one market's views before the other's. Keeping them together keeps the exact receive
    order, which is what makes a replay reproduce a session decision for decision at any
    batch size. Pairs are the unit of scale-out across workers.
    """

    def __init__(
        self,
        settings: Settings,
        router: Router,
        pair: str,
        prewarm_dex_curves: bool = True,
        epoch_ids: bool = False,
        learn: bool = False,
    ) -> None:
        self.settings = settings
        self.epoch_ids = epoch_ids
        """Live trading: opportunity ids carry this process's epoch (`PairEngine.id_epoch`),
        taken from the first frame's receive time after every start or resume."""
        self._epoch_pending = epoch_ids
        self.router = router
        self.pair = pair
        self.markets: dict[str, MarketState] = {}
        params = spread_params_from_settings(settings, pair)
        if not prewarm_dex_curves:  # a cache policy only: decisions are the same
            params = replace(params, prewarm_dex_curves=False)
        self.engine = PairEngine(params)
        self.views = 0
        self._notes_pending = True
        self.learner: FillLearner | None = None
        """Live (`learn`): the signals' predictions, and what the reports teach the engine."""
        self.settling: SettleQueue | None = None
        """Live: reports waiting for the event clock (operators/settle.py)."""
        if learn:
            dex = frozenset(
                m.market_id for m in settings.pair(pair).markets if not venues.is_cex(m.venue)
            )
            self.learner = FillLearner(dex, settings.gas.cu_limit)
            self.settling = SettleQueue(settings.risk.reports_settle_ms * 1_000_000)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a resumed step is a new process: its new signals get a new epoch (see __init__)
        self.__dict__.update(state)
        self._epoch_pending = self.epoch_ids

    def on_item(self, item: tuple[str, Any, str]) -> list[Any]:
        market_id, frame, _pair = item
        if self.settling is not None:
            if market_id == FILL_REPORTS:
                # takes effect once the frames' clock passes it, never on arrival (settle.py)
                self.settling.push(frame.ts_recv_ns, frame)
                return []
            for r in self.settling.due(frame.ts_recv_ns):
                self._learn(r)
        if self._epoch_pending and market_id != FEED_HEALTH:
            # the first frame's time (frames keep their recorded order in a replay of the
            # session; health events interleave with them by arrival)
            self._epoch_pending = False
            self.engine.id_epoch = id_epoch(frame.ts_recv_ns)
        if self._notes_pending:
            # constants standing in for live reference prices are journaled once, at start
            self._notes_pending = False
            ts = frame.ts_recv_ns
            notes = [
                HealthEvent(f"reference:{self.pair}", "constant", note, ts, ts)
                for note in self.engine.p.reference_notes
            ]
            if notes:
                return notes + self.on_item(item)
        if market_id == FEED_HEALTH:
            # Feed down/lag/resync reaches the pair's markets of that feed (the Solana feed:
            # every DEX market; a CEX connection: its venue's books), so a view is flagged the
            # moment its feed is, not only after the staleness timeout.
            out: list[Any] = []
            solana = frame.source == FEED_SOURCE
            self.engine.on_feed_health(frame)
            for st in self.markets.values():
                if solana != isinstance(st, CexMarketState):
                    out += st.on_health(frame)
        else:
            state = self.markets.get(market_id)
            if state is None:
                state = self.markets[market_id] = build_market_state(
                    self.settings, self.router, market_id
                )
            if market_id in self.router.hedges:
                # a hedge perp's book is for the paper venue's hedge fills: never an arb leg,
                # so the spread engine neither prices it nor follows its feed
                return state.on_frame(frame)
            # every frame says its feed is alive, whether or not it changes a view
            self.engine.heard(
                market_id, isinstance(state, CexMarketState), state.ref.market.venue,
                frame.ts_recv_ns, frame.slot or 0,
            )  # fmt: skip
            out = state.on_frame(frame)
        opps: list[Any] = []
        engine = self.engine
        for x in out:
            if isinstance(x, VIEW_TYPES):
                self.views += 1
                found = engine.on_view(x, x.ts_recv_ns)
                if found:
                    now = time.perf_counter_ns()
                    opps += [
                        replace(o, ts_ingest_ns=x.ts_ingest_ns, ts_detect_wall_ns=now)
                        for o in found
                    ]
                    if self.learner is not None:
                        for o in found:
                            self.learner.on_signal(o)
        return out + opps if opps else out

    def _learn(self, r: ExecutionReport) -> None:
        """Feed one report's fill slippage / landing outcome to the engine's estimators."""
        assert self.learner is not None
        for ob in self.learner.on_report(r):
            if isinstance(ob, FillObservation):
                self.engine.observe_fill(ob.market_id, ob.slippage_bps)
            else:
                self.engine.observe_landing(ob.cu_price_micro_lamports, ob.landed)

    def on_eof(self) -> list[Any]:
        out: list[Any] = []
        for mid, st in sorted(self.markets.items()):
            out += [
                CounterRecord("market_state", mid, name, int(getattr(st, name)))
                for name in ("frames", "views", "resyncs", "bad_frames", "decode_errors")
                if hasattr(st, name)
            ]
        out.append(CounterRecord("pair_engine", self.pair, "views", self.views))
        out += [
            CounterRecord("pair_engine", self.pair, k, int(v))
            for k, v in sorted(self.engine.counters.items())
        ]
        if self.learner is not None:
            out += self._learning_counters()
        return out

    def _learning_counters(self) -> list[CounterRecord]:
        """Live: what the estimators learned (every report applied), and where they stand."""
        assert self.learner is not None and self.settling is not None
        for r in self.settling.drain():
            self._learn(r)
        lr, e, pair = self.learner, self.engine, self.pair
        out = [
            CounterRecord("pair_engine", pair, "reports_seen", lr.reports),
            CounterRecord("pair_engine", pair, "fills_observed", lr.fills_observed),
            CounterRecord("pair_engine", pair, "landings_observed", lr.landings_observed),
        ]
        default = e.p.costs.slippage_default_ppb
        out += [
            CounterRecord("pair_engine", mid, "expected_slippage_ppb",
                          e.slippage.expected_ppb(mid, default))
            for mid in sorted(e.slippage.samples)
        ]  # fmt: skip
        g = e.p.costs.gas
        floor = e.landing.effective_floor(
            g.cu_price_floor_micro_lamports, g.cu_price_cap_micro_lamports
        )
        out.append(CounterRecord("pair_engine", pair, "cu_price_floor_micro_lamports", floor))
        return out


def id_epoch(ts_ns: int) -> str:
    """A short token of a process start: its first frame's receive time in ms, base 36."""
    return str(np.base_repr(max(ts_ns // 1_000_000, 0), 36)).lower()


class UnroutedStep:
    """Counts the frames of one source that matched no configured market."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames = 0

    def on_item(self, item: Any) -> list[Any]:
        self.frames += 1
        return []

    def on_eof(self) -> list[Any]:
        return [CounterRecord("route", self.source, "unrouted_frames", self.frames)]


@dataclass(frozen=True, slots=True)
class PairReport:
    """A live execution report of one pair, routed to the pair step and the guard (the
    execution source's key is the pair: the guard, one key, needs it with the report)."""

    pair: str
    report: ExecutionReport


class RiskStep:
    """The risk guard. `from_reports` (live trading): its exposure, open orders and daily PnL
    come from the execution reports (`PairReport`s), else from its own intents."""

    def __init__(self, settings: Settings, from_reports: bool = False) -> None:
        params = risk_params(settings)
        if from_reports:
            params = replace(params, from_reports=True)
        self.guard = RiskGuard(params)

    def on_item(self, item: Any) -> list[Any]:
        if isinstance(item, PairReport):
            self.guard.on_report(item.pair, item.report)
            return []
        if isinstance(item, HealthEvent):
            return [*self.guard.on_health(item), *self.guard.take_kills()]
        decision, intents = self.guard.on_opportunity(item)
        # a kill or re-arm the opportunity's clock brought about is journaled after it
        return [decision, *intents, *self.guard.take_events(), *self.guard.take_kills()]

    def on_eof(self) -> list[Any]:
        s = self.guard.s
        out = [
            CounterRecord("risk_guard", RISK_KEY, "accepted", s.accepted),
            CounterRecord("risk_guard", RISK_KEY, "rejected", s.rejected),
            CounterRecord("risk_guard", RISK_KEY, "killed", int(s.killed)),
        ]
        if self.guard.p.from_reports:
            out += self._book_counters()
        return out

    def _book_counters(self) -> list[CounterRecord]:
        """Live: what the guard booked from the reports, at the end (every report applied)."""
        self.guard.on_end()
        b = self.guard.s.book
        out = [
            CounterRecord("risk_guard", RISK_KEY, "reports", b.reports),
            CounterRecord("risk_guard", RISK_KEY, "open_legs", b.open_legs()),
            CounterRecord("risk_guard", RISK_KEY, "released_unreported", b.released_unreported),
            CounterRecord("risk_guard", RISK_KEY, "daily_pnl_usd_micro", b.daily_pnl_usd_micro),
        ]
        out += [
            CounterRecord("risk_guard", venue, "exposure_usd_micro", v)
            for venue, v in sorted(b.exposure_usd_micro.items())
        ]
        out += [
            CounterRecord("risk_guard", venue, "filled_usd_micro", v)
            for venue, v in sorted(b.filled_usd_micro.items())
        ]
        out += [
            CounterRecord("risk_guard", pair, "net_base", v)
            for pair, v in sorted(b.net_base.items())
        ]
        return out


def depth_slicer(settings: Settings, pair: str, lookahead: int = 0) -> Slicer | None:
    """The pair's CEX leg slicer from `[execution]` (None: `slice_by_depth = false`); lots and
    minimum notionals from the markets' `lot_size` / `min_notional`, in base / quote units."""
    x = settings.execution
    if not x.slice_by_depth:
        return None
    p = settings.pair(pair)
    cex = [m for m in p.markets if venues.is_cex(m.venue)]
    return Slicer(
        DepthTracker(
            x.slice_window, quantile_ppm(x.slice_depth_quantile), x.slice_min_samples, lookahead
        ),
        p.base_decimals,
        p.quote_decimals,
        lot_base={
            m.market_id: max(1, int(m.lot_size.scaleb(p.base_decimals)))
            for m in cex
            if m.lot_size is not None
        },
        min_notional_quote={
            m.market_id: math.ceil(m.min_notional.scaleb(p.quote_decimals))
            for m in cex
            if m.min_notional is not None
        },
    )


def paper_latency_model(settings: Settings) -> LatencyModel | None:
    """The `[paper]` latency distributions as the paper venue's model (None: none configured)."""
    if not settings.paper.latency:
        return None

    def dist(d: DelaySettings | None) -> DelayDist | None:
        if d is None:
            return None
        return DelayDist(round(d.median_ms * 1_000_000), round(d.p99_ms * 1_000_000))

    venues = {
        v: VenueDelays(dist(lat.feed), dist(lat.ack), dist(lat.confirm))
        for v, lat in settings.paper.latency.items()
    }
    return LatencyModel(settings.paper.seed, venues)


@dataclass(frozen=True, slots=True)
class PairControl:
    """A `solarb kill` / `arm` event (`control:manual`) addressed to one pair's paper step."""

    pair: str
    event: HealthEvent


@dataclass(frozen=True, slots=True)
class PairKill:
    """A trip of the guard (feed, clock, slot lag, `solarb kill`) addressed to one pair's
    execution step: the guard is upstream and one key, so its `KillRecord` is broadcast to every
    pair (engine/graph.py) for the step to flatten what it holds open."""

    pair: str
    record: KillRecord


def guard_kill(
    pair: str, legs: LegMachine, rec: KillRecord, cancel_note: str
) -> tuple[KillEffect, list[LegCommand], list[Any]]:
    """Flatten `legs` for the guard's kill `rec` (at its `tripped_ns`): the `kill_effects` row,
    the machine's commands (cancels, hedges, unwinds) and its transitions."""
    open_legs = len(legs.open)
    # legs the kill drops before they are ever sent: a plan's two, a waiting `dex_first` twin
    dropped = sum(
        2 if x.state == "planned" else sum(1 for leg in x.legs() if not leg.sent)
        for x in legs.open.values()
        if x.state in ("planned", "sent")
    )
    cmds, moves = legs.on_kill(rec.tripped_ns)
    kinds = [c.kind for c in cmds]
    cancelled = kinds.count("cancel")
    effect = KillEffect(
        scope=pair, cause=rec.cause, reason=rec.reason, tripped_ns=rec.tripped_ns,
        open_legs=open_legs, dropped=dropped, cancelled=cancelled, hedged=kinds.count("hedge"),
        unwound=kinds.count("unwind"), detail=cancel_note if cancelled else NOTHING_RESTING,
    )  # fmt: skip
    return effect, cmds, list(moves)


FILL_RISK_SOURCE = "risk:fill_risk"
"""`HealthEvent.source` of a paper step's fill-risk kill / re-arm (detail: the pair first)."""


class LegHost:
    """What the paper step and the live execution step (engine/exec_step.py) share: an
    opportunity's two intents are paired, refused (fill risk, a guard kill that came after their
    decision) or handed to the leg machine, whose commands the host dispatches its own way."""

    pair: str
    waiting: dict[str, OrderIntent]
    intents: dict[str, OrderIntent]
    risk: FillRisk
    guard_kill_ns: int
    legs: LegMachine
    dex_markets: frozenset[str]

    def _dispatch(self, cmds: list[LegCommand]) -> list[Any]:
        raise NotImplementedError

    def _cancel_note(self, on_wire: int) -> str:
        """What a fill-risk kill's `kills` row says of the `on_wire` orders it could not cancel."""
        raise NotImplementedError

    def _on_control(self, ev: HealthEvent) -> list[Any]:
        """`solarb arm` clears a fill-risk kill; a direct `kill` flattens the open legs."""
        now = ev.ts_recv_ns
        if ev.status == "rearm":
            if self.risk.on_arm(now):
                return [HealthEvent(FILL_RISK_SOURCE, "up", f"{self.pair}: {ev.detail}", now, now)]
            return []
        if ev.status == "kill":
            cmds, moves = self.legs.on_kill(now)
            return list(moves) + self._dispatch(cmds)
        return []

    def _on_kill(self, kills: list[KillRecord], now: int) -> list[Any]:
        """A fill-risk trip: journal it, flatten what is open (orders on the wire still report)."""
        cmds, moves = self.legs.on_kill(now)
        note = self._cancel_note(sum(1 for c in cmds if c.kind == "cancel"))
        out: list[Any] = [replace(k, cancelled=note) for k in kills]
        out += [
            HealthEvent(FILL_RISK_SOURCE, "kill", f"{self.pair}: {k.cause}: {k.reason}", now, now)
            for k in kills
        ]
        return out + list(moves) + self._dispatch(cmds)

    def _on_intent(self, intent: OrderIntent) -> list[Any]:
        twin = self.waiting.pop(intent.opportunity_id, None)
        if twin is None:
            self.waiting[intent.opportunity_id] = intent
            return []
        buy, sell = (twin, intent) if twin.side == "buy" else (intent, twin)
        refused = (
            self.risk.refuses(buy) or self.risk.refuses(sell)
            or decided_before_kill(buy, self.guard_kill_ns)
        )  # fmt: skip
        if refused:
            return [refusal_report(buy, refused), refusal_report(sell, refused)]
        self.intents[buy.intent_id], self.intents[sell.intent_id] = buy, sell
        cmds, moves = self.legs.on_intents(buy, sell, self.dex_markets, intent.ts_intent_ns)
        return list(moves) + self._dispatch(cmds)


class PaperStep(LegHost):
    """The paper venue, the legs' state machine and the fill risk of one pair, in one keyed step.

    A Bytewax graph has no cycles, so the leg machine (operators/legs.py) and the venue that
    answers its orders live together: the guard's two intents start an opportunity's legs, the
    machine's `send` / `unwind` commands become paper orders, the paper fills go back to the
    machine, and views move its clocks (timeouts). Out come the fills and the leg transitions
    (the journal's `fills` and `legs` tables).

    Fill risk (operators/fill_risk.py) sees every order sent and every report here. A kill it
    trips is journaled (`kills`, scope = the pair; a `risk:fill_risk` health event), flattens
    the open legs (`LegMachine.on_kill`) and refuses every new opportunity of the pair (each
    intent answered by a `rejected` report naming the kill) until `solarb arm` (the
    `control:manual` `rearm` event, routed here as a `PairControl`); a `solarb kill` flattens
    the open legs too. The state pickles with the step: a restart stays disarmed.

    Slicing (`[execution] slice_by_depth`): the pair's CEX views also feed the slicer
    (`operators/depth.Slicer`), so a CEX leg deeper than its book's usual depth at its limit is
    sent as slices (operators/legs.py), each filled as its own paper order.
    """

    def __init__(self, settings: Settings, pair: str) -> None:
        p = settings.pair(pair)
        e = settings.engine
        self.pair = pair
        self.venue = PaperVenue(
            p.base_decimals,
            p.quote_decimals,
            e.paper_cex_latency_ms * 1_000_000,
            e.paper_dex_latency_ms * 1_000_000,
            latency=paper_latency_model(settings),
        )
        # views newer than an order may already be here (batching): the slicer keeps as many
        # beyond its window as the venue keeps views, and counts only those up to the order
        self.slicer = depth_slicer(settings, pair, lookahead=HISTORY)
        self.legs = LegMachine(LegPolicy(order=e.leg_order), hedge_markets(p), self.slicer)
        self.flatten_fx = flatten_fx(settings, pair)
        """The currency and ratio of each hedge / unwind order (operators/legs.FlattenFx)."""
        self.unwind_bps = settings.dex_execution.unwind_slippage_bps
        """A perp hedge / close order's limit: the filled leg's price moved this far against us."""
        self.dex_markets = frozenset(m.market_id for m in p.markets if not venues.is_cex(m.venue))
        self.risk = FillRisk(fill_risk_params(settings), self.dex_markets, scope=pair)
        self.waiting: dict[str, OrderIntent] = {}
        """The first intent of an opportunity until its twin arrives (keyed by opportunity)."""
        self.intents: dict[str, OrderIntent] = {}
        """Every intent the legs may send, by intent id (resized twins replace theirs)."""
        self.guard_kill_ns = -1
        """`tripped_ns` of the guard's last kill seen here: an intent decided at or before it
        and arriving after it is refused (the guard's streams reach this step apart)."""

    def on_item(self, item: Any) -> list[Any]:
        if isinstance(item, VIEW_TYPES):  # nearly every item: tested first
            return self._on_view(item)
        if isinstance(item, OrderIntent):
            return self._on_intent(item)
        if isinstance(item, PairControl):
            return self._on_control(item.event)
        if isinstance(item, PairKill):
            return self._on_guard_kill(item.record)
        return self._on_view(item)

    def _on_view(self, view: Any) -> list[Any]:
        """A view: the paper venue's history and pending fills, the legs' clocks."""
        if self.slicer is not None and isinstance(view, CexBookView):
            self.slicer.observe(view)
        out = self.venue.on_view(view)
        cmds, moves = self.legs.on_tick(view.ts_recv_ns)
        if not out and not cmds and not moves:
            return []  # nothing pending filled, no leg's clock ran out: most views
        return self._reports(list(out)) + list(moves) + self._run(cmds)

    def on_eof(self) -> list[Any]:
        return self._reports(list(self.venue.on_end()))

    def _dispatch(self, cmds: list[LegCommand]) -> list[Any]:
        return self._run(cmds)

    def _on_guard_kill(self, rec: KillRecord) -> list[Any]:
        """The guard tripped: flatten the open legs; the `kill_effects` row says how."""
        self.guard_kill_ns = max(self.guard_kill_ns, rec.tripped_ns)
        effect, cmds, moves = guard_kill(
            self.pair, self.legs, rec, "order(s) on the wire, none resting (paper IOC)"
        )
        return [effect, *moves, *self._run(cmds)]

    def _run(self, cmds: list[LegCommand]) -> list[Any]:
        """Turn the machine's commands into paper orders (their fills feed the machine)."""
        out: list[Any] = []
        for c in cmds:
            if c.kind in ("query", "cancel"):
                # the paper venue answers every order, and its IOC orders never rest: nothing
                # is ever unknown, and nothing is left to cancel
                continue
            known = self.intents.get(c.intent_id)
            if c.intent is not None:
                # a slice of a sliced leg: its own id and size, at the leg's limit price
                order = replace(c.intent, ts_intent_ns=c.ts_ns)
            elif known is not None and c.kind == "send":
                order = replace(known, size_base=c.size_base, ts_intent_ns=c.ts_ns)
                legs = self.legs.open.get(c.opportunity_id)
                if legs is not None:  # a twin cut to its first leg's fill: its scaled limit
                    leg = legs.buy if c.side == "buy" else legs.sell
                    order = replace(
                        order,
                        limit_quote=leg.intent.limit_quote,
                        predicted_quote=leg.intent.predicted_quote,
                    )
            else:
                # a spot unwind: get flat at the market (no limit), on the command's market
                limit = 2**62 if c.side == "buy" else 0
                legs = self.legs.open.get(c.opportunity_id)
                on_perp = c.intent_id.endswith(PERP_ORDERS)
                if on_perp and legs is not None:
                    # the perp hedge and its closes: an IOC limit as live trading sends it
                    fx = self.flatten_fx.terms(legs, c.market_id)[1]
                    limit = flatten_limit_quote(legs, c.side, c.size_base, self.unwind_bps, fx)
                order = OrderIntent(
                    c.intent_id, c.opportunity_id, c.venue, c.market_id, c.side, c.size_base,
                    limit, c.ts_ns, c.ts_ns, c.ts_ns, known.pair if known else self.pair,
                )  # fmt: skip
                if legs is not None:  # its market's currency and ratio (operators/fx.py)
                    order = self.flatten_fx.apply(legs, order)
                if on_perp and not self.venue.views.get(c.market_id):
                    # no book of the perp has reached this step (its feed is not subscribed or
                    # has sent nothing yet): the hedge fails now and the legs unwind the spot
                    why = f"no book of hedge market {c.market_id} yet"
                    self.risk.on_intent(order)
                    out += self._reports([self.venue.reject_now(order, why)])
                    continue
            self.risk.on_intent(order)
            out += self._reports(list(self.venue.on_intent(order)))
        return out

    def _reports(self, reports: list[ExecutionReport]) -> list[Any]:
        """Journal each fill, feed it to the fill risk and the legs (at its fill time)."""
        out: list[Any] = []
        for r in reports:
            out.append(r)
            at_fill = replace(r, ts_recv_ns=r.ts_fill_ns)
            kills = self.risk.on_report(at_fill)
            cmds, moves = self.legs.on_report(at_fill)
            out += list(moves)
            out += self._run(cmds)
            if kills:
                out += self._on_kill(kills, at_fill.ts_recv_ns)
        return out

    def _cancel_note(self, on_wire: int) -> str:
        return (
            f"{on_wire} order(s) on the wire, none resting (paper IOC)" if on_wire
            else NOTHING_RESTING
        )  # fmt: skip


def flatten_limit_quote(
    legs: OpportunityLegs, side: str, size_base: int, unwind_bps: int, fx: FxRatio = PAR
) -> int:
    """The limit (quote base units for `size_base`, in the currency of the order's market, one
    unit of which is `fx` pair-quote units) of a hedge / unwind order: the filled leg's price
    (its intent's limit when nothing filled; its own currency, re-expressed through the pair's
    quote when the order's differs) moved `unwind_bps` against us."""
    filled = legs.buy if legs.buy.filled_base >= legs.sell.filled_base else legs.sell
    if filled.filled_base > 0:
        ref = Decimal(filled.quote_amount) / filled.filled_base
    else:
        ref = Decimal(filled.intent.limit_quote) / filled.intent.size_base
    if filled.intent.fx != fx:
        (n1, d1), (n2, d2) = filled.intent.fx, fx
        ref = ref * (n1 * d2) / (d1 * n2)
    move = Decimal(unwind_bps) / 10_000
    price = ref * (1 + move) if side == "buy" else ref * (1 - move)
    limit = int(price * size_base)
    if side == "buy":
        limit += 1  # rounding never tightens a buy's limit below the price
    return max(limit, 1)


def decided_before_kill(intent: OrderIntent, guard_kill_ns: int) -> str | None:
    """The refusal of an intent the guard let through at or before its last kill (None: none)."""
    if intent.ts_intent_ns <= guard_kill_ns:
        return f"decided before the kill switch tripped at {guard_kill_ns}"
    return None


def refusal_report(intent: OrderIntent, reason: str) -> ExecutionReport:
    """The report of a leg refused before it started: nothing sent, the reason journaled."""
    return stamp(ExecutionReport(
        intent_id=intent.intent_id,
        opportunity_id=intent.opportunity_id,
        venue=intent.venue,
        side=intent.side,
        status="rejected",
        filled_base=0,
        quote_amount=0,
        fee_quote=0,
        reason=f"refused: {reason}",
        ts_event_ns=intent.ts_event_ns,
        ts_recv_ns=intent.ts_recv_ns,
        ts_fill_ns=intent.ts_intent_ns,
    ), intent)  # fmt: skip
