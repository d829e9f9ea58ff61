"""Bounds for live sources: end each partition after N frames or S seconds, or on request.

Live sources never end by themselves. `BoundedSource` wraps any live `FixedPartitionedSource`:
each partition ends after `Bounds.max_frames` RawFrames or `Bounds.seconds` after it was built
(whichever comes first; neither = run until stopped), or at its next poll once the shared stop
event is set, so sinks still close and write their files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from operators.events import HealthEvent, RawFrame

Item = RawFrame | HealthEvent


@dataclass(frozen=True, slots=True)
class Bounds:
    """When a live run ends: after `max_frames` RawFrames per source partition, or `seconds`."""

    max_frames: int | None = None
    seconds: float | None = None

    @property
    def bounded(self) -> bool:
        """Whether the run ends on its own."""
        return self.max_frames is not None or self.seconds is not None

    def __str__(self) -> str:
        parts = [f"{self.max_frames} frames per feed"] if self.max_frames is not None else []
        parts += [f"{self.seconds:g} s"] if self.seconds is not None else []
        return " or ".join(parts) or "until stopped"


UNBOUNDED = Bounds()


class BoundedPartition(StatefulSourcePartition[Item, None]):
    """A live partition that ends (StopIteration) at its frame budget or deadline."""

    def __init__(
        self,
        name: str,
        inner: StatefulSourcePartition[Item, Any],
        bounds: Bounds,
        stop: threading.Event,
    ) -> None:
        self.name = name
        self.stop = stop
        self.inner = inner
        self.frames_left = bounds.max_frames
        self.deadline_mono = None if bounds.seconds is None else time.monotonic() + bounds.seconds
        self.frames = 0
        self.closed = False
        self._lock = threading.Lock()

    def _over(self) -> bool:
        if self.stop.is_set():
            return True
        if self.frames_left is not None and self.frames_left <= 0:
            return True
        return self.deadline_mono is not None and time.monotonic() >= self.deadline_mono

    def next_batch(self) -> list[Item]:
        if self._over():
            self.close()
            raise StopIteration
        batch = list(self.inner.next_batch())
        if self.frames_left is not None:
            kept: list[Item] = []
            for item in batch:
                if isinstance(item, RawFrame):
                    if self.frames_left <= 0:
                        break  # the rest of the batch is past the budget: never emitted
                    self.frames_left -= 1
                kept.append(item)
            batch = kept
        self.frames += sum(1 for x in batch if isinstance(x, RawFrame))
        return batch

    def next_awake(self) -> datetime | None:
        inner = self.inner.next_awake()
        if self.deadline_mono is None:
            return inner
        deadline = datetime.now(UTC) + timedelta(
            seconds=max(0.0, self.deadline_mono - time.monotonic())
        )
        return deadline if inner is not None and inner > deadline else inner

    def snapshot(self) -> None:
        return None  # a live feed resumes by reconnecting, never by replaying

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.inner.close()


class BoundedSource(FixedPartitionedSource[Item, None]):
    """Wrap a live source so its partitions end at `bounds`; built partitions go to `registry`."""

    def __init__(
        self,
        inner: FixedPartitionedSource[Item, Any],
        bounds: Bounds,
        registry: list[BoundedPartition],
        stop: threading.Event,
    ) -> None:
        self.inner = inner
        self.bounds = bounds
        self.registry = registry
        self.stop = stop

    def list_parts(self) -> list[str]:
        return self.inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> BoundedPartition:
        part = BoundedPartition(
            for_part, self.inner.build_part(step_id, for_part, None), self.bounds, self.stop
        )
        self.registry.append(part)
        return part
