"""The one graph builder every flow uses: raw frames in, journal records out.

    raw frames ─► route ─► market_state (keyed per market: L2 book | CLMM pool) ─► venue views
    venue views ─► pair_engine (keyed per pair: net-of-fee spread at size) ─► opportunities
    opportunities + health ─► risk_guard (one key: caps, exposure, kill switch) ─► intents
    intents + venue views ─► execution venue (paper here; keyed per pair) ─► execution reports
    every stage ─► journal

Live, paper and replay differ only in the source they pass in and the journal/execution sinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulLogic

from config import Settings
from config.params import spread_params_from_settings
from connectors.journal import CounterRecord
from connectors.market_state import (
    CEX_MODULES,
    CexMarketState,
    MarketState,
    Router,
    build_market_state,
)
from connectors.solana.sources import FEED_SOURCE
from operators.events import HealthEvent, Opportunity, OrderIntent, RawFrame
from operators.paper import PaperVenue
from operators.risk import RiskGuard, RiskParams, usd_to_quote_units
from operators.spread import PairEngine
from operators.views import CexBookView, ClmmView, ClobView

VIEW_TYPES = (CexBookView, ClmmView, ClobView)
RISK_KEY = "risk"
UNROUTED = "\x00unrouted"
"""Route key of frames no configured market claims (never a pair name)."""
FEED_HEALTH = "solana:feed-health"
"""Pseudo market id of Solana feed health items routed into every pair's state."""


class _Logic(StatefulLogic[Any, Any, Any]):
    """Adapter: a plain stateful object with `on_item(v) -> list` and `on_eof() -> list`.

    Bytewax hands a builder only the resume state, not the key, so the object is made from the
    first item (which names its market or pair) unless a snapshot restores it.
    """

    def __init__(self, factory: Callable[[Any], Any], resume: Any | None) -> None:
        self.factory = factory
        self.obj = resume

    def on_item(self, value: Any) -> tuple[list[Any], bool]:
        if self.obj is None:
            self.obj = self.factory(value)
        return self.obj.on_item(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[Any], bool]:
        return ([] if self.obj is None else self.obj.on_eof()), StatefulLogic.RETAIN

    def snapshot(self) -> Any:
        return self.obj


def _stateful(step_id: str, up: Any, factory: Callable[[Any], Any]) -> Any:
    return op.stateful(step_id, up, lambda resume: _Logic(factory, resume))


class _PairStep:
    """All markets of one pair and its spread engine, in one keyed step.

    Book/pool states are keyed per market *inside* the pair's step rather than in a step of
    their own: Bytewax groups a batch by key, so separate per-market steps would hand the pair
    join one market's views before the other's. Keeping them together keeps the exact receive
    order, which is what makes a replay reproduce a session decision for decision at any
    batch size. Pairs are the unit of scale-out across workers.
    """

    def __init__(self, settings: Settings, router: Router, pair: str) -> None:
        self.settings = settings
        self.router = router
        self.pair = pair
        self.markets: dict[str, MarketState] = {}
        self.engine = PairEngine(spread_params_from_settings(settings, pair))
        self.views = 0

    def on_item(self, item: tuple[str, Any, str]) -> list[Any]:
        market_id, frame, _pair = item
        if market_id == FEED_HEALTH:
            # Feed down/lag/resync reaches the pair's markets of that feed (the Solana feed:
            # every DEX market; a CEX connection: its venue's books), so a view is flagged the
            # moment its feed is, not only after the staleness timeout.
            out: list[Any] = []
            solana = frame.source == FEED_SOURCE
            for st in self.markets.values():
                if solana != isinstance(st, CexMarketState):
                    out += st.on_health(frame)
        else:
            state = self.markets.get(market_id)
            if state is None:
                state = self.markets[market_id] = build_market_state(
                    self.settings, self.router, market_id
                )
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
        return out + opps if opps else out

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
        return out


class _UnroutedStep:
    """Counts the frames of one source that matched no configured market."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames = 0

    def on_item(self, item: Any) -> list[Any]:
        self.frames += 1
        return []

    def on_eof(self) -> list[Any]:
        return [CounterRecord("route", self.source, "unrouted_frames", self.frames)]


def risk_params(settings: Settings, quote_decimals: int) -> RiskParams:
    """Risk rails from config, caps converted to the pair quote currency's base units."""
    r = settings.risk
    one = settings.fx.get("USDC", Decimal(1))
    return RiskParams(
        max_notional_quote=usd_to_quote_units(r.max_notional_usd, quote_decimals, one),
        max_notional_per_minute_quote=usd_to_quote_units(
            r.max_notional_per_minute_usd, quote_decimals, one
        ),
        max_exposure_quote=usd_to_quote_units(r.max_exposure_usd, quote_decimals, one),
        max_open_orders=r.max_open_orders,
        kill_switch=r.kill_switch,
        feed_down_kill_ns=r.ws_down_kill_ms * 1_000_000,
        max_slot_lag=r.max_slot_lag,
        limit_slippage_bps=r.limit_slippage_bps,
    )


