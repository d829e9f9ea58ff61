"""The recovery state's layout is pinned to `engine.steps.STATE_VERSION`.

A snapshot is `(STATE_VERSION, object)`; a resumed run refuses another version. That only
protects users if the version moves whenever the layout does, so this test walks the state of
every stateful step after a busy replay (and a fresh live execution step), collects each of our
classes it reaches with its field names, and compares the fingerprint with the one pinned for
the current version. When it fails: bump `STATE_VERSION` and pin the new pair below.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from connectors.capture import read_capture
from engine.exec_step import LiveExecStep
from engine.router import Router
from engine.steps import (
    STATE_VERSION,
    PairStep,
    RecoveryStateError,
    RiskStep,
    _Logic,
    restore_state,
)
from sim.market import write_market_capture
from sim.simulate import SAMPLE_MARKETS_ALL
from tests.unit.test_state_pickles import ALL, RISK_ENV, Graph

PINNED = (9, "5f265647472bb845")  # 9: Binance/OKX/Bybit diffs hold their levels as JSON text
"""(STATE_VERSION, layout fingerprint) — update both together."""
OURS = ("engine", "operators", "connectors")
"""Packages whose classes make the state's layout. The settings a step holds (`config`) are
pydantic models, restored by field name: a resumed run keeps the settings its steps were
built with (docs/architecture.md, Recovery), whatever the config says now."""
LEAVES = (str, bytes, int, float, bool, type(None), Decimal)


def _fields(o: Any) -> list[str]:
    names: set[str] = set(getattr(o, "__dict__", {}))
    for klass in type(o).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    return sorted(n for n in names if n not in ("__dict__", "__weakref__"))


def layout(*roots: Any) -> dict[str, list[str]]:
    """Each of our classes reachable from `roots` and its field names."""
    seen: set[int] = set()
    out: dict[str, list[str]] = {}
    todo: deque[Any] = deque(roots)
    while todo:
        o = todo.pop()
        if isinstance(o, LEAVES) or id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
            continue
        if isinstance(o, (list, tuple, set, frozenset, deque)):
            todo.extend(o)
            continue
        t = type(o)
        if t.__module__.split(".")[0] not in OURS:
            continue
        names = _fields(o)
        out[f"{t.__module__}.{t.__qualname__}"] = names
        todo.extend(getattr(o, n, None) for n in names)
    return out


def fingerprint(shape: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def busy_graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = tmp_path_factory.mktemp("cap") / "all.parquet"
    write_market_capture(path, ALL)
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env=RISK_ENV)
    g = Graph(settings)
    for f in read_capture(path):
        g.feed(f)
    return g


def test_the_state_layout_is_the_one_pinned_for_this_state_version(busy_graph: Graph) -> None:
    g = busy_graph
    live = LiveExecStep(g.settings, "SOL/USDC")
    # live trading's pair step and guard also hold what the reports teach and book
    live_pair = PairStep(g.settings, Router(g.settings), "SOL/USDC", learn=True)
    live_guard = RiskStep(g.settings, from_reports=True)
    steps = [s.obj for s in (*g.pairs.values(), g.risk, *g.paper.values())]
    shape = layout(*steps, live, live_pair, live_guard)
    # the walk reaches the big pieces (else the pin would guard nothing)
    assert {"engine.steps.PairStep", "engine.steps.RiskStep", "engine.steps.PaperStep",
            "engine.exec_step.LiveExecStep", "operators.spread.PairEngine"} <= set(shape)
    found = (STATE_VERSION, fingerprint(shape))
    assert found == PINNED, (
        f"the recovery state's layout changed ({found[1]}): bump engine.steps.STATE_VERSION "
        f"and set PINNED = ({STATE_VERSION + 1}, \"{found[1]}\") (a resumed run must refuse "
        "snapshots of the old layout)"
    )


def test_a_snapshot_of_another_version_or_not_ours_is_refused_by_name(tmp_path: Path) -> None:
    import pickle

    logic = _Logic(lambda _x: None, None)
    logic.obj = {"state": 1}
    snap = logic.snapshot()
    assert restore_state(snap) == {"state": 1}
    old = pickle.dumps((STATE_VERSION - 1, {"state": 1}))
    with pytest.raises(RecoveryStateError, match=f"state version {STATE_VERSION - 1}, this build"):
        _Logic(lambda _x: None, old)
    with pytest.raises(RecoveryStateError, match="state version none"):
        restore_state(pickle.dumps({"state": 1}))  # a snapshot from before versions existed
    with pytest.raises(RecoveryStateError, match="unreadable"):
        restore_state(b"not a pickle")
