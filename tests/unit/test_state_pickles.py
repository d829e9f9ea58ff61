"""Every stateful step's snapshot pickles, and the unpickled copy carries on like the original.

Bytewax recovery pickles each step's snapshot at the end of an epoch and resumes from it, so a
snapshot that holds a module, a lock or the live object breaks recovery, and one that loses a
field silently changes the decisions after a restart. Here the graph's steps are driven in
process (routing as `engine.graph` does, one frame at a time) over the first part of each
sample; each step is snapshotted through the very adapter Bytewax calls, restored from the
bytes, and both the original and the copy are fed the rest of the stream: their outputs must be
equal, item for item (only the wall-clock detection stamp differs between any two runs).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from connectors.capture import read_capture
from engine.markets import CexMarketState, ClmmMarketState, ClobMarketStateAdapter
from engine.router import Router
from engine.steps import VIEW_TYPES, PairStep, PaperStep, RiskStep, _Logic, restore_state
from operators.events import HealthEvent, Opportunity, OrderIntent, RawFrame
from replay.source import ReplaySource
from sim.market import ALL_VENUES_MARKET, write_market_capture
from sim.simulate import (
    ALL_VENUES,
    SAMPLE_MARKETS,
    SAMPLE_MARKETS_ALL,
    SimConfig,
    write_capture,
)

CLASSIC = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
# the 7-venue sample's market model, busy (3x the default dislocation rate) so that 2 minutes
# trade on several venues in both halves
ALL = replace(ALL_VENUES_MARKET, duration_s=120, dislocations_per_min=12.0)
# Caps raised so that both halves of the all-venue session trade (exposure, open orders and the
# minute window all carry over the snapshot and shape later decisions).
RISK_ENV = {
    "SOLARB__RISK__MAX_NOTIONAL_PER_MINUTE_USD": "1000000",
    "SOLARB__RISK__MAX_OPEN_ORDERS": "64",
    "SOLARB__RISK__MAX_EXPOSURE_USD": "1000000",
}


class Graph:
    """The replay graph's stateful steps in one process, each behind Bytewax's adapter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.pairs: dict[str, _Logic] = {}
        self.risk = _Logic(lambda _x: RiskStep(settings), None)
        self.paper: dict[str, _Logic] = {}

    def _pair_factory(self) -> Callable[[Any], PairStep]:
        settings, router = self.settings, self.router
        return lambda item: PairStep(settings, router, item[2])

    def _paper_factory(self) -> Callable[[Any], PaperStep]:
        settings = self.settings
        return lambda x: PaperStep(settings, x.pair)

    def feed(self, frame: RawFrame) -> list[Any]:
        """One frame through route -> pair_state -> risk_guard -> paper_venue; all outputs."""
        mid = self.router.market_of(frame)
        if mid is None:
            return []
        pair = self.router.pair_of(mid)
        step = self.pairs.setdefault(pair, _Logic(self._pair_factory(), None))
        pair_out, _ = step.on_item((mid, frame, pair))
        out = list(pair_out)
        for x in pair_out:
            if isinstance(x, VIEW_TYPES):
                out += self._paper(x.pair, x)
            elif isinstance(x, (Opportunity, HealthEvent)):
                risk_out, _ = self.risk.on_item(x)
                out += risk_out
                for i in risk_out:
                    if isinstance(i, OrderIntent):
                        out += self._paper(i.pair, i)
        return out

    def _paper(self, pair: str, item: Any) -> list[Any]:
        step = self.paper.setdefault(pair, _Logic(self._paper_factory(), None))
        return step.on_item(item)[0]

    def end(self) -> list[Any]:
        """End of stream: every step's `on_eof` (counters, pending paper fills)."""
        out: list[Any] = []
        for steps in (self.pairs, {"risk": self.risk}, self.paper):
            for _key, step in sorted(steps.items()):
                out += step.on_eof()[0]
        return out

    def restored(self) -> Graph:
        """A new graph whose every step is rebuilt from its pickled snapshot bytes."""
        g = Graph(self.settings)
        g.pairs = {k: _Logic(g._pair_factory(), s.snapshot()) for k, s in self.pairs.items()}
        g.risk = _Logic(lambda _x: RiskStep(self.settings), self.risk.snapshot())
        g.paper = {k: _Logic(g._paper_factory(), s.snapshot()) for k, s in self.paper.items()}
        return g


