"""Signed orders against the loopback venues (127.0.0.1): every venue and market type.

The simulators verify signatures and timestamp windows as the venues do and match IOC/FOK
orders against their own book; expected fills are read from that book before sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest

from connectors.cex.order_transport import (
    OrderTransport,
    OrderTransportConfig,
    execution_report,
    rejection_report,
)
from connectors.cex.orders.common import Credentials, OrderSpec, SymbolFilters
from connectors.cex.orders.ids import client_order_id
from connectors.cex.ws_orders import WsOrderEntry
from connectors.journal import JournalSink, read_table
from operators.errors import ExecutionError
from operators.events import OrderIntent
from sim.cex_venues import CexVenues, start_venues
from tests.unit.test_cex_order_signing import ED25519_API_KEY, FIX_ED25519_PEM

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

KEY, SECRET, PASSPHRASE = "loopback-key", "loopback-secret-5d1e", "loopback-pass"
FAST = OrderTransportConfig(timeout_s=0.3, settle_interval_s=0.005)


@dataclass(frozen=True)
class Case:
    venue: str
    market: str
    symbol: str
    category: str  # simulator feed category

    @property
    def id(self) -> str:
        return f"{self.venue}-{self.market}"


CASES = [
    Case("binance", "spot", "SOLUSDC", "spot"),
    Case("binance-usdm", "perp", "SOLUSDT", "spot"),
    Case("okx", "spot", "SOL-USDC", "spot"),
    Case("okx", "perp", "SOL-USDT-SWAP", "spot"),
    Case("bybit", "spot", "SOLUSDT", "spot"),
    Case("bybit", "perp", "SOLUSDT", "linear"),
]
IDS = [c.id for c in CASES]
BAD_SIGNATURE = {"binance": "-1022", "binance-usdm": "-1022", "okx": "50113", "bybit": "10004"}
STALE = {"binance": "-1021", "binance-usdm": "-1021", "okx": "50102", "bybit": "10002"}
DUPLICATE = {"binance": "-2010", "binance-usdm": "-2010", "okx": "51016"}
UNFILLED = {"binance": "expired", "binance-usdm": "expired", "okx": "cancelled",
            "bybit": "cancelled"}


@pytest.fixture
async def sim() -> AsyncIterator[CexVenues]:
    # One tick at start, then the books hold still: expected fills are read before sending.
    v = await start_venues(seed=11, frame_interval_s=3600.0,
                           clock_skew_ms={"binance": 2500, "okx": -1500, "bybit": 700})
    for venue in ("binance", "binance-usdm", "okx", "bybit"):
        v.desk(venue).add_account(KEY, SECRET, passphrase=PASSPHRASE)
    yield v
    await v.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _transport(sim: CexVenues, session: aiohttp.ClientSession, case: Case,
                     creds: Credentials | None = None,
                     config: OrderTransportConfig = FAST) -> tuple[OrderTransport, SymbolFilters]:
    t = OrderTransport(case.venue, sim.rest_url(case.venue), session,
                       creds or Credentials(KEY, SECRET, passphrase=PASSPHRASE), config=config)
    await t.sync_time()
    return t, await t.fetch_filters(case.symbol, case.market)


def _best_asks(sim: CexVenues, case: Case) -> list[tuple[int, int]]:
    return sim.sims[case.venue].feed(case.symbol, case.category).book.top(5)[1]


def _buy(case: Case, price: int, qty: int, tif: str = "IOC", leg: str = "buy") -> OrderSpec:
    cid = client_order_id(f"{case.id}:{price}:{qty}:{tif}", leg)
    return OrderSpec(case.symbol, case.market, "buy", tif, price, qty, cid)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_signed_ioc_at_the_best_ask_fills_completely(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    r = await t.place(f, spec)
    assert (r.status, r.filled_qty_units, r.quote_units) == ("filled", qty, px * qty)
    assert r.client_order_id == spec.client_order_id and r.venue_order_id.isdigit()
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    if case.venue != "binance-usdm":  # USD-M RESULT answers carry no fee
        assert r.fee == Decimal(px * qty * 1000 // 1_000_000).scaleb(-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_ioc_larger_than_the_level_fills_partially(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), (px2, _) = _best_asks(sim, case)[:2]
    assert px2 > px
    r = await t.place(f, _buy(case, px, qty + 5))
    assert (r.status, r.filled_qty_units, r.quote_units) == (UNFILLED[case.venue], qty, px * qty)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_fok_that_cannot_fill_completely_fills_nothing(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    r = await t.place(f, _buy(case, px, qty + 5, "FOK"))
    assert (r.status, r.filled_qty_units, r.quote_units) == (UNFILLED[case.venue], 0, 0)
    assert r.final


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_bad_signature_gets_the_venue_error(sim, session, case):
    t, f = await _transport(sim, session, case,
                            Credentials(KEY, "not-the-secret", passphrase=PASSPHRASE))
    (px, qty), *_ = _best_asks(sim, case)
    with pytest.raises(ExecutionError) as err:
        await t.place(f, _buy(case, px, qty))
    assert (err.value.code, err.value.retryable) == (BAD_SIGNATURE[case.venue], False)
    assert sim.desk(case.venue).stats.placements == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_stale_timestamp_gets_the_venue_error_and_a_resync_recovers(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    t.clock_offset_ns -= 40_000_000_000  # our clock 40 s behind the venue's
    stale = t.codec.place(t.creds, f, spec, t.now_ms(), FAST.recv_window_ms)
    status, body = await t._send(stale)
    err = t.codec.error(status, body)
    assert err is not None and (err.code, err.retryable, err.action) == (
        STALE[case.venue], True, "resync_time")
    r = await t.place(f, spec)  # measures the clock again, re-signs, sends once more
    assert (r.status, t.stats.time_resyncs) == ("filled", 2)
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_timeout_after_accept_is_resolved_by_query_without_a_duplicate(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    sim.desk(case.venue).inject("timeout_after_accept", seconds=1.0)
    r = await t.place(f, spec)
    assert (r.status, r.filled_qty_units) == ("filled", qty)
    assert (t.stats.timeouts, t.stats.resolved_by_query, t.stats.resends) == (1, 1, 0)
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    assert [req.method for req in t.stats.sent].count("POST") == 1  # sent once, queried after


LATE_REFUSAL = {"binance": "-1021", "binance-usdm": "-1021", "okx": "50036"}
"""How each venue refuses the delayed first request once it reaches matching: Binance re-checks
recvWindow, OKX its expTime; Bybit checks the window on arrival only, so its venue-side
protection is the duplicate orderLinkId."""


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_delayed_request_past_its_window_is_refused_so_one_resend_is_safe(sim, session,
                                                                                case):
    t, f = await _transport(sim, session, case, config=OrderTransportConfig(
        timeout_s=0.2, recv_window_ms=250, settle_interval_s=0.005))
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    desk = sim.desk(case.venue)
    desk.inject("delay_ack", seconds=0.6)
    r = await t.place(f, spec)
    assert (r.status, t.stats.timeouts, t.stats.resends) == ("filled", 1, 1)
    await asyncio.sleep(0.5)  # the delayed first request reaches matching now, too late
    assert desk.placements_of(spec.client_order_id) == 1
    late = LATE_REFUSAL.get(case.venue) or ("170141" if case.market == "spot" else "110072")
    assert desk.stats.refusals[-1] == late
    if case.venue == "binance":  # two queries found nothing (-2013) before the re-send
        assert desk.stats.refusals == ["-2013", "-2013", "-1021"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_injected_reject_maps_to_a_non_retryable_venue_error(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    sim.desk(case.venue).inject("reject")
    with pytest.raises(ExecutionError) as err:
        await t.place(f, _buy(case, px, qty))
    assert err.value.retryable is False
    assert err.value.code in ("-2010", "51008", "170131", "110007")
    intent = OrderIntent("i1", "o1", case.venue, case.symbol, "buy", 1, 1, 0, 0, 0)
    rep = rejection_report(intent, err.value, ts_recv_ns=9)
    assert (rep.status, rep.filled_base, rep.extra["code"], rep.extra["retryable"]) == (
        "rejected", 0, err.value.code, "false")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_venue_refuses_a_second_order_with_the_same_client_id(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    await t.place(f, spec)
    with pytest.raises(ExecutionError) as err:
        await t.place(f, spec)
    expected = DUPLICATE.get(case.venue) or ("170141" if case.market == "spot" else "110072")
    assert (err.value.code, err.value.retryable) == (expected, False)
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1


async def test_binance_ed25519_key_trades(sim, session):
    case = CASES[0]
    sim.desk("binance").add_account(ED25519_API_KEY, ed25519_pem=FIX_ED25519_PEM)
    t, f = await _transport(sim, session, case,
                            Credentials(ED25519_API_KEY, ed25519_pem=FIX_ED25519_PEM))
    (px, qty), *_ = _best_asks(sim, case)
    r = await t.place(f, _buy(case, px, qty))
    assert (r.status, r.filled_qty_units) == ("filled", qty)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_cancel_of_a_finished_ioc_returns_its_final_state(sim, session, case):
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    await t.place(f, spec)
    after = await t.cancel(f, spec.client_order_id)
    assert after is not None and (after.status, after.filled_qty_units) == ("filled", qty)
    assert await t.query(f, "S" + "0" * 30) is None


async def test_fill_becomes_an_execution_report_in_token_base_units(sim, session):
    case = CASES[0]
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    intent = OrderIntent("i1", "o1", "binance", "binance:SOLUSDC", "buy", qty * 10**6,
                         px * qty * 10, 1, 2, 3, pair="SOL/USDC")
    r = await t.place(f, _buy(case, px, qty))
    rep = execution_report(r, intent, f, base_decimals=9, quote_decimals=6, ts_recv_ns=5)
    assert (rep.status, rep.filled_base, rep.quote_amount) == ("filled", qty * 10**6,
                                                                px * qty * 10)
    assert rep.fee_quote == px * qty * 1000 // 1_000_000 * 10  # 10 bps, 1e-5 USDC -> 1e-6
    assert rep.extra["client_order_id"] == r.client_order_id


async def test_requests_errors_logs_and_records_never_carry_the_secret(sim, session, caplog):
    caplog.set_level(logging.DEBUG)
    t, f = await _transport(sim, session, CASES[2],
                            Credentials(KEY, "wrong-secret-xyz", passphrase=PASSPHRASE))
    (px, qty), *_ = _best_asks(sim, CASES[2])
    with pytest.raises(ExecutionError) as err:
        await t.place(f, _buy(CASES[2], px, qty))
    texts = [str(err.value), repr(err.value), caplog.text, *(repr(r) for r in t.stats.sent),
             *(repr(r) for r in t.stats.records)]
    for text in texts:
        for form in ("wrong-secret-xyz", b"wrong-secret-xyz".hex(), PASSPHRASE, KEY):
            assert form not in text


async def test_every_order_request_lands_in_the_orders_journal_without_secrets(
        sim, session, tmp_path):
    case = CASES[4]  # bybit spot
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    sim.desk(case.venue).inject("timeout_after_accept", seconds=1.0)
    await t.place(f, spec, ts_intent_ns=123)
    sink = JournalSink(tmp_path).build("journal", 0, 1)
    sink.write_batch(t.take_records())
    assert t.stats.records == []
    sink.close()
    table = read_table(tmp_path, "orders")
    assert table is not None
    rows = table.to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["venue"], row["market"], row["side"], row["tif"], row["outcome"]) == (
        "bybit", "spot", "buy", "IOC", "filled")
    assert (row["price"], row["qty"], row["client_order_id"]) == (
        f.price_str(px), f.qty_str(qty), spec.client_order_id)
    assert (row["method"], row["path"], row["ts_intent_ns"]) == ("POST", "/v5/order/create", 123)
    assert json.loads(row["params"])["orderLinkId"] == spec.client_order_id
    assert row["ts_sent_ns"] > 0 and row["ts_ack_ns"] >= row["ts_sent_ns"]
    text = json.dumps(rows)
    for form in (SECRET, SECRET.encode().hex(), PASSPHRASE, KEY, "X-BAPI-SIGN", "signature"):
        assert form not in text


@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_answer_holds_every_order_back_until_retry_after(sim, session, status):
    case = CASES[0]
    t, f = await _transport(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    sim.inject("binance", "http", status=status, retry_after_s=0.3)
    with pytest.raises(ExecutionError) as first:
        await t.place(f, _buy(case, px, qty))
    assert (first.value.retryable, first.value.action) == (True, "backoff")
    sent = len(t.stats.sent)
    with pytest.raises(ExecutionError) as held:
        await t.place(f, _buy(case, px, qty, leg="sell"))
    assert (held.value.code, len(t.stats.sent)) == ("backoff", sent)  # nothing hit the wire
    await asyncio.sleep(0.35)
    r = await t.place(f, _buy(case, px, qty, leg="hedge"))
    assert r.status == "filled"


async def _ws_entry(sim, session, config: OrderTransportConfig = FAST):  # type: ignore[no-untyped-def]
    t, f = await _transport(sim, session, CASES[0], config=config)
    return WsOrderEntry(sim.private_url("binance"), session, t), t, f


async def test_binance_ws_api_order_entry_fills_like_rest(sim, session):
    entry, t, f = await _ws_entry(sim, session)
    (px, qty), *_ = _best_asks(sim, CASES[0])
    spec = _buy(CASES[0], px, qty + 3)
    r = await entry.place(f, spec)
    assert (r.status, r.filled_qty_units, r.quote_units) == ("expired", qty, px * qty)
    assert r.fee == Decimal(px * qty * 1000 // 1_000_000).scaleb(-5)
    assert list(t.stats.sent) == []  # nothing went over REST
    with pytest.raises(ExecutionError) as dup:
        await entry.place(f, spec)
    assert (dup.value.code, dup.value.retryable) == ("-2010", False)
    assert sim.desk("binance").placements_of(spec.client_order_id) == 1
    await entry.close()


async def test_binance_ws_api_timeout_after_accept_is_resolved_by_rest_query(sim, session):
    entry, t, f = await _ws_entry(sim, session)
    (px, qty), *_ = _best_asks(sim, CASES[0])
    spec = _buy(CASES[0], px, qty)
    sim.desk("binance").inject("timeout_after_accept", seconds=1.0)
    r = await entry.place(f, spec)
    assert (r.status, r.filled_qty_units, t.stats.timeouts, t.stats.resolved_by_query) == (
        "filled", qty, 1, 1)
    assert [req.method for req in t.stats.sent] == ["GET"]  # one query, no re-send
    assert sim.desk("binance").placements_of(spec.client_order_id) == 1
    await entry.close()


async def test_binance_recv_window_above_sixty_seconds_is_refused(sim, session):
    t, f = await _transport(sim, session, CASES[0])
    (px, qty), *_ = _best_asks(sim, CASES[0])
    req = t.codec.place(t.creds, f, _buy(CASES[0], px, qty), t.now_ms(), 60_001)
    status, body = await t._send(req)
    err = t.codec.error(status, body)
    assert err is not None and (status, err.code, err.retryable) == (400, "-1131", False)
    assert sim.desk("binance").stats.placements == []
