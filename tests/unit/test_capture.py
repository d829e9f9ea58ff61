from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from connectors.capture import (
    SCHEMA,
    CaptureWriter,
    capture_streams,
    merge_by_time,
    merge_rows_by_time,
    read_capture,
    read_capture_rows,
)
from operators.errors import FeedError
from operators.events import RawFrame


def _frames() -> list[RawFrame]:
    return [
        RawFrame(10, "binance", "solusdc@depth@100ms", "ws", b'{"a":1}'),
        RawFrame(11, "orca", "Pool:Acc", "account", b"\x00\x01\x02", 250),
        RawFrame(12, "binance", "GET /api/v3/depth?symbol=SOLUSDC&limit=1000", "rest", b"{}"),
    ]


def test_written_frames_read_back_identically_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    with CaptureWriter(path, flush_rows=2) as w:
        w.write_all(_frames())
    assert list(read_capture(path)) == _frames()
    assert pq.read_schema(path).equals(SCHEMA, check_metadata=False)
    assert pq.read_schema(path).metadata[b"solarb.capture.version"] == b"2"


def test_stream_filter_and_stream_listing(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    with CaptureWriter(path) as w:
        w.write_all(_frames())
    assert capture_streams(path) == sorted(f.stream for f in _frames())
    assert [f.ts_recv_ns for f in read_capture(path, ["Pool:Acc"])] == [11]


def test_merge_of_two_captures_is_receive_time_ordered_and_stable() -> None:
    a = [RawFrame(1, "x", "a", "ws", b"1"), RawFrame(5, "x", "a", "ws", b"2")]
    b = [RawFrame(1, "x", "b", "ws", b"3"), RawFrame(3, "x", "b", "ws", b"4")]
    merged = list(merge_by_time([iter(a), iter(b)]))
    assert [f.payload for f in merged] == [b"1", b"3", b"4", b"2"]


def test_rows_are_the_frames_fields_in_file_order_filtered_by_stream(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    with CaptureWriter(path, flush_rows=2) as w:  # two row groups
        w.write_all(_frames())
    fields = [(f.ts_recv_ns, f.source, f.stream, f.kind, f.payload, f.slot) for f in _frames()]
    assert list(read_capture_rows(path)) == fields
    wanted = ["Pool:Acc", "GET /api/v3/depth?symbol=SOLUSDC&limit=1000"]
    assert list(read_capture_rows(path, wanted)) == fields[1:]
    assert list(read_capture_rows(path, [])) == []


def test_merge_of_rows_is_receive_time_ordered_and_stable_and_one_input_passes_through() -> None:
    a = [(1, "x", "a", "ws", b"1", None), (5, "x", "a", "ws", b"2", None)]
    b = [(1, "x", "b", "ws", b"3", None), (3, "x", "b", "ws", b"4", None)]
    merged = list(merge_rows_by_time([iter(a), iter(b)]))
    assert [r[4] for r in merged] == [b"1", b"3", b"4", b"2"]
    one = iter(a)
    assert merge_rows_by_time([one]) is one


def test_unknown_kind_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path / "c.parquet")
    with pytest.raises(FeedError, match="capture kind must be one of"):
        w.write(RawFrame(1, "x", "s", "udp", b""))
    w.close()


def test_a_file_that_is_not_a_capture_gives_a_feed_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.parquet"
    p.write_bytes(b"not parquet at all")
    with pytest.raises(FeedError, match="cannot read capture"):
        list(read_capture(p))
