"""The live CEX transports against the loopback venue simulators (real sockets, 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors import venues as registry
from connectors.bounded import BoundedPartition, BoundedSource, Bounds
from connectors.capture import CaptureWriter, read_capture
from connectors.cex.rest import RateBudget, backoff_s
from connectors.cex.sources import CexFeedSource, record_cex
from connectors.cex.transport import CexTransport
from operators.events import HealthEvent, RawFrame
from sim.cex_frames import SimFeed, okx_checksum
from sim.cex_venues import CexVenues, start_venues, start_venues_in_thread
from tests.conftest import iter_cex_lines
from tests.integration.cex_support import CASE_IDS, CASES, FAST, Case, Replica, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

BINANCE = CASES[0]


@pytest.fixture
async def venues() -> AsyncIterator[CexVenues]:
    v = await start_venues(seed=7, frame_interval_s=0.005, server_ping_interval_s=0.05,
                           pong_timeout_s=0.5, clock_skew_ms={"binance": 2500})
    yield v
    await v.stop()


async def _start(venues: CexVenues, case: Case, **kw: object) -> tuple[CexTransport, Replica,
                                                                      asyncio.Task[None]]:
    mod = case.adapter()
    replica = Replica(venues, case, mod)
    ws_url, rest_url = case.urls(venues)
    cfg = kw.pop("config", FAST)
    t = CexTransport(case.venue, list(case.symbols), case.market, ws_url, rest_url, replica,
                     config=cfg, seed=1, **kw)  # type: ignore[arg-type]
    return t, replica, asyncio.create_task(t.run())


async def _stop(t: CexTransport, task: asyncio.Task[None]) -> None:
    t.stop()
    await asyncio.wait_for(task, 5.0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_subscribe_snapshot_and_diffs_rebuild_the_true_book(venues: CexVenues,
                                                                  case: Case) -> None:
    t, replica, task = await _start(venues, case)
    try:
        assert await wait_until(lambda: replica.all_in_sync() and replica.checked >= 200, 10.0)
        for sym in case.symbols:
            b, a = t.syncs[sym].book.top(25)
            uid = replica.last_id[sym]
            assert uid is not None
            # the transport's own book and the downstream replica agree at the same id
            assert replica.syncs[sym].book.top(25) == (b, a)
    finally:
        await _stop(t, task)
    assert replica.violations == []
    assert venues.sims[case.source].subscribe_requests == 1
    assert t.stats.connects == 1


async def test_binance_server_pings_get_pongs(venues: CexVenues) -> None:
    t, _, task = await _start(venues, BINANCE)
    sim = venues.sims["binance"]
    try:
        assert await wait_until(lambda: sim.pings_sent >= 4, 5.0)
    finally:
        await _stop(t, task)
    # every ping but possibly the one in flight at stop got its pong; none timed out
    assert sim.pongs_received >= sim.pings_sent - 1
    assert t.stats.connects == 1


@pytest.mark.parametrize("case", CASES[2:], ids=CASE_IDS[2:])
async def test_okx_and_bybit_client_pings_are_answered(venues: CexVenues, case: Case) -> None:
    t, _, task = await _start(venues, case)
    sim = venues.sims[case.source]
    try:
        assert await wait_until(lambda: t.stats.pongs >= 3, 5.0)
    finally:
        await _stop(t, task)
    assert sim.client_pings_answered >= t.stats.pongs
    assert t.stats.pings_sent >= t.stats.pongs
    assert t.stats.connects == 1


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_disconnect_reconnects_resubscribes_and_resyncs(venues: CexVenues,
                                                              case: Case) -> None:
    t, replica, task = await _start(venues, case)
    sim = venues.sims[case.source]
    try:
        assert await wait_until(lambda: replica.all_in_sync() and replica.checked >= 20, 5.0)
        venues.inject(case.source, "disconnect", market=case.market)
        assert await wait_until(lambda: t.stats.connects == 2, 5.0)
        before = replica.checked
        assert await wait_until(lambda: replica.all_in_sync()
                                and replica.checked >= before + 50, 5.0)
    finally:
        await _stop(t, task)
    assert sim.connections_opened == 2
    assert sim.subscribe_requests == 2
    assert [h.status for h in replica.health if h.detail.startswith("disconnected")][:1] == ["down"]
    assert replica.violations == []


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_stalled_socket_is_detected_and_replaced(venues: CexVenues, case: Case) -> None:
    t, replica, task = await _start(venues, case)
    try:
        assert await wait_until(lambda: replica.all_in_sync() and replica.checked >= 20, 5.0)
        venues.inject(case.source, "stall", market=case.market, seconds=1.0)
        assert await wait_until(lambda: t.stats.connects == 2, 5.0)
        before = replica.checked
        assert await wait_until(lambda: replica.all_in_sync()
                                and replica.checked >= before + 50, 5.0)
    finally:
        await _stop(t, task)
    assert replica.violations == []


@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_waits_at_least_retry_after(venues: CexVenues, status: int) -> None:
    venues.inject("binance", "http", status=status, retry_after_s=0.6, count=1)
    t, replica, task = await _start(venues, BINANCE)
    try:
        assert await wait_until(replica.all_in_sync, 10.0)
    finally:
        await _stop(t, task)
    log = venues.sims["binance"].rest_log
    first_bad = next(i for i, h in enumerate(log) if h.status == status)
    nxt = log[first_bad + 1]
    # measured on the simulator's own clock: the client kept away for the whole Retry-After
    assert nxt.t_mono_s - log[first_bad].t_mono_s >= 0.6
    assert nxt.status == 200
    assert t.rest is not None
    assert t.rest.stats.throttled == [(status, 0.6)]


async def test_server_time_offset_tracks_the_venue_clock(venues: CexVenues) -> None:
    t, _, task = await _start(venues, BINANCE)
    try:
        assert await wait_until(lambda: t.clock_offset_ns != 0, 5.0)
    finally:
        await _stop(t, task)
    # the simulator runs 2500 ms ahead; loopback round trips are far below 100 ms
    assert abs(t.clock_offset_ns / 1e6 - 2500) < 100


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_fault_on_one_symbol_leaves_the_other_in_sync(venues: CexVenues,
                                                             case: Case) -> None:
    t, replica, task = await _start(venues, case)
    bad, good = case.symbols
    kind = "corrupt" if case.source == "okx" else "drop"
    try:
        assert await wait_until(lambda: replica.all_in_sync() and replica.checked >= 20, 5.0)
        resyncs_before = dict(replica.resyncs)
        health_before = len(replica.health)
        venues.inject(case.source, kind, bad, market=case.market)
        assert await wait_until(lambda: replica.resyncs[bad] == resyncs_before[bad] + 1, 5.0)
        before = replica.checked
        assert await wait_until(lambda: replica.all_in_sync()
                                and replica.checked >= before + 50, 5.0)
    finally:
        await _stop(t, task)
    assert replica.in_sync_broken[good] == 0
    assert [h.detail.split(":")[0] for h in replica.health[health_before:]
            if h.status == "resync"] == [bad]
    assert replica.resyncs[good] == resyncs_before[good]
    assert replica.in_sync_broken[bad] == 1
    assert replica.violations == []


def test_bytewax_source_emits_frames_and_health_without_blocking() -> None:
    mod = BINANCE.adapter()
    sims = start_venues_in_thread(seed=3, frame_interval_s=0.005)
    try:
        v = sims.venues
        ws_url, rest_url = BINANCE.urls(v)
        flow = Dataflow("cex_source_test")
        feed = CexFeedSource("binance", ["SOLUSDC"], "spot", ws_url, rest_url, config=FAST)
        parts: list[BoundedPartition] = []
        bounded = BoundedSource(feed, Bounds(max_frames=60), parts, threading.Event())
        src = op.input("in", flow, bounded)
        out: list[RawFrame | HealthEvent] = []
        op.output("out", src, TestingSink(out))
        run_main(flow)  # type: ignore[no-untyped-call]
    finally:
        sims.stop()
    frames = [x for x in out if isinstance(x, RawFrame)]
    assert len(frames) == 60
    assert {f.kind for f in frames} == {"ws", "rest"}
    assert all(f.ts_ingest_ns > 0 for f in frames)
    assert any(isinstance(x, HealthEvent) and x.status == "up" for x in out)
    sync = mod.book_sync("SOLUSDC", "spot")
    for f in frames:
        if mod.stream_symbol(f.stream) == "SOLUSDC":
            (sync.on_snapshot if f.kind == "rest" else sync.on_frame)(f.payload, f.ts_recv_ns)
    assert sync.in_sync is True


async def test_record_cex_captures_frames_that_replay_to_the_true_book(
    venues: CexVenues, tmp_path: Path
) -> None:
    mod = BINANCE.adapter()
    ws_url, rest_url = BINANCE.urls(venues)
    path = tmp_path / "cap.parquet"
    writer = CaptureWriter(path, flush_rows=50)
    n = await record_cex("binance", ["SOLUSDC", "ETHUSDC"], "spot", ws_url, rest_url, writer,
                         max_frames=150, config=replace(FAST, health_interval_s=1.0))
    writer.close()
    assert n == 150
    frames = list(read_capture(path))
    assert len(frames) == 150
    assert {f.source for f in frames} == {"binance"}
    assert [f.kind for f in frames].count("rest") >= 2
    replica = Replica(venues, BINANCE, mod)
    for f in frames:
        replica(f)
    assert replica.all_in_sync() is True
    assert replica.checked > 0
    assert replica.violations == []


# -- the simulators speak the venues' own wire format (checked against recorded real frames) --


def _first_payload(path: Path, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for line in iter_cex_lines(path):
        if pred(line):
            msg: dict[str, Any] = json.loads(line["payload"])
            return msg
    raise AssertionError(f"no matching line in {path.name}")


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("venue", "fixture", "stream_part"),
    [
        ("binance", "binance/btcusdt_spot_2024-08-08T2354Z_10min.jsonl.gz", "@depth"),
        ("binance-usdm", "binance-usdm/btcusdt_usdm_2024-08-08T2354Z_6min.jsonl.gz", "@depth"),
        ("bybit", "bybit/bybit_v5_format_samples_NOT_A_STREAM.jsonl.gz", "orderbook.50"),
    ],
)
def test_simulated_diff_frames_have_the_real_field_names(fixtures: Path, venue: str,
                                                         fixture: str, stream_part: str) -> None:
    real = _first_payload(fixtures / "cex" / fixture,
                          lambda ln: ln["kind"] == "ws" and stream_part in ln["stream"])
    feed = SimFeed(venue, "BTCUSDT", seed=1)
    sim = orjson.loads(feed.step(1_700_000_000_000))
    assert sorted(sim) == sorted(real)
    assert sorted(sim["data"]) == sorted(real["data"])
    level = sim["data"]["b"][0] if sim["data"]["b"] else sim["data"]["a"][0]
    assert [type(x) for x in level] == [str, str]


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("venue", "fixture"),
    [
        ("binance", "binance/btcusdt_spot_2024-08-08T2354Z_10min.jsonl.gz"),
        ("binance-usdm", "binance-usdm/btcusdt_usdm_2024-08-08T2354Z_6min.jsonl.gz"),
    ],
)
def test_simulated_rest_depth_has_the_real_field_names(fixtures: Path, venue: str,
                                                       fixture: str) -> None:
    real = _first_payload(fixtures / "cex" / fixture, lambda ln: ln["kind"] == "rest")
    sim = orjson.loads(SimFeed(venue, "BTCUSDT", seed=1).rest_snapshot(1000, 1))
    assert sorted(sim) == sorted(real)


@pytest.mark.fixtures
def test_okx_simulated_book_frames_match_real_shape_and_checksum_rule(fixtures: Path) -> None:
    real = _first_payload(fixtures / "cex" / "okx" / "okx_books_2022-05-13.jsonl.gz",
                          lambda ln: '"action":"snapshot"' in ln["payload"])
    snap = real["data"][0]
    # our checksum routine reproduces the venue's value on a real snapshot
    top = [(lvl[0], lvl[1]) for lvl in snap["bids"]], [(lvl[0], lvl[1]) for lvl in snap["asks"]]
    assert okx_checksum(*top) == snap["checksum"]
    sim = orjson.loads(SimFeed("okx", "BTC-USDT", seed=1).ws_snapshot(1))
    assert sorted(sim) == sorted(real)
    # 2022 frames predate seqId/prevSeqId; today's frames carry both
    assert sorted(sim["data"][0]) == sorted([*snap, "seqId", "prevSeqId"])
    assert len(sim["data"][0]["bids"][0]) == len(snap["bids"][0]) == 4


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    rng = random.Random(3)
    for attempt, base in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 30.0)]:
        delays = [backoff_s(attempt, 0.5, 30.0, 0.5, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(set(delays)) == 200  # jittered: reconnect storms do not line up


def test_binance_dials_the_combined_stream_of_its_subscription() -> None:
    t = CexTransport("binance", ["SOLUSDC"], "spot", "wss://x/stream", "https://x",
                     lambda _i: None)
    assert t.connect_url() == (
        "wss://x/stream?streams=solusdc@depth@100ms/solusdc@bookTicker/solusdc@trade")


def test_weight_budget_waits_until_the_window_frees() -> None:
    now = [100.0]
    budget = RateBudget(limit=100, window_s=60.0, monotonic=lambda: now[0])
    assert asyncio.run(budget.acquire(50)) == 0.0
    now[0] = 110.0
    assert asyncio.run(budget.acquire(50)) == 0.0
    assert budget.wait_s(5) == 50.0  # the first 50 leave the window at t=160
    budget.observe_header(99)  # the venue says we spent more than we counted
    now[0] = 161.0
    assert budget.used() == 99
    assert budget.wait_s(1) == 0.0
    assert budget.wait_s(2) == 9.0  # our t=110 spend and the t=110 header age out at t=170


def test_binance_depth_weights_follow_the_limit_tables() -> None:
    spot, usdm = registry.cex("binance"), registry.cex("binance-usdm")
    assert [spot.depth_weight(n) for n in (100, 500, 1000, 5000)] == [5, 25, 50, 250]
    assert [usdm.depth_weight(n) for n in (50, 100, 500, 1000)] == [2, 5, 10, 20]
    assert registry.cex("okx").depth_weight(400) == 1


async def test_binance_raw_ws_endpoint_answers_subscribe_and_sends_bare_payloads(
    venues: CexVenues,
) -> None:
    url = venues.urls["binance"].ws_url.replace("/stream", "/ws")
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        await ws.send_str('{"method":"SUBSCRIBE","params":["solusdc@depth@100ms"],"id":9}')
        ack = orjson.loads((await ws.receive(timeout=2.0)).data)
        diff = orjson.loads((await ws.receive(timeout=2.0)).data)
    assert ack == {"result": None, "id": 9}
    assert (diff["e"], diff["s"], diff["u"] - diff["U"] >= 0) == ("depthUpdate", "SOLUSDC", True)


@pytest.mark.parametrize(
    ("venue", "path", "keys"),
    [
        ("binance", "/api/v3/depth?symbol=SOLUSDC&limit=5", ["asks", "bids", "lastUpdateId"]),
        ("binance-usdm", "/fapi/v1/depth?symbol=SOLUSDT&limit=5",
         ["E", "T", "asks", "bids", "lastUpdateId"]),
        ("okx", "/api/v5/market/books?instId=SOL-USDC&sz=5", ["code", "data", "msg"]),
        ("bybit", "/v5/market/orderbook?category=linear&symbol=SOLUSDT&limit=5",
         ["result", "retCode", "retExtInfo", "retMsg", "time"]),
    ],
)
async def test_simulated_rest_books_answer_in_venue_shape(venues: CexVenues, venue: str,
                                                          path: str, keys: list[str]) -> None:
    async with aiohttp.ClientSession() as s, s.get(venues.rest_url(venue) + path) as r:
        body = orjson.loads(await r.read())
    assert r.status == 200
    assert sorted(body) == keys