class _RiskStep:
    def __init__(self, settings: Settings) -> None:
        qd = settings.pairs[0].quote_decimals if settings.pairs else 6
        self.guard = RiskGuard(risk_params(settings, qd))

    def on_item(self, item: Any) -> list[Any]:
        if isinstance(item, HealthEvent):
            return list(self.guard.on_health(item))
        decision, intents = self.guard.on_opportunity(item)
        return [decision, *intents]

    def on_eof(self) -> list[Any]:
        s = self.guard.s
        return [
            CounterRecord("risk_guard", RISK_KEY, "accepted", s.accepted),
            CounterRecord("risk_guard", RISK_KEY, "rejected", s.rejected),
            CounterRecord("risk_guard", RISK_KEY, "killed", int(s.killed)),
        ]


class _PaperStep:
    def __init__(self, settings: Settings, pair: str) -> None:
        p = settings.pair(pair)
        e = settings.engine
        self.venue = PaperVenue(
            p.base_decimals,
            p.quote_decimals,
            e.paper_cex_latency_ms * 1_000_000,
            e.paper_dex_latency_ms * 1_000_000,
        )

    def on_item(self, item: Any) -> list[Any]:
        if isinstance(item, OrderIntent):
            return list(self.venue.on_intent(item))
        return list(self.venue.on_view(item))

    def on_eof(self) -> list[Any]:
        return list(self.venue.on_end())


@dataclass(frozen=True)
class GraphOutputs:
    """Streams a flow may send to sinks: everything for the journal, and the intents alone."""

    journal: Stream[Any]
    intents: Stream[OrderIntent]
    opportunities: Stream[Opportunity]


def build_graph(
    flow: Dataflow,
    raw: Stream[RawFrame],
    settings: Settings,
    health: Stream[HealthEvent] | None = None,
    paper: bool = True,
) -> GraphOutputs:
    """Wire the shared graph onto `raw`; return the streams for the flow's sinks."""
    router = Router(settings)

    def route(f: RawFrame) -> tuple[str, tuple[str, RawFrame, str]]:
        mid = router.market_of(f)
        if mid is None:
            return UNROUTED, (f.source, f, "")
        pair = router.pair_of(mid)
        return pair, (mid, f, pair)

    routed = op.branch("routed", op.map("route", raw, route), lambda kv: kv[0] != UNROUTED)
    keyed = routed.trues
    # frames of no configured market are counted per source (journal counters), not lost silently
    unrouted = op.key_rm(
        "unrouted_counts",
        _stateful(
            "unrouted",
            op.key_on("unrouted_by_source", routed.falses, lambda kv: kv[1][0]),
            lambda item: _UnroutedStep(item[1][0]),
        ),
    )
    if health is not None:
        pairs = [p.name for p in settings.pairs]

        def to_pairs(ev: HealthEvent) -> list[tuple[str, tuple[str, HealthEvent, str]]]:
            wanted = ev.source == FEED_SOURCE or ev.source in CEX_MODULES
            return [(p, (FEED_HEALTH, ev, p)) for p in pairs] if wanted else []

        keyed = op.merge("pair_in", keyed, op.flat_map("feed_health_to_pairs", health, to_pairs))
    pair_out = _stateful("pair_state", keyed, lambda item: _PairStep(settings, router, item[2]))
    items = op.key_rm("pair_items", pair_out)
    split = op.branch("views_or_other", items, lambda x: isinstance(x, VIEW_TYPES))
    views = op.key_on("views_by_pair", split.trues, lambda v: v.pair)
    opp_split = op.branch("opps", split.falses, lambda x: isinstance(x, Opportunity))
    opps = opp_split.trues
    health_local = op.filter(
        "health_events", opp_split.falses, lambda x: isinstance(x, HealthEvent)
    )
    risk_in_streams = [opps, health_local] + ([health] if health is not None else [])
    risk_in = op.key_on("risk_key", op.merge("risk_in", *risk_in_streams), lambda _: RISK_KEY)
    risk_out = op.key_rm(
        "risk_items", _stateful("risk_guard", risk_in, lambda _x: _RiskStep(settings))
    )
    intent_split = op.branch("intents", risk_out, lambda x: isinstance(x, OrderIntent))
    intents: Stream[OrderIntent] = intent_split.trues

    journal_parts = [opps, intent_split.trues, intent_split.falses, opp_split.falses, unrouted]
    if paper:
        intents_by_pair = op.key_on("intents_by_pair", intents, lambda i: i.pair)
        paper_in = op.merge("paper_in", views, intents_by_pair)
        fills = op.key_rm(
            "fills",
            _stateful("paper_venue", paper_in, lambda x: _PaperStep(settings, x.pair)),
        )
        journal_parts.append(fills)
    journal = op.merge("to_journal", *journal_parts)
    return GraphOutputs(journal=journal, intents=intents, opportunities=opps)
