"""Bytewax source replaying Parquet captures in receive-time order.

Partitions are groups of streams. By default every stream gets its own partition
(`partition_of=None`), which spreads markets across workers; the flows pass a grouping by trading
pair so that a pair's CEX and DEX frames keep their exact receive order through the pair join,
which is what makes a replay reproduce a session decision for decision.
Within a partition frames come out in `ts_recv_ns` order (stable for ties, file order).
The batch size is the caller's: `engine.replay_batch_size` (default 1, since solarb's per-frame
work costs far more than Bytewax's per-batch overhead and one frame per batch keeps the journaled
tick -> opportunity latency per frame); large batches raise throughput a little.
By default frames go as fast as the graph takes them, each stamped when Bytewax polls it; with
`speed` they come at their recorded spacing / speed, each stamped when it was due (a paced
replay: tick -> opportunity then counts the wait behind earlier work, as live).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.capture import (
    CaptureRow,
    capture_frames,
    capture_streams,
    merge_rows_by_time,
    read_capture_rows,
)
from operators.errors import ConfigError
from operators.events import RawFrame

_RAW_FRAME_FIELDS = (
    "ts_recv_ns", "source", "stream", "kind", "payload", "slot", "ts_event_ns", "ts_ingest_ns",
)  # fmt: skip
if tuple(f.name for f in fields(RawFrame)) != _RAW_FRAME_FIELDS:  # pragma: no cover
    # `next_batch` builds frames positionally: a field added or moved must fail loudly here.
    raise ImportError("operators.events.RawFrame fields changed; update replay.source")


class ReplayProgress:
    """Frames emitted so far, for a progress display outside the dataflow.

    Each partition bumps its own slot (one writer per key, so worker threads never race on a
    shared integer); a reader sums them. `total` is the capture's frame count from the Parquet
    footers, known before the first frame.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._done: dict[str, int] = {}
        self.first_ns: int | None = None
        """`time.monotonic_ns()` when this process emitted its first frame (None: not yet)."""
        self.last_ns: int | None = None
        """`time.monotonic_ns()` when this process emitted its latest batch of frames."""

    def bump(self, part: str, frames: int) -> None:
        """Partition `part` has emitted `frames` more frames."""
        self._done[part] = self._done.get(part, 0) + frames
        # the monotonic clock is one for every process of the machine: a benchmark of several
        # processes measures from the first frame of any to the end of the last, start-up apart
        now = time.monotonic_ns()
        if self.first_ns is None:
            self.first_ns = now
        self.last_ns = now

    def by_part(self) -> dict[str, int]:
        """Frames emitted so far by each partition this process read."""
        return dict(self._done)

    @property
    def done(self) -> int:
        """Frames emitted by every partition of this process so far."""
        return sum(list(self._done.values()))


class _ReplayPartition(StatefulSourcePartition[RawFrame, int]):
    def __init__(
        self,
        paths: Sequence[Path],
        streams: Sequence[str],
        resume_at: int,
        batch_size: int,
        stamp_ingest: bool,
        stop: threading.Event | None,
        progress: ReplayProgress | None = None,
        part: str = "",
    ) -> None:
        self._stop = stop
        self._progress = progress
        self._part = part
        self._it: Iterator[CaptureRow] = (
            merge_rows_by_time([read_capture_rows(p, streams) for p in paths])
            if streams
            else iter(())
        )
        # The position is the offset of the next frame to emit: what a snapshot hands to a
        # resumed run, so that it neither repeats nor loses a frame. Skipping re-reads the
        # frames already emitted (the merge order is deterministic, so they are the same ones).
        self._pos = sum(1 for _ in itertools.islice(self._it, resume_at))
        if progress is not None and self._pos:
            progress.bump(part, self._pos)  # a resumed run starts where the last one stopped
        self._batch = batch_size
        self._stamp = stamp_ingest

    def next_batch(self) -> list[RawFrame]:
        if self._stop is not None and self._stop.is_set():
            # an interrupted replay ends like a finished one, so every sink closes (and flushes)
            raise StopIteration
        rows = list(itertools.islice(self._it, self._batch))
        if not rows:
            raise StopIteration
        self._pos += len(rows)
        if self._progress is not None:
            self._progress.bump(self._part, len(rows))
        if self._stamp:
            now = time.perf_counter_ns()
            # Each frame is built once, positionally (ts_event_ns 0, then the ingest stamp).
            return [RawFrame(*row, 0, now) for row in rows]
        return list(itertools.starmap(RawFrame, rows))

    def snapshot(self) -> int:
        """Offset of the next frame to emit (frames emitted so far, in merge order)."""
        return self._pos