def _comparable(items: list[Any]) -> list[Any]:
    # The detection stamp is perf_counter_ns at detection: wall clock, differs at every run.
    return [
        dataclasses.replace(x, ts_detect_wall_ns=0) if isinstance(x, Opportunity) else x
        for x in items
    ]


def _continue_both(settings: Settings, frames: list[RawFrame]) -> tuple[Graph, list, list]:
    split = len(frames) // 2
    original = Graph(settings)
    for f in frames[:split]:
        original.feed(f)
    copy = original.restored()
    rest_original: list[Any] = []
    rest_copy: list[Any] = []
    for f in frames[split:]:
        rest_original += original.feed(f)
        rest_copy += copy.feed(f)
    rest_original += original.end()
    rest_copy += copy.end()
    return copy, _comparable(rest_original), _comparable(rest_copy)


@pytest.fixture(scope="module")
def classic_frames(tmp_path_factory: pytest.TempPathFactory) -> list[RawFrame]:
    path = tmp_path_factory.mktemp("cap") / "classic.parquet"
    write_capture(path, CLASSIC)
    return list(read_capture(path))


@pytest.fixture(scope="module")
def all_venue_frames(tmp_path_factory: pytest.TempPathFactory) -> list[RawFrame]:
    path = tmp_path_factory.mktemp("cap") / "all.parquet"
    write_market_capture(path, ALL)
    return list(read_capture(path))


def test_unpickled_steps_continue_the_classic_sample_exactly_like_the_originals(
    classic_frames: list[RawFrame],
) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    copy, rest_original, rest_copy = _continue_both(settings, classic_frames)
    assert rest_copy == rest_original
    # The second half holds the -80 bps jump: the copy signals, decides and fills it itself.
    kinds = {type(x).__name__ for x in rest_copy}
    assert {"Opportunity", "RiskDecision", "OrderIntent", "ExecutionReport"} <= kinds
    assert list(copy.pairs) == ["SOL/USDC"]


def test_unpickled_steps_continue_the_seven_venue_sample_exactly_like_the_originals(
    all_venue_frames: list[RawFrame],
) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env=RISK_ENV)
    copy, rest_original, rest_copy = _continue_both(settings, all_venue_frames)
    assert rest_copy == rest_original
    pair_step = copy.pairs["SOL/USDC"].obj
    assert isinstance(pair_step, PairStep)
    venues = sorted(mid.split(":", 1)[0] for mid in pair_step.markets)
    assert venues == sorted(ALL_VENUES)
    assert {type(s) for s in pair_step.markets.values()} == {
        CexMarketState,
        ClmmMarketState,
        ClobMarketStateAdapter,
    }
    fills = [x for x in rest_copy if type(x).__name__ == "ExecutionReport"]
    assert len({f.venue.split(":", 1)[0] for f in fills}) >= 3


def test_a_snapshot_is_a_copy_later_items_do_not_change(classic_frames: list[RawFrame]) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    g = Graph(settings)
    for f in classic_frames[:100]:
        g.feed(f)
    step = g.pairs["SOL/USDC"]
    snap = step.snapshot()
    views_then = restore_state(snap).views
    for f in classic_frames[100:200]:
        g.feed(f)
    assert restore_state(snap).views == views_then < step.obj.views  # type: ignore[union-attr]


@pytest.mark.parametrize("stop_after_batches", [0, 1, 7, 10_000])
def test_replay_partition_resumed_from_its_snapshot_emits_exactly_the_frames_not_yet_emitted(
    tmp_path: Path, stop_after_batches: int
) -> None:
    path = tmp_path / "c.parquet"
    n = write_capture(path, CLASSIC)
    source = ReplaySource([path], partition_of=lambda _s: "all", batch_size=50, stamp_ingest=False)
    part = source.build_part("capture", "all", None)
    emitted: list[RawFrame] = []
    for _ in range(stop_after_batches):
        try:
            emitted += part.next_batch()
        except StopIteration:
            break
    resume = pickle.loads(pickle.dumps(part.snapshot()))
    assert resume == len(emitted)
    resumed = source.build_part("capture", "all", resume)
    while True:
        try:
            emitted += resumed.next_batch()
        except StopIteration:
            break
    assert emitted == list(read_capture(path))
    assert len(emitted) == n
    assert resumed.snapshot() == n
