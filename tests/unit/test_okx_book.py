"""OKX BookSync: snapshot resets, seqId continuity, CRC32 checksum on every frame (synthetic)."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

import orjson
import pytest

from connectors.cex import okx
from connectors.cex.okx import BookSync
from operators.errors import ConfigError, FeedError
from operators.events import BestBidOffer, BookDelta, BookSnapshot, Trade

D = Decimal
INST = "BTC-USDT"


def crc(text: str) -> int:
    """The checksum OKX sends for the interleaved level string `text` (signed int32)."""
    value = zlib.crc32(text.encode())
    return value - 2**32 if value >= 2**31 else value


def frame(
    action: str,
    bids: Any,
    asks: Any,
    checksum: int | None,
    *,
    seq: int | None = None,
    prev: int | None = None,
    channel: str = "books",
    inst: str = INST,
) -> bytes:
    data: dict[str, Any] = {"asks": asks, "bids": bids, "ts": "1652459225807"}
    if checksum is not None:
        data["checksum"] = checksum
    if seq is not None:
        data["seqId"] = seq
        data["prevSeqId"] = prev
    return orjson.dumps(
        {"arg": {"channel": channel, "instId": inst}, "action": action, "data": [data]}
    )


BIDS = [["100.1", "2", "0", "1"], ["100.0", "1", "0", "1"]]
ASKS = [["100.2", "3", "0", "2"]]
SNAP_CRC = crc("100.1:2:100.2:3:100.0:1")


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def synced(**kw: Any) -> BookSync:
    sync = BookSync(INST, "spot")
    sync.on_frame(frame("snapshot", BIDS, ASKS, SNAP_CRC, **kw), 1)
    return sync


def test_checksum_interleaves_bid_and_ask_strings_as_sent() -> None:
    bids = [("100.10", "2.0")]
    asks = [("100.2", "3"), ("100.3", "4")]
    assert okx.checksum(bids, asks) == crc("100.10:2.0:100.2:3:100.3:4")


def test_checksum_uses_only_the_top_25_levels() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    expected = crc(":".join(f"{1000 - i}:1" for i in range(25)))
    assert okx.checksum(bids, []) == expected


@pytest.mark.parametrize(
    ("nb", "na"), [(0, 0), (3, 0), (0, 2), (30, 2), (2, 30), (25, 25), (26, 40)]
)
def test_checksum_interleaves_then_appends_the_longer_sides_rest(nb: int, na: int) -> None:
    bids = [(f"{999 - i}.5", str(i + 1)) for i in range(nb)]
    asks = [(f"{1000 + i}.5", f"0.{i + 1}") for i in range(na)]
    parts: list[str] = []
    for i in range(25):  # the OKX rule spelled out level by level
        parts += bids[i] if i < nb else ()
        parts += asks[i] if i < na else ()
    assert okx.checksum(bids, asks) == crc(":".join(parts))


def test_snapshot_builds_the_book_and_verifies_checksum() -> None:
    sync = BookSync(INST, "spot")
    events = sync.on_frame(frame("snapshot", BIDS, ASKS, SNAP_CRC), 7)
    assert events == [
        BookSnapshot(
            "okx",
            INST,
            "spot",
            ((D("100.1"), D(2)), (D("100.0"), D(1))),
            ((D("100.2"), D(3)),),
            0,
            1652459225807000000,
            7,
        )
    ]
    assert (sync.in_sync, sync.stats.checksum_ok) == (True, 1)


def test_update_applies_and_checksum_matches() -> None:
    sync = synced()
    events = sync.on_frame(
        frame(
            "update",
            [["100.1", "0", "0", "0"]],
            [["100.15", "5", "0", "1"]],
            crc("100.0:1:100.15:5:100.2:3"),
        ),
        2,
    )
    assert kinds(events) == ["BookDelta"]
    assert isinstance(events[0], BookDelta)
    assert events[0].bids == ((D("100.1"), D(0)),)
    assert sync.book.top(2) == (
        [(D("100.0"), D(1))],
        [(D("100.15"), D(5)), (D("100.2"), D(3))],
    )
    assert (sync.stats.checksum_ok, sync.stats.checksum_fail) == (2, 0)


def test_checksum_mismatch_requests_resync_and_ignores_updates_until_snapshot() -> None:
    sync = synced()
    events = sync.on_frame(frame("update", [["100.1", "9", "0", "1"]], [], SNAP_CRC), 2)
    assert [getattr(e, "reason", "") for e in events] == [
        f"checksum mismatch: venue {SNAP_CRC}, local {crc('100.1:9:100.2:3:100.0:1')}"
    ]
    assert (sync.in_sync, sync.needs_snapshot, sync.stats.checksum_fail) == (False, True, 1)
    assert sync.on_frame(frame("update", [], [], SNAP_CRC), 3) == []
    assert sync.stats.dropped_out_of_sync == 1
    assert kinds(sync.on_frame(frame("snapshot", BIDS, ASKS, SNAP_CRC), 4)) == ["BookSnapshot"]
    assert (sync.in_sync, sync.needs_snapshot) == (True, False)


def test_second_snapshot_resets_an_existing_book() -> None:
    sync = synced()
    sync.on_frame(
        frame("update", [["99.0", "4", "0", "1"]], [], crc("100.1:2:100.2:3:100.0:1:99.0:4")), 2
    )
    events = sync.on_frame(frame("snapshot", [["50", "1"]], [["60", "1"]], crc("50:1:60:1")), 3)
    assert kinds(events) == ["BookSnapshot"]
    assert sync.book.top(10) == ([(D(50), D(1))], [(D(60), D(1))])
    assert len(sync.book) == 2


def test_seq_gap_requests_resync() -> None:
    sync = synced(seq=10, prev=-1)
    ok = frame("update", [], [["100.2", "4"]], crc("100.1:2:100.2:4:100.0:1"), seq=15, prev=10)
    assert kinds(sync.on_frame(ok, 2)) == ["BookDelta"]
    assert sync.last_update_id == 15
    gap = frame("update", [], [], crc("100.1:2:100.2:4:100.0:1"), seq=30, prev=20)
    events = sync.on_frame(gap, 3)
    assert [getattr(e, "reason", "") for e in events] == ["gap: prevSeqId=20 != last seqId=15"]
    assert sync.in_sync is False


def test_heartbeat_with_seq_equal_prev_is_accepted_without_change() -> None:
    sync = synced(seq=10, prev=-1)
    events = sync.on_frame(frame("update", [], [], SNAP_CRC, seq=10, prev=10), 2)
    assert kinds(events) == ["BookDelta"]
    assert (sync.in_sync, sync.last_update_id, len(sync.book)) == (True, 10, 3)


def test_crossed_book_after_update_requests_resync() -> None:
    sync = synced()
    events = sync.on_frame(frame("update", [["100.2", "1"]], [], None), 2)
    assert [getattr(e, "reason", "") for e in events] == ["crossed book"]


def test_zero_or_missing_checksum_is_counted_as_absent() -> None:
    sync = BookSync(INST, "spot")
    sync.on_frame(frame("snapshot", BIDS, ASKS, 0), 1)
    sync.on_frame(frame("update", [], [], None), 2)
    assert (sync.in_sync, sync.stats.checksum_absent, sync.stats.checksum_ok) == (True, 2, 0)


def test_books_l2_tbt_channel_is_a_book_channel() -> None:
    sync = BookSync(INST, "spot")
    assert kinds(
        sync.on_frame(frame("snapshot", BIDS, ASKS, SNAP_CRC, channel="books-l2-tbt"), 1)
    ) == ["BookSnapshot"]


def test_acks_and_pong_are_skipped_and_errors_raise() -> None:
    sync = BookSync(INST, "spot")
    assert (
        sync.on_frame(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}', 1)
        == []
    )
    assert sync.on_frame(b"pong", 2) == []
    assert sync.stats.skipped == 2
    with pytest.raises(FeedError, match="venue error 60012"):
        sync.on_frame(b'{"event":"error","code":"60012","msg":"Invalid request"}', 3)


def test_frame_for_another_instrument_raises() -> None:
    with pytest.raises(FeedError, match="'ETH-USDT' routed to this book"):
        BookSync(INST, "spot").on_frame(frame("snapshot", BIDS, ASKS, SNAP_CRC, inst="ETH-USDT"), 1)


def test_tickers_become_best_bid_offer_and_one_sided_tickers_are_skipped() -> None:
    sync = BookSync(INST, "spot")
    msg = {
        "arg": {"channel": "tickers", "instId": INST},
        "data": [
            {
                "instId": INST,
                "askPx": "30220.1",
                "askSz": "3",
                "bidPx": "30210.4",
                "bidSz": "4",
                "ts": "1652459223003",
            },
            {
                "instId": INST,
                "askPx": "30220.1",
                "askSz": "3",
                "bidPx": "",
                "bidSz": "",
                "ts": "1652459223004",
            },
        ],
    }
    assert sync.on_frame(orjson.dumps(msg), 9) == [
        BestBidOffer(
            "okx", INST, "spot", D("30210.4"), D(4), D("30220.1"), D(3), 0, 1652459223003000000, 9
        )
    ]


def test_trades_become_trades() -> None:
    sync = BookSync("BTC-USD-220527", "perp")
    msg = (
        b'{"arg":{"channel":"trades","instId":"BTC-USD-220527"},"data":[{"instId":"BTC-USD-220527",'
        b'"tradeId":"7849","px":"30218.8","sz":"1","side":"buy","ts":"1652459199958"}]}'
    )
    assert sync.on_frame(msg, 3) == [
        Trade(
            "okx",
            "BTC-USD-220527",
            "perp",
            D("30218.8"),
            D(1),
            "buy",
            "7849",
            1652459199958000000,
            3,
        )
    ]


def test_rest_book_is_a_fallback_snapshot() -> None:
    sync = synced()
    sync.on_frame(frame("update", [], [], 12345), 2)  # corrupt -> out of sync
    body = orjson.dumps(
        {
            "code": "0",
            "msg": "",
            "data": [
                {
                    "asks": [["41006.8", "0.6", "0", "1"]],
                    "bids": [["41006.3", "0.3", "0", "1"]],
                    "ts": "1629966436396",
                }
            ],
        }
    )
    assert kinds(sync.on_snapshot(body, 3)) == ["BookSnapshot"]
    assert (sync.in_sync, sync.book.best_ask()) == (True, (D("41006.8"), D("0.6")))
    with pytest.raises(FeedError, match="not an OKX books body"):
        sync.on_snapshot(b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}', 4)


@pytest.mark.parametrize(
    ("stream", "symbol"),
    [
        ("books:BTC-USDT", "BTC-USDT"),
        ("books-l2-tbt:UNI-USD-SWAP", "UNI-USD-SWAP"),
        ("GET /api/v5/market/books?instId=BTC-USDT&sz=400", "BTC-USDT"),
        ("GET /api/v5/public/time", None),
        ("status", None),
    ],
)
def test_stream_symbol_maps_capture_streams(stream: str, symbol: str | None) -> None:
    assert okx.stream_symbol(stream) == symbol


def test_subscribe_message_and_snapshot_path() -> None:
    assert orjson.loads(okx.subscribe_message(["SOL-USDC"], "spot")) == {
        "op": "subscribe",
        "args": [
            {"channel": "books", "instId": "SOL-USDC"},
            {"channel": "tickers", "instId": "SOL-USDC"},
            {"channel": "trades", "instId": "SOL-USDC"},
        ],
    }
    assert (
        okx.snapshot_path("SOL-USDC", "spot", 400) == "/api/v5/market/books?instId=SOL-USDC&sz=400"
    )
    with pytest.raises(ConfigError):
        okx.snapshot_path("SOL-USDC", "spot", 401)


# -- malformed frames: never applied, always a resync ------------------------------------------


def test_snapshot_with_a_numeric_size_is_refused_and_the_next_update_is_not_applied() -> None:
    sync = synced()
    before = sync.book.top_raw(100)
    bad = frame("snapshot", [["100.1", 2, "0", "1"]], ASKS, SNAP_CRC)
    events = sync.on_frame(bad, 2)
    assert kinds(events) == ["ResyncRequired"]
    # the book reads a side's levels (`L2Book.apply_json`): it names the side and the path
    reason = events[0].reason  # type: ignore[attr-defined]
    assert "bid levels are not arrays of price and size strings" in reason
    assert "at `$[0][1]`" in reason
    assert (sync.in_sync, sync.needs_snapshot, sync.book.top_raw(100)) == (False, True, before)
    # Once a poisoned book, now simply ignored until the next snapshot.
    assert sync.on_frame(frame("update", [["100.1", "3", "0", "1"]], [], 1), 3) == []
    assert sync.stats.dropped_out_of_sync == 1


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        ({"ts": "1e3"}, "field ts='1e3' is not epoch milliseconds"),
        ({"ts": 1652459225807}, "`$[0].ts`"),
        ({"seqId": "abc"}, "`$[0].seqId`"),
        ({"checksum": 2**40}, "`$[0].checksum`"),
        ({"asks": {"100.2": "3"}}, "ask levels are not arrays of price and size strings"),
    ],
)
def test_update_failing_its_schema_requests_resync_and_leaves_the_book(
    mutate: dict[str, Any], field: str
) -> None:
    sync = synced()
    before = sync.book.top_raw(100)
    msg = orjson.loads(frame("update", [["100.05", "1", "0", "1"]], [], None))
    msg["data"][0].update(mutate)
    events = sync.on_frame(orjson.dumps(msg), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert field in events[0].reason  # type: ignore[attr-defined]
    assert (sync.in_sync, sync.book.top_raw(100)) == (False, before)


def test_unknown_book_action_requests_resync() -> None:
    sync = synced()
    events = sync.on_frame(frame("partial", BIDS, ASKS, SNAP_CRC), 2)
    assert [e.reason for e in events] == ["book action 'partial'"]  # type: ignore[attr-defined]
    assert sync.in_sync is False


def test_zero_checksum_is_not_verified_but_a_seq_gap_is_still_caught() -> None:
    sync = BookSync(INST, "spot")
    sync.on_frame(frame("snapshot", BIDS, ASKS, 0, seq=10, prev=-1), 1)
    assert kinds(sync.on_frame(frame("update", [["99", "1"]], [], 0, seq=11, prev=10), 2)) == [
        "BookDelta"
    ]
    events = sync.on_frame(frame("update", [], [], 0, seq=13, prev=12), 3)
    assert [e.reason for e in events] == ["gap: prevSeqId=12 != last seqId=11"]  # type: ignore[attr-defined]
    assert (sync.stats.checksum_absent, sync.stats.checksum_ok, sync.stats.checksum_fail) == (
        2,
        0,
        0,
    )


def test_malformed_trades_raise_naming_the_field() -> None:
    msg = (
        b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
        b'"tradeId":"7849","px":"30218.8","sz":"1","side":"bought","ts":"1652459199958"}]}'
    )
    with pytest.raises(FeedError, match=r"malformed trades data \(spot\): Invalid enum value"):
        BookSync(INST, "spot").on_frame(msg, 3)


def _both_paths(frames: list[bytes]) -> tuple[BookSync, BookSync, list[Any], list[Any]]:
    """Feed the same frames to `on_frame` (one-pass book decode) and to `on_wire` after
    `decode_frame` (the envelope path): what each returned, frame by frame."""
    one, env = BookSync(INST, "spot"), BookSync(INST, "spot")
    got_one: list[Any] = []
    got_env: list[Any] = []
    for i, f in enumerate(frames):
        got_one.append(one.on_frame(f, i))
        got_env.append(env.on_wire(okx.decode_frame(f), i))
    return one, env, got_one, got_env


def test_one_pass_book_decode_matches_the_envelope_path_frame_by_frame() -> None:
    up_bids = [["100.1", "0", "0", "0"], ["99.9", "4", "0", "1"]]
    up_crc = crc("100.0:1:100.2:3:99.9:4")
    frames = [
        frame("snapshot", BIDS, ASKS, SNAP_CRC, seq=1, prev=-1),
        frame("update", up_bids, [], up_crc, seq=2, prev=1),
        frame("update", [], [], up_crc, seq=2, prev=2),  # heartbeat
        frame("update", [["100.0", "2", "0", "1"]], [], 12345, seq=3, prev=2),  # bad checksum
        frame("update", [["100.0", "x", "0", "1"]], [], None, seq=4, prev=3),  # schema ok, bad size
        frame("snapshot", BIDS, ASKS, SNAP_CRC, channel="books-l2-tbt"),
        frame("update", [[100.0, "1", "0", "1"]], [], None),  # fails the schema
        frame("partial", BIDS, ASKS, SNAP_CRC),  # unknown action
    ]
    one, env, got_one, got_env = _both_paths(frames)
    assert got_one == got_env
    assert one.book.top_raw(10) == env.book.top_raw(10)
    assert one.stats == env.stats
    assert kinds(got_one[1]) == ["BookDelta"]
    assert kinds(got_one[3]) == ["ResyncRequired"]


def test_book_fields_beside_an_event_key_are_an_ack_not_a_book_frame() -> None:
    sync = synced()
    body = orjson.loads(frame("update", [["100.0", "0", "0", "0"]], [], None))
    body["event"] = "subscribe"
    assert sync.on_frame(orjson.dumps(body), 2) == []
    assert sync.stats.skipped == 1
    assert sync.book.top_raw(5)[0] == [("100.1", "2"), ("100.0", "1")]
