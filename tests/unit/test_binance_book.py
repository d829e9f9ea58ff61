"""Binance spot and USD-M BookSync: snapshot + diff rules, faults, non-book frames (synthetic)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.cex import binance
from connectors.cex.binance import BookSync
from operators.errors import ConfigError, FeedError
from operators.events import BestBidOffer, BookDelta, BookSnapshot, ResyncRequired, Trade

D = Decimal
SYM = "BTCUSDT"


def snap(last_id: int, bids: Any = (("100.0", "1"),), asks: Any = (("101.0", "1"),)) -> bytes:
    return orjson.dumps({"lastUpdateId": last_id, "bids": bids, "asks": asks})


def diff(
    first: int,
    last: int,
    bids: Any = (),
    asks: Any = (),
    *,
    pu: int | None = None,
    sym: str = SYM,
    envelope: bool = True,
) -> bytes:
    data: dict[str, Any] = {"e": "depthUpdate", "E": 1723161255208, "s": sym, "U": first, "u": last}
    if pu is not None:
        data["pu"] = pu
    data["b"] = bids
    data["a"] = asks
    if not envelope:
        return orjson.dumps(data)
    return orjson.dumps({"stream": f"{sym.lower()}@depth@100ms", "data": data})


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def synced_spot(last_id: int = 100) -> BookSync:
    sync = BookSync(SYM, "spot")
    sync.on_snapshot(snap(last_id), 1)
    return sync


# -- spot rules --------------------------------------------------------------------------------


def test_diffs_before_the_snapshot_are_buffered_then_bridged() -> None:
    sync = BookSync(SYM, "spot")
    assert sync.on_frame(diff(95, 99, [["99.0", "2"]]), 1) == []
    assert sync.on_frame(diff(100, 103, [["100.0", "5"]]), 2) == []
    assert (sync.in_sync, sync.needs_snapshot, sync.stats.buffered) == (False, True, 2)
    events = sync.on_snapshot(snap(101), 3)
    assert kinds(events) == ["BookSnapshot", "BookDelta"]
    assert isinstance(events[1], BookDelta)
    assert (events[1].first_update_id, events[1].last_update_id) == (100, 103)
    assert (sync.in_sync, sync.needs_snapshot, sync.last_update_id) == (True, False, 103)
    assert sync.book.best_bid() == (D("100.0"), D("5"))
    assert (sync.stats.dropped_stale, sync.stats.buffered, sync.stats.applied) == (1, 0, 2)


def test_spot_drops_diff_with_u_equal_to_last_update_id() -> None:
    sync = synced_spot(100)
    assert sync.on_frame(diff(90, 100, [["100.0", "9"]]), 2) == []
    assert sync.stats.dropped_stale == 1
    assert kinds(sync.on_frame(diff(101, 104), 3)) == ["BookDelta"]


def test_first_diff_starting_after_last_update_id_plus_one_requests_resync() -> None:
    sync = synced_spot(100)
    events = sync.on_frame(diff(102, 105), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert isinstance(events[0], ResyncRequired)
    assert events[0].reason == "first diff U=102 > 101 after snapshot lastUpdateId=100"
    assert (sync.in_sync, sync.needs_snapshot, sync.stats.buffered) == (False, True, 1)


def test_gap_in_update_ids_requests_resync_and_keeps_newer_diffs_for_next_snapshot() -> None:
    sync = synced_spot(100)
    sync.on_frame(diff(101, 104, [["100.5", "1"]]), 2)
    events = sync.on_frame(diff(106, 108, [["100.6", "1"]]), 3)
    assert [(type(e).__name__, getattr(e, "reason", "")) for e in events] == [
        ("ResyncRequired", "gap: U=106 != previous u+1=105")
    ]
    assert sync.in_sync is False
    assert sync.on_frame(diff(109, 110, [["100.7", "1"]]), 4) == []  # buffered, not applied
    assert sync.stats.buffered == 2
    events = sync.on_snapshot(snap(107, bids=[["100.6", "1"]]), 5)
    assert kinds(events) == ["BookSnapshot", "BookDelta", "BookDelta"]
    assert sync.in_sync is True
    assert sync.book.best_bid() == (D("100.7"), D("1"))
    assert (sync.stats.resyncs, sync.last_update_id) == (1, 110)


def test_out_of_order_frame_requests_resync() -> None:
    sync = synced_spot(100)
    sync.on_frame(diff(101, 102), 2)
    later, earlier = diff(106, 110), diff(103, 105)
    assert kinds(sync.on_frame(later, 3)) == ["ResyncRequired"]
    assert sync.on_frame(earlier, 4) == []  # held for the next snapshot, not applied
    assert (sync.in_sync, sync.stats.buffered) == (False, 2)


def test_duplicate_diff_after_sync_is_dropped_as_stale() -> None:
    sync = synced_spot(100)
    frame = diff(101, 102, [["100.5", "1"]])
    sync.on_frame(frame, 2)
    assert sync.on_frame(frame, 3) == []
    assert (sync.stats.dropped_stale, sync.in_sync) == (1, True)


def test_crossed_book_after_diff_requests_resync() -> None:
    sync = synced_spot(100)
    events = sync.on_frame(diff(101, 101, [["101.0", "1"]]), 2)
    assert [getattr(e, "reason", "") for e in events] == ["crossed book after diff u=101"]
    assert (sync.in_sync, sync.needs_snapshot) == (False, True)


def test_bad_level_in_diff_requests_resync() -> None:
    sync = synced_spot(100)
    events = sync.on_frame(diff(101, 101, [["oops", "1"]]), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert sync.in_sync is False


def test_snapshot_older_than_live_book_is_ignored() -> None:
    sync = synced_spot(100)
    sync.on_frame(diff(101, 120, [["100.5", "1"]]), 2)
    assert sync.on_snapshot(snap(110), 3) == []
    assert (sync.last_update_id, sync.book.best_bid()) == (120, (D("100.5"), D("1")))


def test_snapshot_event_carries_all_levels_and_update_id() -> None:
    sync = BookSync(SYM, "spot")
    events = sync.on_snapshot(snap(7, [["1.10", "2"]], [["1.20", "3"], ["1.30", "4"]]), 42)
    assert events == [
        BookSnapshot(
            "binance",
            SYM,
            "spot",
            ((D("1.10"), D("2")),),
            ((D("1.20"), D("3")), (D("1.30"), D("4"))),
            7,
            0,
            42,
        )
    ]


def test_bare_payload_without_envelope_is_accepted() -> None:
    sync = synced_spot(100)
    assert kinds(sync.on_frame(diff(101, 101, [["100.2", "1"]], envelope=False), 2)) == [
        "BookDelta"
    ]


def test_malformed_snapshot_raises_naming_the_missing_field_and_keeps_state() -> None:
    sync = synced_spot(100)
    with pytest.raises(
        FeedError,
        match=r"binance/BTCUSDT: malformed depth snapshot \(spot\): "
        r"Object missing required field `lastUpdateId`",
    ):
        sync.on_snapshot(b'{"code":-1121,"msg":"Invalid symbol."}', 1)
    assert (sync.in_sync, sync.last_update_id, sync.book.best_bid()) == (True, 100, (D(100), D(1)))


def test_undecodable_frame_requests_resync_and_leaves_the_book() -> None:
    sync = synced_spot(100)
    events = sync.on_frame(b"{not json", 7)
    assert kinds(events) == ["ResyncRequired"]
    assert events[0].reason.startswith(
        "binance/BTCUSDT: malformed frame envelope (spot): JSON is malformed"
    )
    assert (sync.in_sync, sync.needs_snapshot, sync.book.best_bid()) == (
        False,
        True,
        (D(100), D(1)),
    )


def test_frame_for_another_symbol_raises_feed_error() -> None:
    sync = synced_spot(100)
    with pytest.raises(FeedError, match="'ETHUSDT' routed to this book"):
        sync.on_frame(diff(101, 101, sym="ETHUSDT"), 2)


def test_resync_of_one_symbol_leaves_other_symbols_in_sync() -> None:
    btc, eth = synced_spot(100), BookSync("ETHUSDT", "spot")
    eth.on_snapshot(snap(500), 1)
    btc.on_frame(diff(150, 151), 2)
    assert (btc.in_sync, eth.in_sync) == (False, True)
    assert kinds(eth.on_frame(diff(501, 502, sym="ETHUSDT"), 3)) == ["BookDelta"]


def test_buffer_is_bounded_and_keeps_the_newest_diffs() -> None:
    sync = BookSync(SYM, "spot", max_buffered=3)
    for i in range(10):
        sync.on_frame(diff(10 * i + 1, 10 * i + 10), i)
    assert sync.stats.buffered == 3
    assert kinds(sync.on_snapshot(snap(85), 99)) == ["BookSnapshot", "BookDelta", "BookDelta"]
    assert (sync.stats.dropped_stale, sync.last_update_id) == (1, 100)


# -- USD-M rules -------------------------------------------------------------------------------


def test_usdm_first_diff_with_u_equal_to_last_update_id_is_applied() -> None:
    sync = BookSync(SYM, "perp")
    sync.on_frame(diff(90, 95, pu=89), 1)
    sync.on_frame(diff(96, 100, [["100.0", "3"]], pu=95), 2)
    events = sync.on_snapshot(snap(100), 3)
    assert kinds(events) == ["BookSnapshot", "BookDelta"]
    assert events[0].venue == "binance-usdm"
    assert (sync.in_sync, sync.book.best_bid()) == (True, (D("100.0"), D("3")))
    assert sync.stats.dropped_stale == 1


def test_usdm_continuity_uses_pu_not_u_plus_one() -> None:
    sync = BookSync(SYM, "perp")
    sync.on_snapshot(snap(100), 1)
    sync.on_frame(diff(98, 105, pu=97), 2)
    assert kinds(sync.on_frame(diff(110, 112, pu=105), 3)) == ["BookDelta"]
    events = sync.on_frame(diff(113, 115, pu=111), 4)
    assert [getattr(e, "reason", "") for e in events] == ["gap: pu=111 != previous u=112"]


def test_usdm_first_diff_must_contain_last_update_id() -> None:
    sync = BookSync(SYM, "perp")
    sync.on_snapshot(snap(100), 1)
    events = sync.on_frame(diff(101, 103, pu=100), 2)
    assert [getattr(e, "reason", "") for e in events] == [
        "first diff U=101 > 100 after snapshot lastUpdateId=100"
    ]


# -- non-book frames and helpers ---------------------------------------------------------------


def test_book_ticker_becomes_best_bid_offer() -> None:
    sync = BookSync(SYM, "spot")
    frame = (
        b'{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",'
        b'"b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
    )
    assert sync.on_frame(frame, 5) == [
        BestBidOffer(
            "binance",
            SYM,
            "spot",
            D("61837.63"),
            D("3.78826"),
            D("61837.64"),
            D("1.54698"),
            50093239212,
            0,
            5,
        )
    ]


def test_trade_becomes_trade_with_taker_side() -> None:
    sync = BookSync(SYM, "perp")
    frame = (
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,'
        b'"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":true}}'
    )
    assert sync.on_frame(frame, 5) == [
        Trade(
            "binance-usdm",
            SYM,
            "perp",
            D("61800.30"),
            D("0.006"),
            "sell",
            "5266583935",
            1723161256322000000,
            5,
        )
    ]


def test_subscribe_ack_is_skipped() -> None:
    sync = BookSync(SYM, "spot")
    assert sync.on_frame(b'{"result":null,"id":1}', 1) == []
    assert sync.stats.skipped == 1


def test_venue_error_frame_raises() -> None:
    with pytest.raises(FeedError, match="venue error -1121"):
        BookSync(SYM, "spot").on_frame(b'{"code":-1121,"msg":"Invalid symbol."}', 1)


@pytest.mark.parametrize(
    ("stream", "symbol"),
    [
        ("ethusdt@depth@100ms", "ETHUSDT"),
        ("btcusdt@bookTicker", "BTCUSDT"),
        ("GET /api/v3/depth?symbol=ETHUSDT&limit=1000", "ETHUSDT"),
        ("GET /fapi/v1/depth?symbol=BTCUSDT&limit=1000", "BTCUSDT"),
        ("!miniTicker@arr", None),
        ("GET /api/v3/time", None),
        ("listenKeyXYZ", None),
    ],
)
def test_stream_symbol_maps_capture_streams(stream: str, symbol: str | None) -> None:
    assert binance.stream_symbol(stream) == symbol


def test_subscribe_message_and_snapshot_path() -> None:
    assert orjson.loads(binance.subscribe_message(["SOLUSDC"], "spot")) == {
        "method": "SUBSCRIBE",
        "params": ["solusdc@depth@100ms", "solusdc@bookTicker", "solusdc@trade"],
        "id": 1,
    }
    assert (
        binance.snapshot_path("SOLUSDC", "spot", 1000) == "/api/v3/depth?symbol=SOLUSDC&limit=1000"
    )
    assert (
        binance.snapshot_path("BTCUSDT", "perp", 500) == "/fapi/v1/depth?symbol=BTCUSDT&limit=500"
    )
    with pytest.raises(ConfigError):
        binance.snapshot_path("BTCUSDT", "perp", 5000)
    with pytest.raises(ConfigError):
        BookSync(SYM, "margin")  # type: ignore[arg-type]


# -- property: never crossed while in sync -----------------------------------------------------

levels = st.lists(
    st.tuples(st.integers(95, 106).map(lambda t: f"{t}.0"), st.sampled_from(["0", "1", "2.5"])),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(levels, levels, st.integers(0, 2)), max_size=25))
def test_book_is_never_crossed_while_in_sync(
    steps: list[tuple[list[tuple[str, str]], list[tuple[str, str]], int]],
) -> None:
    sync = BookSync(SYM, "spot")
    sync.on_snapshot(snap(100, [["99.0", "1"]], [["102.0", "1"]]), 0)
    last = 100
    for i, (bids, asks, skip) in enumerate(steps):
        first = last + 1 + (1 if skip == 2 else 0)  # skip == 2 injects a gap
        last = first + skip
        events = sync.on_frame(diff(first, last, bids, asks), i)
        if sync.in_sync:
            bb, ba = sync.book.best_bid(), sync.book.best_ask()
            assert bb is None or ba is None or bb[0] < ba[0]
        else:
            assert sync.needs_snapshot is True
            if any(isinstance(e, ResyncRequired) for e in events):
                sync.on_snapshot(snap(last, [["99.0", "1"]], [["102.0", "1"]]), i)
                assert sync.in_sync is True


def test_crossed_rest_snapshot_requests_resync_and_keeps_buffered_diffs() -> None:
    sync = BookSync(SYM, "spot")
    sync.on_frame(diff(101, 105), 1)
    events = sync.on_snapshot(snap(100, [["101.0", "1"]], [["100.0", "1"]]), 2)
    assert [getattr(e, "reason", "") for e in events] == ["REST snapshot is crossed"]
    assert (sync.in_sync, sync.needs_snapshot, sync.stats.buffered) == (False, True, 1)
    assert kinds(sync.on_snapshot(snap(100), 3)) == ["BookSnapshot", "BookDelta"]


def test_sync_state_survives_pickling_mid_stream() -> None:
    import pickle

    sync = synced_spot(100)
    sync.on_frame(diff(101, 102, [["100.5", "1"]]), 2)
    clone = pickle.loads(pickle.dumps(sync))
    assert kinds(clone.on_frame(diff(103, 104, [["100.6", "2"]]), 3)) == ["BookDelta"]
    assert (clone.last_update_id, clone.book.best_bid()) == (104, (D("100.6"), D("2")))


# -- malformed frames: never applied, always a resync ------------------------------------------


def _book_state(sync: BookSync) -> tuple[object, ...]:
    return (sync.book.top_raw(1000), sync.last_update_id)


_MALFORMED = "binance/BTCUSDT: malformed depthUpdate (spot): "
_BAD_BIDS = "bad diff level: bid levels are not arrays of price and size strings: "
_BAD_ASKS = "bad diff level: ask levels are not arrays of price and size strings: "


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        # A side's levels are read by the book (`L2Book.apply_json`), which names the side and
        # the level's path inside it; the other fields fail the frame's schema.
        ({"b": ["2683.19"]}, _BAD_BIDS, "`$[0]`"),  # a level sent as a string, not [price, qty]
        ({"b": [{"p": "100.2", "q": "1"}]}, _BAD_BIDS, "`$[0]`"),  # a level sent as an object
        ({"a": [["100.9", 1]]}, _BAD_ASKS, "`$[0][1]`"),  # a numeric size
        ({"b": "100.2"}, _BAD_BIDS, "got `str`"),  # a side that is not an array
        ({"E": "1723161255208"}, _MALFORMED, "`$.E`"),  # E as a string (once multiplied by 1e6)
        ({"u": "0x10"}, _MALFORMED, "`$.u`"),
        ({"U": 1.5}, _MALFORMED, "`$.U`"),
        ({"e": "depthUpdat"}, _MALFORMED, "`$.e`"),
        ({"E": 10**18}, _MALFORMED, "`$.E`"),
        ({"u": -1}, _MALFORMED, "`$.u`"),
    ],
)
def test_depth_frame_failing_its_schema_requests_resync_and_leaves_the_book(
    data: dict[str, Any], reason: str, field: str
) -> None:
    sync = synced_spot(100)
    before = _book_state(sync)
    frame = orjson.loads(diff(101, 101, [["100.2", "1"]], [["100.9", "1"]]))
    frame["data"].update(data)
    events = sync.on_frame(orjson.dumps(frame), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert events[0].reason.startswith(reason)
    assert field in events[0].reason
    assert (sync.in_sync, sync.needs_snapshot) == (False, True)
    assert _book_state(sync) == before


@pytest.mark.parametrize(
    "level",
    [["1e3", "1"], ["100.2", "1e-400"], ["100.2", "-0"], ["1_00.2", "1"], [" 100.2", "1"],
     ["100.2", "NaN"], ["١٠٠", "1"], ["100.2", "1" * 41], ["1234567890.123456", "1"]],
)  # fmt: skip
def test_level_that_is_not_a_plain_venue_decimal_is_never_applied(level: list[str]) -> None:
    sync = synced_spot(100)
    before = _book_state(sync)
    # The valid bid comes first: a half-applied frame would keep it.
    events = sync.on_frame(diff(101, 101, [["100.3", "1"], level]), 2)
    assert kinds(events) == ["ResyncRequired"]
    assert events[0].reason.startswith("bad diff level: ")  # type: ignore[attr-defined]
    assert _book_state(sync) == before


def test_bad_ask_level_also_leaves_the_frames_valid_bids_unapplied() -> None:
    sync = synced_spot(100)
    before = _book_state(sync)
    events = sync.on_frame(diff(101, 101, [["100.3", "1"]], [["101.5", "nan"]]), 2)
    assert [e.reason for e in events] == [  # type: ignore[attr-defined]
        "bad diff level: bad ask level ('101.5', 'nan'): price must be finite > 0 and size "
        "finite >= 0"
    ]
    assert _book_state(sync) == before


def test_malformed_book_ticker_raises_naming_the_field_and_keeps_the_book_in_sync() -> None:
    sync = synced_spot(100)
    frame = (
        b'{"stream":"btcusdt@bookTicker","data":'
        b'{"u":5,"s":"BTCUSDT","b":"1","B":2,"a":"3","A":"4"}}'
    )
    with pytest.raises(
        FeedError,
        match=r"binance/BTCUSDT: malformed bookTicker \(spot\): "
        r"Expected `str`, got `int` - at `\$.B`",
    ):
        sync.on_frame(frame, 2)
    assert sync.in_sync is True


def test_book_ticker_with_an_exponent_price_raises() -> None:
    frame = b'{"u":5,"s":"BTCUSDT","b":"1e999999","B":"1","a":"3","A":"4"}'
    with pytest.raises(FeedError, match=r"field b='1e999999' is not a plain decimal"):
        BookSync(SYM, "spot").on_frame(frame, 2)


def test_combined_frame_is_classified_by_its_stream_without_decoding_the_body() -> None:
    wire = binance.decode_frame(diff(1, 2))
    assert (wire.kind, wire.stream, wire.market_data) == ("book", "btcusdt@depth@100ms", True)
    assert bytes(wire.body).startswith(b'{"e":"depthUpdate"')
    assert binance.decode_frame(b'{"result":null,"id":1}').kind == "ack"
