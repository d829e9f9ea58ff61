"""engine/placement.py against the installed Bytewax: where a stateful key runs, where a source
partition is read, and partition names that put each pair's frames on its pair's worker."""

from __future__ import annotations

import threading
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import cluster_main

from engine.placement import (
    balanced_workers,
    bytewax_run_workers,
    placed_key,
    placed_part_names,
    worker_of_key,
)
from operators.errors import ConfigError

KEYS = [f"key-{i}" for i in range(24)] + ["SOL/USDC", "ETH/USDC", "BTC/USDC", "risk", "é/€"]
PARTS = [f"part-{i:02d}" for i in range(7)]


class _Seen:
    """What each worker thread did: its index (from the sink), keys it ran, parts it read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worker_of_thread: dict[int, int] = {}
        self.thread_of_key: dict[str, int] = {}
        self.thread_of_part: dict[str, int] = {}


class _Part(StatefulSourcePartition[str, None]):
    def __init__(self, seen: _Seen, name: str) -> None:
        self.seen, self.name, self.done = seen, name, False

    def next_batch(self) -> list[str]:
        if self.done:
            raise StopIteration
        self.done = True
        with self.seen.lock:
            self.seen.thread_of_part[self.name] = threading.get_ident()
        return KEYS if self.name == PARTS[0] else []

    def snapshot(self) -> None:
        return None


class _Source(FixedPartitionedSource[str, None]):
    def __init__(self, seen: _Seen) -> None:
        self.seen = seen

    def list_parts(self) -> list[str]:
        return list(reversed(PARTS))  # Bytewax sorts them itself

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Part:
        return _Part(self.seen, for_part)


class _SinkPart(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        return None


class _Sink(DynamicSink[Any]):
    def __init__(self, seen: _Seen) -> None:
        self.seen = seen

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SinkPart:
        with self.seen.lock:
            self.seen.worker_of_thread[threading.get_ident()] = worker_index
        return _SinkPart()


def _run(workers: int) -> _Seen:
    seen = _Seen()

    def remember(state: None, key: str) -> tuple[None, str]:
        with seen.lock:
            seen.thread_of_key[key] = threading.get_ident()
        return state, key

    flow = Dataflow("placement_probe")
    keyed = op.key_on("key", op.input("in", flow, _Source(seen)), lambda k: k)
    op.output("out", op.stateful_map("run", keyed, remember), _Sink(seen))
    cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
    return seen


@pytest.mark.parametrize("workers", [2, 3])
def test_a_key_runs_on_the_worker_its_siphash_names(workers: int) -> None:
    seen = _run(workers)
    ran_on = {k: seen.worker_of_thread[t] for k, t in seen.thread_of_key.items()}
    assert ran_on == {k: worker_of_key(k, workers) for k in KEYS}
    assert set(ran_on.values()) == set(range(workers))  # the keys really spread


@pytest.mark.parametrize("workers", [2, 3])
def test_source_partitions_go_round_robin_in_name_order(workers: int) -> None:
    seen = _run(workers)
    read_on = {p: seen.worker_of_thread[t] for p, t in seen.thread_of_part.items()}
    assert read_on == {p: i % workers for i, p in enumerate(sorted(PARTS))}


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_placed_names_round_robin_onto_each_groups_worker(workers: int) -> None:
    groups = ["SOL/USDC", "ETH/USDC", "BTC/USDC", "JUP/USDC", "BONK/USDC", "unrouted"]
    wanted = {g: worker_of_key(g, workers) for g in groups}
    names, idle = placed_part_names(wanted, workers)
    ordered = sorted([*names.values(), *idle])
    worker_of_name = {name: i % workers for i, name in enumerate(ordered)}
    assert {g: worker_of_name[names[g]] for g in groups} == wanted
    # idle partitions only fill rounds: never more than one round's worth per worker
    assert len(ordered) == workers * max(list(wanted.values()).count(w) for w in range(workers))


def test_one_worker_per_group_needs_no_idle_partition() -> None:
    names, idle = placed_part_names({"a": 1, "b": 0}, 2)
    assert names == {"b": "000.000.b", "a": "000.001.a"}
    assert idle == []


def test_bytewax_run_workers_reads_its_scaling_arguments_and_variables() -> None:
    assert bytewax_run_workers(["flows.replay"], {}) == 1
    assert bytewax_run_workers(["flows.replay", "-w", "2"], {}) == 2
    assert bytewax_run_workers(["flows.replay", "-i", "1", "-a", "h:1;h:2;h:3"], {}) == 3
    assert bytewax_run_workers(["flows.replay", "-w2", "-i", "0", "-a", "h:1;h:2"], {}) == 4
    env = {"BYTEWAX_WORKERS_PER_PROCESS": "3", "BYTEWAX_ADDRESSES": "h:1;h:2"}
    assert bytewax_run_workers(["flows.replay", "-i", "0"], env) == 6
    assert bytewax_run_workers(["flows.replay", "-s", "5", "-r", "dir", "-b", "0"], {}) == 1


def test_bytewax_run_workers_refuses_a_nonsense_worker_count() -> None:
    with pytest.raises(ConfigError, match="-w must be >= 1, got 0"):
        bytewax_run_workers(["flows.replay", "-w", "0"], {})
    with pytest.raises(ConfigError, match="-w must be an integer"):
        bytewax_run_workers(["flows.replay"], {"BYTEWAX_WORKERS_PER_PROCESS": "two"})


def test_balanced_workers_spreads_groups_by_cost_not_by_name() -> None:
    # the costliest first, each to the least-loaded worker (lowest index on ties)
    costs = {"SOL/USDC": 7, "ETH/USDC": 2, "BTC/USDC": 2, "JUP/USDC": 7, "BONK/USDC": 1}
    assert balanced_workers(costs, 2) == {
        "JUP/USDC": 0, "SOL/USDC": 1, "BTC/USDC": 0, "ETH/USDC": 1, "BONK/USDC": 0,
    }  # fmt: skip
    # every worker gets a group while there are groups to give, whatever the names hash to
    names = [f"P{i}/USDC" for i in range(8)]
    for workers in (2, 3, 4):
        placed = balanced_workers(dict.fromkeys(names, 1), workers)
        counts = [list(placed.values()).count(w) for w in range(workers)]
        assert max(counts) - min(counts) <= 1
    with pytest.raises(ConfigError, match="worker count must be >= 1"):
        balanced_workers(costs, 0)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_placed_key_runs_on_the_wanted_worker_and_is_the_name_when_it_can_be(workers: int) -> None:
    for pair in ("SOL/USDC", "ETH/USDC", "BTC/USDC", "JUP/USDC"):
        for w in range(workers):
            key = placed_key(pair, w, workers)
            assert worker_of_key(key, workers) == w
            assert key == pair or (worker_of_key(pair, workers) != w and key.startswith(pair + "~"))
