"""Bytewax sink writing RawFrames to a Parquet capture (`connectors.capture.CaptureWriter`).

One file per worker: `path` itself with one worker, `<stem>.w<index><suffix>` with several (each
file is in that worker's receive order; `ReplaySource` merges files by `ts_recv_ns`). Frames are
written in the order the sink receives them, which is the order the graph would process them.

A Parquet file is readable only once closed: Bytewax closes the sink when the flow ends on
bounded input, and when a paper / live session stops on SIGINT/SIGTERM (its feeds end at their
next poll, so every sink closes). Only a hard kill (SIGKILL) leaves an unreadable file;
`flush_rows` bounds how much a writer holds in memory meanwhile (one row group per batch).
"""

from __future__ import annotations

from pathlib import Path

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.capture import CaptureWriter
from operators.errors import FeedError
from operators.events import RawFrame


def worker_path(path: Path, worker_index: int, worker_count: int) -> Path:
    """The capture file of one worker: `path` alone, else `<stem>.w<index><suffix>`."""
    if worker_count == 1:
        return path
    return path.with_name(f"{path.stem}.w{worker_index}{path.suffix}")


class _CapturePartition(StatelessSinkPartition[RawFrame]):
    def __init__(self, path: Path, flush_rows: int, session: str) -> None:
        self.writer = CaptureWriter(path, flush_rows=flush_rows, session=session)
        self.frames = 0

    def write_batch(self, items: list[RawFrame]) -> None:
        for item in items:
            if not isinstance(item, RawFrame):
                raise FeedError(f"capture sink got a {type(item).__name__}, not a RawFrame")
            self.writer.write(item)
        self.frames += len(items)

    def close(self) -> None:
        self.writer.close()


class CaptureSink(DynamicSink[RawFrame]):
    """Write every RawFrame it receives to a capture at `path` (one file per worker)."""

    def __init__(
        self, path: str | Path, flush_rows: int = 10_000, session: str = "record"
    ) -> None:
        self.path = Path(path)
        self.flush_rows = flush_rows
        self.session = session
        """What records (`record`, `paper`, `live`, `live-signals`): the file's metadata."""
        self.written: list[Path] = []
        """Files opened by this sink's partitions (in-process runs), in build order."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CapturePartition:
        """Open this worker's capture file."""
        p = worker_path(self.path, worker_index, worker_count)
        self.written.append(p)
        return _CapturePartition(p, self.flush_rows, self.session)
