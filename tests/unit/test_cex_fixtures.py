"""Book synchronisers replayed over the recorded real frames in ../shared/fixtures/cex.

Expected figures come from PROVENANCE.md's verification tables (an independent rebuild).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.cex import binance, bybit, okx
from operators.events import BestBidOffer, BookDelta, BookSnapshot, ResyncRequired, Trade
from tests.conftest import iter_cex_lines

pytestmark = pytest.mark.fixtures

D = Decimal

BINANCE = [
    # file, market, lastUpdateId, stale diffs dropped, bookTicker matches
    ("binance/btcusdt_spot_2024-08-08T2354Z_10min.jsonl.gz", "spot", 50093239218, 2, 993),
    ("binance/ethusdt_spot_2024-08-08T2354Z_6min.jsonl.gz", "spot", 35346513512, 2, 577),
    ("binance-usdm/btcusdt_usdm_2024-08-08T2354Z_6min.jsonl.gz", "perp", 5123107852948, 4, 629),
    ("binance-usdm/ethusdt_usdm_2024-08-08T2354Z_6min.jsonl.gz", "perp", 5123107856276, 5, 551),
]


def _replay(sync: Any, lines: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for line in lines:
        payload = line["payload"].encode()
        if line["kind"] == "rest":
            out += sync.on_snapshot(payload, line["ts_recv_ns"])
        else:
            out += sync.on_frame(payload, line["ts_recv_ns"])
    return out


@pytest.mark.parametrize(("name", "market", "last_id", "stale", "matches"), BINANCE)
def test_binance_capture_is_continuous_and_matches_every_book_ticker(
    fixtures: Path, name: str, market: str, last_id: int, stale: int, matches: int
) -> None:
    lines = list(iter_cex_lines(fixtures / "cex" / name))
    symbol = binance.stream_symbol(lines[0]["stream"])
    assert symbol is not None
    # bookTicker frames keyed by update id (they run ahead of the 100 ms diffs).
    ticker_sync = binance.BookSync(symbol, market)  # type: ignore[arg-type]
    tickers: dict[int, BestBidOffer] = {}
    for line in lines:
        if "@bookTicker" in line["stream"]:
            (bbo,) = ticker_sync.on_frame(line["payload"].encode(), line["ts_recv_ns"])
            tickers[bbo.update_id] = bbo
    sync = binance.BookSync(symbol, market)  # type: ignore[arg-type]
    compared = equal = 0
    resyncs = 0
    for line in lines:
        payload = line["payload"].encode()
        if line["kind"] == "rest":
            events = sync.on_snapshot(payload, line["ts_recv_ns"])
            assert isinstance(events[0], BookSnapshot)
            assert events[0].update_id == last_id
        else:
            events = sync.on_frame(payload, line["ts_recv_ns"])
        for e in events:
            resyncs += isinstance(e, ResyncRequired)
            if isinstance(e, BookDelta) and e.last_update_id in tickers:
                t = tickers[e.last_update_id]
                compared += 1
                equal += sync.book.best_bid() == (
                    t.bid_price,
                    t.bid_qty,
                ) and sync.book.best_ask() == (
                    t.ask_price,
                    t.ask_qty,
                )
    assert resyncs == 0
    assert (sync.in_sync, sync.needs_snapshot, sync.book.is_crossed()) == (True, False, False)
    assert sync.stats.dropped_stale == stale
    assert (equal, compared) == (matches, matches)


def test_usdm_ethusdt_first_bridging_diff_has_u_equal_to_last_update_id(fixtures: Path) -> None:
    lines = list(iter_cex_lines(fixtures / "cex" / BINANCE[3][0]))
    sync = binance.BookSync("ETHUSDT", "perp")
    events = _replay(
        sync, lines[: next(i for i, ln in enumerate(lines) if ln["kind"] == "rest") + 1]
    )
    first = next(e for e in events if isinstance(e, BookDelta))
    assert (first.first_update_id, first.last_update_id) == (5123107853791, 5123107856276)


# -- OKX -----------------------------------------------------------------------------------------

OKX_CHECKSUMS = {
    "okx/okx_books_2022-05-13.jsonl.gz": {
        "BTC-USD-220527": 99,
        "BTC-USDT": 98,
        "UNI-USD-SWAP": 93,
    },
    "okx/okx_books-l2-tbt_2022-02-27.jsonl.gz": {
        "BTC-USD-220325-40000-C": 62,
        "ELON-USDT": 1602,
        "ETH-USD-220228-3000-C": 4,
        "ETH-USD-220325-8800-P": 25,
        "ETH-USD-220429-1900-P": 13,
        "ETH-USD-220624-12000-P": 22,
        "ETH-USD-220624-20000-C": 10,
        "PROPS-ETH": 208,
        "UNI-USD-SWAP": 1337,
        "ZEN-USDT": 396,
    },
}


@pytest.mark.parametrize("name", sorted(OKX_CHECKSUMS))
def test_okx_every_checksum_matches(fixtures: Path, name: str) -> None:
    syncs: dict[str, okx.BookSync] = {}
    resyncs = 0
    for line in iter_cex_lines(fixtures / "cex" / name):
        inst = okx.stream_symbol(line["stream"])
        assert inst is not None
        sync = syncs.setdefault(inst, okx.BookSync(inst, "spot"))
        for e in sync.on_frame(line["payload"].encode(), line["ts_recv_ns"]):
            resyncs += isinstance(e, ResyncRequired)
    assert resyncs == 0
    checked = {i: s.stats.checksum_ok for i, s in syncs.items() if s.stats.checksum_ok}
    assert checked == OKX_CHECKSUMS[name]
    assert all(s.stats.checksum_fail == 0 and s.stats.checksum_absent == 0 for s in syncs.values())
    assert all(s.in_sync for i, s in syncs.items() if i in checked)


@pytest.mark.parametrize("name", sorted(OKX_CHECKSUMS))
def test_okx_one_pass_book_decode_gives_the_envelope_paths_events(
    fixtures: Path, name: str
) -> None:
    fast: dict[str, okx.BookSync] = {}
    slow: dict[str, okx.BookSync] = {}
    for line in iter_cex_lines(fixtures / "cex" / name):
        inst = okx.stream_symbol(line["stream"])
        assert inst is not None
        payload, ts = line["payload"].encode(), line["ts_recv_ns"]
        a = fast.setdefault(inst, okx.BookSync(inst, "spot"))
        b = slow.setdefault(inst, okx.BookSync(inst, "spot"))
        assert a.on_frame(payload, ts) == b.on_wire(okx.decode_frame(payload), ts)
    assert {i: s.stats for i, s in fast.items()} == {i: s.stats for i, s in slow.items()}
    assert all(fast[i].book.top_raw(400) == s.book.top_raw(400) for i, s in slow.items())
    assert sum(s.stats.checksum_ok for s in fast.values()) == sum(OKX_CHECKSUMS[name].values())


def test_okx_double_snapshot_resets_the_book(fixtures: Path) -> None:
    sync = okx.BookSync("ELON-USDT", "spot")
    kinds: list[str] = []
    sizes: list[int] = []
    for line in iter_cex_lines(fixtures / "cex" / "okx/okx_books-l2-tbt_2022-02-27.jsonl.gz"):
        if line["stream"] != "books-l2-tbt:ELON-USDT":
            continue
        for e in sync.on_frame(line["payload"].encode(), line["ts_recv_ns"]):
            kinds.append(type(e).__name__)
            if isinstance(e, BookSnapshot):
                sizes.append(len(e.bids) + len(e.asks))
                assert len(sync.book) == len(e.bids) + len(e.asks)
    assert Counter(kinds) == Counter({"BookSnapshot": 2, "BookDelta": 1600})
    assert kinds[:2] == ["BookSnapshot", "BookSnapshot"]
    assert sync.stats.checksum_ok == 1602


# -- Bybit ---------------------------------------------------------------------------------------


def test_bybit_sample_frames_parse_to_exact_events(fixtures: Path) -> None:
    lines = list(
        iter_cex_lines(fixtures / "cex/bybit/bybit_v5_format_samples_NOT_A_STREAM.jsonl.gz")
    )
    sync = bybit.BookSync("BTCUSDT", "perp")
    events = [sync.on_frame(ln["payload"].encode(), ln["ts_recv_ns"]) for ln in lines]
    assert events[0] == [
        BestBidOffer(
            "bybit",
            "BTCUSDT",
            "perp",
            D("109378.80"),
            D("1.273"),
            D("109378.90"),
            D("6.278"),
            14869255,
            1758841134603000000,
            lines[0]["ts_recv_ns"],
        )
    ]
    assert events[1] == [
        Trade(
            "bybit",
            "BTCUSDT",
            "perp",
            D("109378.90"),
            D("0.020"),
            "buy",
            "2a74ac78-691c-5b54-9dbe-5aafe8364627",
            1758841135823000000,
            lines[1]["ts_recv_ns"],
        )
    ]
    # A delta with no snapshot before it (the samples are not a stream) is not applied.
    assert events[2] == []
    assert (sync.in_sync, sync.stats.dropped_out_of_sync, len(sync.book)) == (False, 1, 0)
    # Preceded by a snapshot at u-1, the same recorded delta applies exactly.
    seeded = bybit.BookSync("BTCUSDT", "perp")
    snap = (
        b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1758845431600,"data":{"s":'
        b'"BTCUSDT","b":[["109147.70","2"]],"a":[["109148.00","1"],["109156.40","3"]],'
        b'"u":21111422,"seq":457538796400},"cts":1758845431599}'
    )
    seeded.on_frame(snap, 0)
    assert seeded.on_frame(lines[2]["payload"].encode(), lines[2]["ts_recv_ns"]) == [
        BookDelta(
            "bybit",
            "BTCUSDT",
            "perp",
            ((D("109147.80"), D("1.687")), (D("109144.10"), D("0.027"))),
            (
                (D("109148.00"), D(0)),
                (D("109154.30"), D("0.076")),
                (D("109156.40"), D(0)),
                (D("109165.30"), D("0.003")),
                (D("109165.40"), D("0.007")),
            ),
            21111423,
            21111423,
            1758845431663000000,
            lines[2]["ts_recv_ns"],
        )
    ]
    assert seeded.book.top(2) == (
        [(D("109147.80"), D("1.687")), (D("109147.70"), D(2))],
        [(D("109154.30"), D("0.076")), (D("109165.30"), D("0.003"))],
    )
    assert seeded.last_seq == 457538796406