class _PacedReplayPartition(_ReplayPartition):
    """Frames come out at their recorded spacing divided by `speed`, as a live feed delivers
    them, each stamped (`ts_ingest_ns`) with the moment it was due rather than the moment
    Bytewax polled it: the time a due frame waits behind earlier frames' work, a journal write
    or the worker's wake-up counts in its tick -> opportunity latency, as it would live.
    """

    def __init__(self, *args: Any, speed: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._speed = speed
        self._ahead: CaptureRow | None = next(self._it, None)
        self._origin: tuple[int, int] | None = None
        """(perf_counter_ns, ts_recv_ns) of the first frame: the clock of every due time."""

    def _due_ns(self, row: CaptureRow, now_ns: int) -> int:
        if self._origin is None:  # the first frame is due when first asked for
            self._origin = (now_ns, row[0])
        wall0, recv0 = self._origin
        return wall0 + int((row[0] - recv0) / self._speed)

    def next_batch(self) -> list[RawFrame]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        now = time.perf_counter_ns()
        out: list[RawFrame] = []
        while self._ahead is not None and len(out) < self._batch:
            due = self._due_ns(self._ahead, now)
            if due > now:
                break
            out.append(RawFrame(*self._ahead, 0, due if self._stamp else 0))
            self._ahead = next(self._it, None)
        if not out and self._ahead is None:
            raise StopIteration
        self._pos += len(out)
        if self._progress is not None and out:
            self._progress.bump(self._part, len(out))
        return out

    def next_awake(self) -> datetime | None:
        """When the next frame is due (None: now, or nothing left)."""
        if self._ahead is None or self._origin is None:
            return None
        now = time.perf_counter_ns()
        wait_ns = self._due_ns(self._ahead, now) - now
        if wait_ns <= 0:
            return None
        return datetime.now(UTC) + timedelta(microseconds=wait_ns / 1_000)


class ReplaySource(FixedPartitionedSource[RawFrame, int]):
    """Replay one or more capture files; resumable (the snapshot is the frame position)."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        partition_of: Callable[[str], str] | None = None,
        batch_size: int = 1000,
        stamp_ingest: bool = True,
        stop: threading.Event | None = None,
        progress: bool = False,
        idle_parts: Sequence[str] = (),
        speed: float | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ConfigError(f"replay speed must be > 0, got {speed}")
        self.speed = speed
        """None: frames as fast as the graph takes them; else at recorded spacing / speed."""
        self.paths = [Path(p) for p in paths]
        self.progress = (
            ReplayProgress(sum(capture_frames(p) for p in self.paths)) if progress else None
        )
        """Frames emitted / total (from the Parquet footers), when asked for: a display reads it."""
        self.stop = stop
        """Set it (e.g. from a signal handler) to end the replay early, cleanly."""
        self.batch_size = batch_size
        self.stamp_ingest = stamp_ingest
        groups: dict[str, list[str]] = {}
        for p in self.paths:
            for s in capture_streams(p):
                key = partition_of(s) if partition_of else s
                groups.setdefault(key, [])
                if s not in groups[key]:
                    groups[key].append(s)
        for name in idle_parts:
            # listed so that Bytewax's round-robin hands the other partitions to the workers
            # their pairs run on (engine/placement.py); such a partition reads nothing
            groups.setdefault(name, [])
        self._groups = groups

    def list_parts(self) -> list[str]:
        """Partition names (stream groups), sorted for a stable assignment to workers."""
        return sorted(self._groups)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ReplayPartition:
        """Open the partition's streams, skipping frames already emitted before a resume."""
        args = (self.paths, self._groups[for_part], resume_state or 0, self.batch_size,
                self.stamp_ingest, self.stop, self.progress, for_part)  # fmt: skip
        if self.speed is not None:
            return _PacedReplayPartition(*args, speed=self.speed)
        return _ReplayPartition(*args)


def progress_of(flow: Dataflow) -> ReplayProgress | None:
    """The frame counter of a replay flow built with `progress=True` (else None)."""
    for step in flow.substeps:
        source = getattr(step, "source", None)
        if isinstance(source, ReplaySource):
            return source.progress
    return None
