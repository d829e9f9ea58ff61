"""WS order entry against the loopback venues: Binance spot WS API, Binance USD-M futures WS
API (`/ws-fapi/v1`), OKX private socket, Bybit /v5/trade. Same idempotency and error mapping
as REST: the client id is the request id, a missing answer is resolved by a REST query (never
re-sent), venue errors map through the REST codec, a non-final ack (OKX, Bybit) is settled by
REST queries. USD-M: an Ed25519 key logs the socket in once (`session.logon`), fills come back
on the listenKey stream, `rateLimits` are shared with REST."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest

from connectors.cex.order_transport import OrderTransportConfig
from connectors.cex.orders import binance_ws
from connectors.cex.orders.common import Credentials
from connectors.cex.ws_orders import WsOrderEntry
from operators.errors import ExecutionError
from tests.integration.test_cex_orders_loopback import (
    CASES,
    DUPLICATE,
    FAST,
    KEY,
    PASSPHRASE,
    SECRET,
    UNFILLED,
    Case,
    _best_asks,
    _buy,
    _transport,
    session,  # noqa: F401 - fixture
    sim,  # noqa: F401 - fixture
)
from tests.integration.test_cex_user_stream_loopback import _setup
from tests.unit.test_cex_order_signing import ED25519_API_KEY, FIX_ED25519_PEM

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

WS_CASES = CASES  # every venue and market type has WS order entry
WS_IDS = [c.id for c in WS_CASES]
REJECT = {"binance": "-2010", "binance-usdm": "-2010", "okx": "51008"}


async def _entry(venues, http, case, creds=None, config=FAST):  # type: ignore[no-untyped-def]
    t, f = await _transport(venues, http, case, creds, config)
    return WsOrderEntry(venues.trade_url(case.venue), http, t), t, f


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_order_fills_partially_like_rest_and_nothing_is_posted(sim, session, case):  # noqa: F811
    entry, t, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty + 5)  # more than the best level, limit at it: a remainder
    r = await entry.place(f, spec)
    assert (r.status, r.filled_qty_units, r.quote_units) == (UNFILLED[case.venue], qty, px * qty)
    assert r.client_order_id == spec.client_order_id and r.final
    assert [req.method for req in t.stats.sent if req.method != "GET"] == []  # no REST order
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    assert entry.logins == 1
    await entry.close()


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_duplicate_client_id_and_reject_map_to_the_venue_errors(sim, session, case):  # noqa: F811
    entry, _, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    await entry.place(f, spec)
    with pytest.raises(ExecutionError) as dup:
        await entry.place(f, spec)
    expected = DUPLICATE.get(case.venue) or ("170141" if case.market == "spot" else "110072")
    assert (dup.value.code, dup.value.retryable) == (expected, False)
    sim.desk(case.venue).inject("reject")
    with pytest.raises(ExecutionError) as rej:
        await entry.place(f, _buy(case, px, qty, leg="sell"))
    expected = REJECT.get(case.venue) or ("170131" if case.market == "spot" else "110007")
    assert (rej.value.code, rej.value.retryable) == (expected, False)
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    await entry.close()


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_timeout_after_accept_is_resolved_by_query_never_re_sent(sim, session, case):  # noqa: F811
    entry, t, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    sim.desk(case.venue).inject("timeout_after_accept", seconds=1.0)
    r = await entry.place(f, spec)
    assert (r.status, r.filled_qty_units, t.stats.timeouts, t.stats.resolved_by_query) == (
        "filled", qty, 1, 1)
    assert {req.method for req in t.stats.sent} == {"GET"}  # queries only, no re-send
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    await entry.close()


async def test_okx_ws_order_delayed_past_its_exptime_is_never_executed(sim, session):  # noqa: F811
    case = CASES[2]
    entry, _, f = await _entry(sim, session, case, config=OrderTransportConfig(
        timeout_s=0.2, recv_window_ms=250, settle_interval_s=0.005))
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    sim.desk("okx").inject("delay_ack", seconds=0.6)
    with pytest.raises(ExecutionError) as err:
        await entry.place(f, spec)  # no answer; queried until past expTime: never got there
    assert (err.value.code, err.value.retryable) == ("timeout", True)
    await asyncio.sleep(0.5)  # the delayed request reaches matching after its expTime
    desk = sim.desk("okx")
    assert (desk.placements_of(spec.client_order_id), desk.stats.refusals[-1]) == (0, "50036")
    r = await entry.place(f, spec)  # so the same order (same client id) is safe to send again
    assert (r.status, desk.placements_of(spec.client_order_id)) == ("filled", 1)
    await entry.close()


@pytest.mark.parametrize("case", [CASES[2], CASES[4]], ids=[CASES[2].id, CASES[4].id])
async def test_ws_login_with_a_wrong_secret_is_refused_for_good(sim, session, case):  # noqa: F811
    entry, _, f = await _entry(sim, session, case,
                               Credentials(KEY, "wrong-secret", passphrase=PASSPHRASE))
    (px, qty), *_ = _best_asks(sim, case)
    with pytest.raises(ExecutionError) as err:
        await entry.place(f, _buy(case, px, qty))
    assert (err.value.code, err.value.retryable) == ("auth", False)
    assert "wrong-secret" not in str(err.value)
    assert sim.desk(case.venue).stats.placements == []


async def test_bybit_ws_answers_carry_the_limit_headers_the_transport_obeys(sim, session):  # noqa: F811
    case = CASES[4]
    sim.desk("bybit").limits.bybit_per_s = 2
    entry, t, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    # 1 of 2 used on the WS create, then on the REST settle query: each answer holds us back
    r = await entry.place(f, _buy(case, px, qty))
    assert (r.status, t.stats.rate_limit_holds) == ("filled", 2)
    assert "10006" not in sim.desk("bybit").stats.refusals
    await entry.close()


def test_a_venue_without_ws_order_entry_is_a_config_error():
    class _Rest:
        venue = "paper"

        class codec:
            ws_orders = None

    with pytest.raises(ExecutionError) as err:
        WsOrderEntry("ws://127.0.0.1:1/x", None, _Rest())  # type: ignore[arg-type]
    assert (err.value.code, err.value.retryable) == ("config", False)


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_orders_land_in_the_orders_journal_without_secrets(sim, session, case):  # noqa: F811
    entry, t, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    await entry.place(f, spec, ts_intent_ns=42)
    sim.desk(case.venue).inject("reject")
    with pytest.raises(ExecutionError):
        await entry.place(f, _buy(case, px, qty, leg="sell"))
    rows = t.take_records()
    assert [(r.client_order_id, r.outcome, r.method, r.path[:3]) for r in rows] == [
        (spec.client_order_id, "filled", "POST", "ws:"),
        (_buy(case, px, qty, leg="sell").client_order_id, rows[1].outcome, "POST", "ws:")]
    assert rows[1].outcome.startswith("error:") and rows[0].ts_intent_ns == 42
    text = repr(rows)
    for form in (KEY, SECRET, SECRET.encode().hex(), PASSPHRASE, "signature", "SIGN"):
        assert form not in text
    await entry.close()


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_cancel_of_a_finished_ioc_returns_its_final_state(sim, session, case):  # noqa: F811
    entry, _, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    await entry.place(f, spec)
    refusals = len(sim.desk(case.venue).stats.refusals)
    after = await entry.cancel(f, spec.client_order_id)
    assert after is not None and (after.status, after.filled_qty_units) == ("filled", qty)
    # The venue said "cannot cancel" over the socket (its own code), then REST told the state.
    assert len(sim.desk(case.venue).stats.refusals) == refusals + 1
    assert await entry.cancel(f, "S" + "0" * 30) is None
    await entry.close()


@pytest.mark.parametrize("case", WS_CASES, ids=WS_IDS)
async def test_ws_socket_lost_mid_order_is_resolved_by_query_then_logs_in_again(
        sim, session, case):  # noqa: F811
    entry, t, f = await _entry(sim, session, case)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    desk = sim.desk(case.venue)
    desk.inject("timeout_after_accept", seconds=1.0)
    task = asyncio.create_task(entry.place(f, spec))
    while not desk.placements_of(spec.client_order_id):
        await asyncio.sleep(0.005)
    await sim.sims[case.venue].private.disconnect()  # the answer will never come
    r = await asyncio.wait_for(task, 5.0)
    assert (r.status, t.stats.resolved_by_query) == ("filled", 1)
    r2 = await entry.place(f, _buy(case, px, qty, leg="sell"))  # a new socket, a new login
    assert (r2.status, entry.logins) == ("filled", 2)
    assert desk.placements_of(spec.client_order_id) == 1
    await entry.close()


USDM = Case("binance-usdm", "perp", "SOLUSDT", "spot")


async def test_usdm_ed25519_session_orders_fill_partially_and_come_back_on_the_user_stream(
        sim, session):  # noqa: F811
    sim.desk("binance-usdm").add_account(ED25519_API_KEY, ed25519_pem=FIX_ED25519_PEM)
    creds = Credentials(ED25519_API_KEY, ed25519_pem=FIX_ED25519_PEM)
    t, f, run = await _setup(sim, session, USDM, creds=creds)
    await run.wait_for(run.stream.up.is_set)
    entry = WsOrderEntry(sim.trade_url("binance-usdm"), session, t)
    (px, qty), *_ = _best_asks(sim, USDM)
    spec = _buy(USDM, px, qty + 5)  # more than the best level, limit at it: a remainder
    r = await entry.place(f, spec)
    assert (r.status, r.filled_qty_units, r.quote_units, r.raw_status) == (
        "expired", qty, px * qty, "EXPIRED")
    r2 = await entry.place(f, _buy(USDM, px, 1, leg="sell"))  # same socket, same session
    assert (r2.status, entry.logins) == ("filled", 1)
    assert [req.method for req in t.stats.sent if req.method != "GET"] == []  # no REST order
    await run.wait_for(lambda: "expire" in [u.kind for u in run.updates(spec.client_order_id)])
    ups = run.updates(spec.client_order_id)
    assert [u.kind for u in ups] == ["ack", "partial", "expire"]
    assert (ups[1].last_qty, ups[1].last_price, ups[1].fee_asset) == (
        Decimal(qty).scaleb(-f.qty_decimals), Decimal(px).scaleb(-f.price_decimals), "USDT")
    assert {u.venue_order_id for u in ups} == {r.venue_order_id}
    await run.stop()
    await entry.close()
    # The session is what authorized those unsigned orders: a fresh socket is refused them.
    async with session.ws_connect(sim.trade_url("binance-usdm")) as ws:
        await ws.send_str(
            entry.codec.place(creds, f, _buy(USDM, px, 2), t.now_ms(), 5000).decode())
        answer = orjson.loads((await ws.receive()).data)
    assert (answer["status"], answer["error"]["code"]) == (401, -2015)
    assert sim.desk("binance-usdm").placements_of(_buy(USDM, px, 2).client_order_id) == 0


async def test_usdm_hmac_key_cannot_log_in_but_signs_each_order(sim, session):  # noqa: F811
    entry, t, f = await _entry(sim, session, USDM)
    (px, qty), *_ = _best_asks(sim, USDM)
    r = await entry.place(f, _buy(USDM, px, qty))  # no session.logon step for an HMAC key
    assert (r.status, entry.logins) == ("filled", 1)
    async with session.ws_connect(sim.trade_url("binance-usdm")) as ws:
        logon = binance_ws.request(t.creds, "x", "session.logon", {"timestamp": t.now_ms()})
        await ws.send_str(logon.decode())  # signed right, but the venue logs in Ed25519 only
        refused = orjson.loads((await ws.receive()).data)
    assert (refused["status"], refused["error"]["code"]) == (401, -2015)
    await entry.close()


async def test_usdm_ws_rate_limits_are_shared_with_rest_and_hold_the_transport(sim, session):  # noqa: F811
    sim.desk("binance-usdm").limits.binance_orders_10s = 3
    entry, t, f = await _entry(sim, session, USDM)
    (px, _), *_ = _best_asks(sim, USDM)
    r = await t.place(f, _buy(USDM, px, 1))  # REST: order 1 of 3 in this 10 s window
    assert (r.status, t.stats.rate_limit_holds) == ("filled", 0)
    r = await entry.place(f, _buy(USDM, px, 2))  # WS: 2 of 3, the reserve reached: hold
    assert (r.status, t.stats.rate_limit_holds) == ("filled", 1)
    assert "-1015" not in sim.desk("binance-usdm").stats.refusals
    await entry.close()


async def test_usdm_ws_order_delayed_past_its_recv_window_is_refused_at_matching(sim, session):  # noqa: F811
    entry, _, f = await _entry(sim, session, USDM, config=OrderTransportConfig(
        timeout_s=0.2, recv_window_ms=250, settle_interval_s=0.005))
    (px, qty), *_ = _best_asks(sim, USDM)
    spec = _buy(USDM, px, qty)
    desk = sim.desk("binance-usdm")
    desk.inject("delay_ack", seconds=0.6)
    with pytest.raises(ExecutionError) as err:
        await entry.place(f, spec)  # no answer; queried until past its window: never placed
    assert (err.value.code, err.value.retryable) == ("timeout", True)
    await asyncio.sleep(0.5)
    assert (desk.placements_of(spec.client_order_id), desk.stats.refusals[-1]) == (0, "-1021")
    r = await entry.place(f, spec)  # so the same client id is safe to send again
    assert (r.status, desk.placements_of(spec.client_order_id)) == ("filled", 1)
    await entry.close()
