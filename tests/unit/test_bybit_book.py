"""Bybit v5 BookSync: snapshot resets, u continuity, restart (u=1), orderbook.1 BBO."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from connectors.cex import bybit
from connectors.cex.bybit import BookSync
from operators.errors import ConfigError, FeedError
from operators.events import BestBidOffer, BookDelta, BookSnapshot

D = Decimal
SYM = "BTCUSDT"


def ob(
    kind: str, u: int, bids: Any = (), asks: Any = (), *, depth: int = 50, seq: int = 7
) -> bytes:
    return orjson.dumps(
        {
            "topic": f"orderbook.{depth}.{SYM}",
            "type": kind,
            "ts": 1758845431663,
            "data": {"s": SYM, "b": bids, "a": asks, "u": u, "seq": seq},
            "cts": 1758845431662,
        }
    )


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def synced(u: int = 10) -> BookSync:
    sync = BookSync(SYM, "perp")
    sync.on_frame(ob("snapshot", u, [["100.0", "1"]], [["100.5", "2"]]), 1)
    return sync


def test_snapshot_then_consecutive_deltas_apply() -> None:
    sync = BookSync(SYM, "spot")
    events = sync.on_frame(ob("snapshot", 10, [["100.0", "1"]], [["100.5", "2"]], seq=5), 1)
    assert events == [
        BookSnapshot(
            "bybit",
            SYM,
            "spot",
            ((D("100.0"), D(1)),),
            ((D("100.5"), D(2)),),
            10,
            1758845431663000000,
            1,
        )
    ]
    events = sync.on_frame(ob("delta", 11, [["100.1", "3"]], [["100.5", "0"]], seq=9), 2)
    assert events == [
        BookDelta(
            "bybit",
            SYM,
            "spot",
            ((D("100.1"), D(3)),),
            ((D("100.5"), D(0)),),
            11,
            11,
            1758845431663000000,
            2,
        )
    ]
    assert (sync.in_sync, sync.last_update_id, sync.last_seq) == (True, 11, 9)
    assert sync.book.top(5) == ([(D("100.1"), D(3)), (D("100.0"), D(1))], [])


def test_gap_in_u_requests_resync_and_ignores_deltas_until_snapshot() -> None:
    sync = synced(10)
    events = sync.on_frame(ob("delta", 12), 2)
    assert [getattr(e, "reason", "") for e in events] == ["gap: u=12 != previous u+1=11"]
    assert (sync.in_sync, sync.needs_snapshot) == (False, True)
    assert sync.on_frame(ob("delta", 13), 3) == []
    assert sync.stats.dropped_out_of_sync == 1


def test_snapshot_on_reconnect_resets_the_book() -> None:
    sync = synced(10)
    sync.on_frame(ob("delta", 11, [["99.0", "5"]]), 2)
    sync.on_frame(ob("delta", 13), 3)  # gap
    events = sync.on_frame(ob("snapshot", 500, [["101.0", "1"]], [["101.5", "1"]]), 4)
    assert kinds(events) == ["BookSnapshot"]
    assert (sync.in_sync, sync.needs_snapshot, sync.last_update_id) == (True, False, 500)
    assert sync.book.top(5) == ([(D("101.0"), D(1))], [(D("101.5"), D(1))])


def test_delta_with_u_1_means_service_restart_and_requires_snapshot() -> None:
    sync = synced(10)
    events = sync.on_frame(ob("delta", 1, [["100.0", "2"]]), 2)
    assert [getattr(e, "reason", "") for e in events] == [
        "delta with u=1: book service restarted, snapshot needed"
    ]
    assert sync.book.best_bid() == (D("100.0"), D(1))  # the restart delta was not applied
    assert kinds(sync.on_frame(ob("snapshot", 1, [["100.0", "2"]], [["100.5", "2"]]), 3)) == [
        "BookSnapshot"
    ]
    assert kinds(sync.on_frame(ob("delta", 2), 4)) == ["BookDelta"]


def test_stale_delta_is_dropped() -> None:
    sync = synced(10)
    assert sync.on_frame(ob("delta", 9), 2) == []
    assert (sync.stats.dropped_stale, sync.in_sync) == (1, True)


def test_crossed_book_after_delta_requests_resync() -> None:
    sync = synced(10)
    events = sync.on_frame(ob("delta", 11, [["100.5", "1"]]), 2)
    assert [getattr(e, "reason", "") for e in events] == ["crossed book after delta u=11"]


def test_orderbook_1_gives_best_bid_offer_without_touching_the_book() -> None:
    sync = synced(10)
    frame = (
        b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1758841134603,"data":{"s":'
        b'"BTCUSDT","b":[["109378.80","1.273"]],"a":[["109378.90","6.278"]],"u":14869255,'
        b'"seq":457514742271},"cts":1758841134598}'
    )
    assert sync.on_frame(frame, 5) == [
        BestBidOffer(
            "bybit",
            SYM,
            "perp",
            D("109378.80"),
            D("1.273"),
            D("109378.90"),
            D("6.278"),
            14869255,
            1758841134603000000,
            5,
        )
    ]
    assert sync.book.best_bid() == (D("100.0"), D(1))


def test_acks_and_pongs_are_skipped_and_failed_subscribe_raises() -> None:
    sync = BookSync(SYM, "spot")
    ack = b'{"success":true,"ret_msg":"","conn_id":"x","req_id":"","op":"subscribe"}'
    pong = b'{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}'
    assert (sync.on_frame(ack, 1), sync.on_frame(pong, 2)) == ([], [])
    with pytest.raises(FeedError, match="venue error: error:handler not found"):
        sync.on_frame(b'{"success":false,"ret_msg":"error:handler not found","op":"x"}', 3)


def test_other_depth_topic_for_this_symbol_raises() -> None:
    with pytest.raises(FeedError, match="is not this book"):
        BookSync(SYM, "spot").on_frame(ob("snapshot", 1, depth=200), 1)


def test_rest_orderbook_is_a_fallback_snapshot() -> None:
    sync = BookSync(SYM, "spot")
    body = orjson.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {
                "s": SYM,
                "a": [["65557.7", "16.606"]],
                "b": [["65485.47", "47.081"]],
                "ts": 1716863719031,
                "u": 230704,
                "seq": 1432604333,
                "cts": 1716863718905,
            },
        }
    )
    assert kinds(sync.on_snapshot(body, 1)) == ["BookSnapshot"]
    assert (sync.in_sync, sync.last_update_id) == (True, 230704)
    assert kinds(sync.on_frame(ob("delta", 230705), 2)) == ["BookDelta"]


@pytest.mark.parametrize(
    ("stream", "symbol"),
    [
        ("orderbook.50.BTCUSDT", "BTCUSDT"),
        ("publicTrade.SOLUSDC", "SOLUSDC"),
        ("GET /v5/market/orderbook?category=spot&symbol=SOLUSDC&limit=200", "SOLUSDC"),
        ("GET /v5/market/time", None),
        ("kline.1.BTCUSDT", None),
    ],
)
def test_stream_symbol_maps_capture_streams(stream: str, symbol: str | None) -> None:
    assert bybit.stream_symbol(stream) == symbol


def test_subscribe_message_and_snapshot_path() -> None:
    assert orjson.loads(bybit.subscribe_message(["SOLUSDC"], "spot")) == {
        "op": "subscribe",
        "args": ["orderbook.50.SOLUSDC", "orderbook.1.SOLUSDC", "publicTrade.SOLUSDC"],
    }
    assert (
        bybit.snapshot_path("BTCUSDT", "perp", 200)
        == "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=200"
    )
    with pytest.raises(ConfigError):
        BookSync(SYM, "spot", depth=500)


# -- malformed frames: never applied, always a resync ------------------------------------------


_MALFORMED = "bybit/BTCUSDT: malformed orderbook.50.BTCUSDT data (perp): "


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        ({"seq": "abc"}, _MALFORMED, "`$.seq`"),
        ({"u": "11"}, _MALFORMED, "`$.u`"),
        # A side's levels are read by the book (`L2Book.apply_json`): it names side and path.
        ({"b": [{"price": "100.1", "size": "1"}]}, "bad delta level: bid levels are not", "`$[0]`"),
        ({"a": [["100.4", "2", "extra"]]}, "bad delta level: ask levels are not", "`$[0]`"),
        ({"s": None}, _MALFORMED, "`$.s`"),
    ],
)
def test_delta_failing_its_schema_requests_resync_and_leaves_the_book(
    mutate: dict[str, Any], reason: str, field: str
) -> None:
    sync = synced(10)
    before = sync.book.top_raw(100)
    msg = orjson.loads(ob("delta", 11, [["100.1", "1"]], [["100.4", "2"]]))
    msg["data"].update(mutate)
    events = sync.on_frame(orjson.dumps(msg), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert events[0].reason.startswith(reason)  # type: ignore[attr-defined]
    assert field in events[0].reason  # type: ignore[attr-defined]
    assert (sync.in_sync, sync.last_update_id, sync.book.top_raw(100)) == (False, 10, before)


def test_envelope_ts_as_a_string_requests_resync() -> None:
    sync = synced(10)
    msg = orjson.loads(ob("delta", 11, [["100.1", "1"]]))
    msg["ts"] = "1e3"
    events = sync.on_frame(orjson.dumps(msg), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert "at `$.ts`" in events[0].reason  # type: ignore[attr-defined]
    assert sync.in_sync is False


def test_unknown_book_type_requests_resync() -> None:
    sync = synced(10)
    events = sync.on_frame(ob("partial", 11), 2)
    assert [e.reason for e in events] == [  # type: ignore[attr-defined]
        "orderbook.50.BTCUSDT frame of unknown type 'partial'"
    ]
