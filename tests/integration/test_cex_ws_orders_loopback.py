"""WS order entry against the loopback venues: Binance WS API, OKX private socket, Bybit
/v5/trade. Same idempotency and error mapping as REST: the client id is the request id, a
missing answer is resolved by a REST query (never re-sent), venue errors map through the REST
codec, a non-final ack (OKX, Bybit) is settled by REST queries."""

from __future__ import annotations

import asyncio

import pytest

from connectors.cex.order_transport import OrderTransportConfig
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
    _best_asks,
    _buy,
    _transport,
    session,  # noqa: F401 - fixture
    sim,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

WS_CASES = [c for c in CASES if c.venue != "binance-usdm"]  # USD-M: REST order entry only
WS_IDS = [c.id for c in WS_CASES]
REJECT = {"binance": "-2010", "okx": "51008"}


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
        venue = "binance-usdm"

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
