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
from dataclasses import dataclass, replace
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulLogic

from config import Settings
from config.params import spread_params_from_settings
from connectors.journal import CounterRecord
from connectors.market_state import Router, build_market_state
from operators.events import HealthEvent, Opportunity, OrderIntent, RawFrame
from operators.paper import PaperVenue
from operators.risk import RiskGuard, RiskParams, usd_to_quote_units
from operators.spread import PairEngine
from operators.views import CexBookView, ClmmView, ClobView

VIEW_TYPES = (CexBookView, ClmmView, ClobView)
RISK_KEY = "risk"


class _Logic(StatefulLogic[Any, Any, Any]):
    """Adapter: a plain stateful object with `on_item(v) -> list` and `on_eof() -> list`."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def on_item(self, value: Any) -> tuple[list[Any], bool]:
        return self.obj.on_item(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[Any], bool]:
        return self.obj.on_eof(), StatefulLogic.RETAIN

    def snapshot(self) -> Any:
        return self.obj


class _MarketStep:
    def __init__(self, settings: Settings, router: Router, market_id: str) -> None:
        self.market_id = market_id
        self.state = build_market_state(settings, router, market_id)

    def on_item(self, frame: RawFrame) -> list[Any]:
        return self.state.on_frame(frame)

    def on_eof(self) -> list[Any]:
        st = self.state
        return [
            CounterRecord("market_state", self.market_id, name, int(getattr(st, name)))
            for name in ("frames", "resyncs", "decode_errors")
            if hasattr(st, name)
        ]


class _PairStep:
    def __init__(self, settings: Settings, pair: str) -> None:
        self.pair = pair
        self.engine = PairEngine(spread_params_from_settings(settings, pair))
        self.views = 0

    def on_item(self, view: Any) -> list[Any]:
        self.views += 1
        opps = self.engine.on_view(view, view.ts_recv_ns)
        if not opps:
            return []
        now = time.perf_counter_ns()
        return [replace(o, ts_ingest_ns=view.ts_ingest_ns, ts_detect_wall_ns=now) for o in opps]

    def on_eof(self) -> list[Any]:
        out = [CounterRecord("pair_engine", self.pair, "views", self.views)]
        out += [
            CounterRecord("pair_engine", self.pair, k, int(v))
            for k, v in sorted(self.engine.counters.items())
        ]
        return out


def risk_params(settings: Settings, quote_decimals: int) -> RiskParams:
    """Risk rails from config, caps converted to the pair quote currency's base units."""
    r = settings.risk
    one = settings.fx.get("USDC", 1)
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

    def route(f: RawFrame) -> tuple[str, RawFrame] | None:
        mid = router.market_of(f)
        return None if mid is None else (mid, f)

    keyed = op.filter_map("route", raw, route)
    market_out = op.stateful(
        "market_state", keyed, lambda mid: _Logic(_MarketStep(settings, router, mid))
    )
    market_items = op.key_rm("market_items", market_out)
    split = op.branch("views_or_other", market_items, lambda x: isinstance(x, VIEW_TYPES))
    views = op.key_on("views_by_pair", split.trues, lambda v: v.pair)

    pair_out = op.stateful("pair_engine", views, lambda pair: _Logic(_PairStep(settings, pair)))
    pair_items = op.key_rm("pair_items", pair_out)
    opp_split = op.branch("opps", pair_items, lambda x: isinstance(x, Opportunity))
    opps = opp_split.trues

    health_local = op.filter("health_events", split.falses, lambda x: isinstance(x, HealthEvent))
    risk_in_streams = [opps, health_local] + ([health] if health is not None else [])
    risk_in = op.key_on("risk_key", op.merge("risk_in", *risk_in_streams), lambda _: RISK_KEY)
    risk_out = op.key_rm(
        "risk_items", op.stateful("risk_guard", risk_in, lambda _k: _Logic(_RiskStep(settings)))
    )
    intent_split = op.branch("intents", risk_out, lambda x: isinstance(x, OrderIntent))
    intents: Stream[OrderIntent] = intent_split.trues

    journal_parts = [opps, intent_split.trues, intent_split.falses, split.falses, opp_split.falses]
    if paper:
        intents_by_pair = op.key_on("intents_by_pair", intents, lambda i: i.pair)
        paper_in = op.merge("paper_in", views, intents_by_pair)
        fills = op.key_rm(
            "fills",
            op.stateful("paper_venue", paper_in, lambda pair: _Logic(_PaperStep(settings, pair))),
        )
        journal_parts.append(fills)
    journal = op.merge("journal", *journal_parts)
    return GraphOutputs(journal=journal, intents=intents, opportunities=opps)
