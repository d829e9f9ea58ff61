"""Test tooling: `flows.replay` slowed down and journaled row by row, for kill-and-resume tests.

`python -m bytewax.run tests.integration.recovery_flow -r DIR -s S -b 0` runs exactly the flow
`python -m bytewax.run flows.replay` builds (same environment: SOLARB_CAPTURE, SOLARB_MARKETS,
SOLARB_JOURNAL), with two test-only changes made here and nowhere in production:
- each source batch waits SOLARB_TEST_FRAME_SLEEP_MS first, so a short capture takes seconds
  and a SIGKILL lands mid-run;
- (the test sets `SOLARB__ENGINE__JOURNAL_FLUSH_ROWS=1`, as any run with recovery must: the
  journal then writes every batch before Bytewax can snapshot the epoch that produced it.)
"""

from __future__ import annotations

import os
import time
from typing import Any

from bytewax.inputs import StatefulSourcePartition

import flows.replay
from replay.source import ReplaySource

SLEEP_ENV = "SOLARB_TEST_FRAME_SLEEP_MS"


class _Slowed(StatefulSourcePartition[Any, int]):
    """A partition whose every batch waits first; snapshots are the wrapped partition's."""

    def __init__(self, part: StatefulSourcePartition[Any, int], sleep_s: float) -> None:
        self._part = part
        self._sleep_s = sleep_s

    def next_batch(self) -> list[Any]:
        time.sleep(self._sleep_s)
        return list(self._part.next_batch())

    def next_awake(self) -> Any:
        return self._part.next_awake()

    def snapshot(self) -> int:
        return self._part.snapshot()

    def close(self) -> None:
        self._part.close()


class SlowReplaySource(ReplaySource):
    """The replay source, each batch delayed by SOLARB_TEST_FRAME_SLEEP_MS."""

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Slowed:
        part = super().build_part(step_id, for_part, resume_state)
        return _Slowed(part, float(os.environ.get(SLEEP_ENV, "0")) / 1000)


def __getattr__(name: str) -> Any:
    if name == "flow":
        flows.replay.ReplaySource = SlowReplaySource  # type: ignore[misc]
        return flows.replay.flow
    raise AttributeError(name)
