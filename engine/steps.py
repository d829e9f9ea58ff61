"""The graph's stateful steps: plain objects with `on_item(v) -> list` and `on_eof() -> list`.

- `PairStep` (keyed per pair): every market of the pair (CEX book / CLMM pool / CLOB market
  state, engine/markets.py) and the pair's spread engine (`operators.spread.PairEngine`).
- `RiskStep` (one key): the risk guard (`operators.risk.RiskGuard`).
- `PaperStep` (keyed per pair): the paper venue (`operators.paper.PaperVenue`).

`stateful()` adapts them to Bytewax's `StatefulLogic`; their `snapshot()` is a deep, picklable
copy (Bytewax forbids handing out the live object, and recovery pickles it).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import bytewax.operators as op
from bytewax.operators import StatefulLogic

from config import Settings
from connectors.journal import CounterRecord
from connectors.solana.sources import FEED_SOURCE
from engine.markets import CexMarketState, MarketState, build_market_state
from engine.params import risk_params, spread_params_from_settings
from engine.router import Router
from operators.events import HealthEvent, OrderIntent
from operators.paper import PaperVenue
from operators.risk import RiskGuard
from operators.spread import PairEngine
from operators.views import CexBookView, ClmmView, ClobView

VIEW_TYPES = (CexBookView, ClmmView, ClobView)
RISK_KEY = "risk"
UNROUTED = "\x00unrouted"
"""Route key of frames no configured market claims (never a pair name)."""
FEED_HEALTH = "solana:feed-health"
"""Pseudo market id of feed health items routed into every pair's state."""


class _Logic(StatefulLogic[Any, Any, bytes]):
    """Adapter: a plain stateful object with `on_item(v) -> list` and `on_eof() -> list`.

    Bytewax hands a builder only the resume state, not the key, so the object is made from the
    first item (which names its market or pair) unless a snapshot restores it. The snapshot is
    the object pickled: an immutable copy, as Bytewax requires, made only when Bytewax asks
    (at the end of each recovery epoch, or once at the end without recovery).
    """

    def __init__(self, factory: Callable[[Any], Any], resume: bytes | None) -> None:
        self.factory = factory
        self.obj = None if resume is None else pickle.loads(resume)

    def on_item(self, value: Any) -> tuple[list[Any], bool]:
        if self.obj is None:
            self.obj = self.factory(value)
        return self.obj.on_item(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[Any], bool]:
        return ([] if self.obj is None else self.obj.on_eof()), StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.obj, protocol=pickle.HIGHEST_PROTOCOL)


def stateful(step_id: str, up: Any, factory: Callable[[Any], Any]) -> Any:
    return op.stateful(step_id, up, lambda resume: _Logic(factory, resume))


class PairStep:
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


class RiskStep:
    def __init__(self, settings: Settings) -> None:
        self.guard = RiskGuard(risk_params(settings))

    def on_item(self, item: Any) -> list[Any]:
        if isinstance(item, HealthEvent):
            return [*self.guard.on_health(item), *self.guard.take_kills()]
        decision, intents = self.guard.on_opportunity(item)
        # a kill or re-arm the opportunity's clock brought about is journaled after it
        return [decision, *intents, *self.guard.take_events(), *self.guard.take_kills()]

    def on_eof(self) -> list[Any]:
        s = self.guard.s
        return [
            CounterRecord("risk_guard", RISK_KEY, "accepted", s.accepted),
            CounterRecord("risk_guard", RISK_KEY, "rejected", s.rejected),
            CounterRecord("risk_guard", RISK_KEY, "killed", int(s.killed)),
        ]


class PaperStep:
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


