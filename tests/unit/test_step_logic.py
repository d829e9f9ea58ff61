"""The Bytewax adapter of the graph's steps (`engine.steps._Logic`): batches and snapshots."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from engine.state_version import STATE_VERSION
from engine.steps import NO_SNAPSHOT, RecoveryStateError, _Logic, restore_state


class Echo:
    """A step that remembers what it saw and answers each item with two outputs."""

    def __init__(self, first: Any) -> None:
        self.first = first
        self.seen: list[Any] = []

    def on_item(self, item: Any) -> list[Any]:
        self.seen.append(item)
        return [("a", item), ("b", item)]

    def on_eof(self) -> list[Any]:
        return [("eof", len(self.seen))]


def test_a_batch_gives_each_items_outputs_in_order_from_an_object_made_of_the_first_item() -> None:
    logic = _Logic(Echo, None)
    out, discard = logic.on_batch([1, 2, 3])
    assert out == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    assert discard is False
    assert logic.on_batch([4]) == ([("a", 4), ("b", 4)], False)
    assert logic.on_item(5) == ([("a", 5), ("b", 5)], False)
    assert logic.obj.first == 1 and logic.obj.seen == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert logic.on_eof() == ([("eof", 5)], False)


def test_an_empty_batch_makes_no_object_and_eof_before_any_item_emits_nothing() -> None:
    logic = _Logic(Echo, None)
    assert logic.on_batch([]) == ([], False)
    assert logic.obj is None
    assert logic.on_eof() == ([], False)


def test_a_step_with_snapshots_pickles_its_state_and_a_resume_continues_it() -> None:
    logic = _Logic(Echo, None)
    logic.on_batch([1, 2])
    snap = logic.snapshot()
    assert pickle.loads(snap)[0] == STATE_VERSION
    resumed = _Logic(Echo, snap)
    assert resumed.on_batch([3]) == ([("a", 3), ("b", 3)], False)
    assert resumed.obj.seen == [1, 2, 3]  # type: ignore[union-attr]


def test_a_step_built_without_snapshots_pickles_nothing_and_a_resume_from_it_is_refused() -> None:
    logic = _Logic(Echo, None, snapshots=False)
    logic.on_batch([1, 2])
    assert logic.snapshot() == NO_SNAPSHOT
    with pytest.raises(RecoveryStateError, match="built without snapshots"):
        _Logic(Echo, logic.snapshot())
    with pytest.raises(RecoveryStateError, match="built without snapshots"):
        restore_state(NO_SNAPSHOT)
