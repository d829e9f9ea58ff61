"""The capture format: one Parquet schema for every recorded raw input.

Columns (see docs/capture-format.md):
    ts_recv_ns int64   local receive time, ns (monotonic-anchored wall clock)
    source     string  venue id: binance, binance-usdm, okx, bybit, orca, raydium_clmm, phoenix,
                       openbook
    stream     string  WS stream name, REST endpoint, or "<market address>:<account pubkey>"
    kind       string  ws | rest | account
    payload    binary  the frame bytes / raw account data, unchanged
    slot       int64?  Solana slot of an account update (null for CEX frames)

Rows are written in receive order; readers merge files and sort by (ts_recv_ns, file order).
Polars and DuckDB read the files as they are (`SELECT * FROM 'capture.parquet'`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
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
    metadata={b"solarb.capture.version": b"1"},
)
KINDS = frozenset({"ws", "rest", "account"})


class CaptureWriter:
    """Append raw frames to a Parquet capture, one row group per `flush_rows` frames."""

    def __init__(self, path: str | Path, flush_rows: int = 10_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._flush_rows = flush_rows
        self._rows: list[RawFrame] = []
        self._writer = pq.ParquetWriter(str(self.path), SCHEMA, compression="zstd")
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
            schema=SCHEMA,
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


def _check_schema(path: Path, schema: pa.Schema) -> None:
    for name in SCHEMA.names:
        if name not in schema.names:
            raise FeedError(f"{path}: not a solarb capture (missing column {name!r})")


def read_capture(path: str | Path, streams: Sequence[str] | None = None) -> Iterator[RawFrame]:
    """Yield the frames of one capture file in file order (receive order), optionally filtered."""
    p = Path(path)
    try:
        pf = pq.ParquetFile(str(p))
    except (OSError, pa.ArrowInvalid) as exc:
        raise FeedError(f"{p}: cannot read capture: {exc}") from exc
    _check_schema(p, pf.schema_arrow)
    wanted = set(streams) if streams is not None else None
    for rg in range(pf.num_row_groups):
        t = pf.read_row_group(rg).to_pydict()
        for ts, src, stream, kind, payload, slot in zip(
            t["ts_recv_ns"], t["source"], t["stream"], t["kind"], t["payload"], t["slot"]
        ):
            if wanted is not None and stream not in wanted:
                continue
            yield RawFrame(ts, src, stream, kind, payload, slot)


def capture_streams(path: str | Path) -> list[str]:
    """The distinct stream names in a capture, sorted."""
    t = pq.read_table(str(path), columns=["stream"])
    return sorted(set(t.column("stream").to_pylist()))


def merge_by_time(iterators: Sequence[Iterator[RawFrame]]) -> Iterator[RawFrame]:
    """K-way merge of receive-ordered iterators into one receive-ordered iterator (stable)."""
    return heapq.merge(*iterators, key=lambda f: f.ts_recv_ns)
