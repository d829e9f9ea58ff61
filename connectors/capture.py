"""The capture format: one Parquet schema for every recorded raw input.

Columns (see docs/capture-format.md):
    ts_recv_ns int64   local receive time, ns (monotonic-anchored wall clock)
    source     string  venue id: binance, binance-usdm, okx, bybit, orca, raydium_clmm, phoenix,
                       openbook
    stream     string  WS stream name, REST endpoint, or "<market address>:<account pubkey>"
    kind       string  ws | rest | account (raw inputs); health | exec (v2: what a paper or live
                       session's graph saw besides frames, `connectors/capture_events.py`)
    payload    binary  the frame bytes / raw account data, unchanged (health / exec: JSON)
    slot       int64?  Solana slot of an account update (null for CEX frames)

Rows are written in receive order; readers merge files and sort by (ts_recv_ns, file order).
Polars and DuckDB read the files as they are (`SELECT * FROM 'capture.parquet'`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, starmap
from operator import itemgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from operators.errors import FeedError
from operators.events import RawFrame

SCHEMA = pa.schema(
    [
        pa.field("ts_recv_ns", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("stream", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),
        pa.field("slot", pa.int64(), nullable=True),
    ],
    metadata={b"solarb.capture.version": b"2"},
)
FRAME_KINDS = frozenset({"ws", "rest", "account"})
"""Raw venue inputs (every capture version)."""
EVENT_KINDS = frozenset({"health", "exec"})
"""Version 2: health / control events and execution-source items of a recorded session."""
KINDS = FRAME_KINDS | EVENT_KINDS
SESSION_KEY = b"solarb.capture.session"
"""Metadata key naming what wrote the capture: `record`, `paper`, `live` or `live-signals`."""
SESSIONS = frozenset({"record", "paper", "live", "live-signals"})


class CaptureWriter:
    """Append raw frames to a Parquet capture, one row group per `flush_rows` frames."""

    def __init__(
        self, path: str | Path, flush_rows: int = 10_000, session: str = "record"
    ) -> None:
        if session not in SESSIONS:
            raise FeedError(f"capture session must be one of {sorted(SESSIONS)}, got {session!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._flush_rows = flush_rows
        self._rows: list[RawFrame] = []
        # page checksums let a reader tell a bit-flipped capture from a good one
        schema = SCHEMA.with_metadata({**SCHEMA.metadata, SESSION_KEY: session.encode()})
        self._schema = schema
        self._writer = pq.ParquetWriter(
            str(self.path), schema, compression="zstd", write_page_checksum=True
        )
        self.frames_written = 0

    def write(self, frame: RawFrame) -> None:
        """Buffer one frame; flushes a row group when the buffer is full."""
        if frame.kind not in KINDS:
            raise FeedError(f"capture kind must be one of {sorted(KINDS)}, got {frame.kind!r}")
        self._rows.append(frame)
        if len(self._rows) >= self._flush_rows:
            self.flush()

    def write_all(self, frames: Iterable[RawFrame]) -> None:
        """Write every frame of an iterable."""
        for f in frames:
            self.write(f)

    def flush(self) -> None:
        """Write buffered frames as one row group."""
        if not self._rows:
            return
        rows = self._rows
        table = pa.table(
            {
                "ts_recv_ns": [r.ts_recv_ns for r in rows],
                "source": [r.source for r in rows],
                "stream": [r.stream for r in rows],
                "kind": [r.kind for r in rows],
                "payload": [r.payload for r in rows],
                "slot": [r.slot for r in rows],
            },
            schema=self._schema,
        )
        self._writer.write_table(table)
        self.frames_written += len(rows)
        self._rows = []

    def close(self) -> None:
        """Flush and close the file; the capture is readable only after this."""
        self.flush()
        self._writer.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> pq.ParquetFile:
    if not path.is_file():
        raise FeedError(
            f"{path}: capture not found" if not path.exists() else f"{path}: not a file"
        )
    if path.stat().st_size == 0:
        raise FeedError(f"{path}: empty file (0 bytes), not a capture")
    try:
        return pq.ParquetFile(str(path), page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        raise FeedError(
            f"{path}: cannot read capture (truncated, corrupt or not Parquet): {exc}"
        ) from None


def _check_schema(path: Path, schema: pa.Schema) -> None:
    for want in SCHEMA:
        if want.name not in schema.names:
            raise FeedError(f"{path}: not a solarb capture (missing column {want.name!r})")
        got = schema.field(want.name).type
        # large_* variants are what some writers (polars) produce for the same data
        ok = got == want.type or (
            (want.type, got) in ((pa.string(), pa.large_string()), (pa.binary(), pa.large_binary()))
        )
        if not ok:
            raise FeedError(
                f"{path}: column {want.name!r} is {got}, a solarb capture has {want.type}"
            )


def validate_capture(path: str | Path) -> int:
    """Check a capture end to end before a run uses it; the number of frames, or FeedError.

    Reads every row group (with page checksums where the writer stored them), so a truncated,
    bit-flipped, empty or foreign file fails here, naming the file, not halfway through a replay.
    """
    p = Path(path)
    pf = _open(p)
    _check_schema(p, pf.schema_arrow)
    frames = 0
    for rg in range(pf.num_row_groups):
        try:
            t = pf.read_row_group(rg)
        except (OSError, pa.ArrowException) as exc:
            raise FeedError(f"{p}: row group {rg} unreadable (corrupt capture): {exc}") from None
        for name in ("ts_recv_ns", "source", "stream", "kind", "payload"):
            if t.column(name).null_count:
                raise FeedError(f"{p}: column {name!r} has nulls in row group {rg}")
        frames += t.num_rows
    return frames


def capture_frames(path: str | Path) -> int:
    """Number of frames in a capture, from its Parquet footer (reads no row group)."""
    p = Path(path)
    return int(_open(p).metadata.num_rows)


READ_BATCH_ROWS = 1024
"""Rows `read_capture_rows` decodes at a time (a replay batch is 1,000 frames by default)."""

CaptureRow = tuple[int, str, str, str, bytes, int | None]
"""One captured frame as a plain tuple: (ts_recv_ns, source, stream, kind, payload, slot)."""


def read_capture_rows(
    path: str | Path, streams: Sequence[str] | None = None
) -> Iterator[CaptureRow]:
    """`read_capture` as plain tuples, in file order, optionally filtered.

    Why tuples: the replay source builds each `RawFrame` once, with its ingest stamp, and the
    rows of a batch are zipped and filtered by C-level iterators (no Python step per row). Why
    batches of `READ_BATCH_ROWS` rather than whole row groups: a row group of account frames
    is ~80 MB decompressed (OpenBook book sides are 90 KB each), and reading it whole costs
    fresh memory (page faults) at every row group; small batches reuse the same buffers.
    """
    p = Path(path)
    pf = _open(p)
    _check_schema(p, pf.schema_arrow)
    wanted = set(streams) if streams is not None else None
    batches = pf.iter_batches(batch_size=READ_BATCH_ROWS, use_threads=False)
    at = 0
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as exc:
            raise FeedError(f"{p}: rows from {at} unreadable (corrupt capture): {exc}") from None
        if batch is None:
            return
        at += batch.num_rows
        t = batch.to_pydict()
        rows = zip(t["ts_recv_ns"], t["source"], t["stream"], t["kind"], t["payload"], t["slot"])
        if wanted is None:
            yield from rows
        else:
            yield from compress(rows, map(wanted.__contains__, t["stream"]))


def read_capture(path: str | Path, streams: Sequence[str] | None = None) -> Iterator[RawFrame]:
    """Yield the frames of one capture file in file order (receive order), optionally filtered."""
    return starmap(RawFrame, read_capture_rows(path, streams))


def capture_streams(path: str | Path) -> list[str]:
    """The distinct stream names in a capture, sorted."""
    p = Path(path)
    pf = _open(p)
    _check_schema(p, pf.schema_arrow)
    try:
        t = pf.read(columns=["stream"])
    except (OSError, pa.ArrowException) as exc:
        raise FeedError(f"{p}: column 'stream' unreadable (corrupt capture): {exc}") from None
    return sorted(set(t.column("stream").to_pylist()))


def capture_session(path: str | Path) -> str:
    """What wrote the capture (`record`, `paper`, `live`, `live-signals`); `record` for
    captures older than the key (version 1: raw frames only)."""
    p = Path(path)
    meta = _open(p).schema_arrow.metadata or {}
    session = meta.get(SESSION_KEY, b"record").decode()
    if session not in SESSIONS:
        raise FeedError(f"{p}: unknown capture session {session!r} (metadata {SESSION_KEY!r})")
    return session


def merge_by_time(iterators: Sequence[Iterator[RawFrame]]) -> Iterator[RawFrame]:
    """K-way merge of receive-ordered iterators into one receive-ordered iterator (stable)."""
    return heapq.merge(*iterators, key=lambda f: f.ts_recv_ns)


def merge_rows_by_time(iterators: Sequence[Iterator[CaptureRow]]) -> Iterator[CaptureRow]:
    """`merge_by_time` for `read_capture_rows` iterators; one iterator is returned as is."""
    if len(iterators) == 1:
        return iterators[0]
    return heapq.merge(*iterators, key=itemgetter(0))
