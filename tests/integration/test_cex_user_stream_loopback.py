"""Fills come back: the private order streams of the loopback venues (127.0.0.1 only).

An order placed over REST is reported on the venue's private stream (ack, fills with fees,
expiry/cancel of an IOC remainder); a refused login ends the stream; a stream lost mid-order
reconnects and the order is reconciled by a client-id query, so no fill is ever missed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors.cex.order_transport import OrderTransport
from connectors.cex.orders.common import Credentials
from connectors.cex.orders.updates import OrderUpdate
from connectors.cex.user_source import UserStreamSource
from connectors.cex.user_stream import (
    Item,
    TrackedOrders,
    UserStream,
    UserStreamConfig,
    reconcile_by_query,
)
from operators.errors import ExecutionError
from operators.events import HealthEvent
from sim.cex_venues import CexVenues, start_venues, start_venues_in_thread
from tests.integration.test_cex_orders_loopback import (
    CASES,
    FAST,
    KEY,
    PASSPHRASE,
    SECRET,
    Case,
    _best_asks,
    _buy,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

STREAM_CASES = CASES
STREAM_IDS = [c.id for c in STREAM_CASES]
LOGIN_CASES = [c for c in CASES if c.venue != "binance-usdm"][::2]  # USD-M: no login step
FINAL_KIND = {"binance": "expire", "binance-usdm": "expire", "okx": "cancel",
              "bybit": "cancel"}
QUICK = UserStreamConfig(step_timeout_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.2)


@pytest.fixture
async def sim() -> AsyncIterator[CexVenues]:
    v = await start_venues(seed=13, frame_interval_s=3600.0,
                           clock_skew_ms={"binance": 1200, "okx": -800, "bybit": 400})
    for venue in ("binance", "binance-usdm", "okx", "bybit"):
        v.desk(venue).add_account(KEY, SECRET, passphrase=PASSPHRASE)
    yield v
    await v.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Running:
    """A user stream running as a task, with what it emitted."""

    def __init__(self, stream: UserStream, items: list[Item]) -> None:
        self.stream = stream
        self.items = items
        self.task = asyncio.create_task(stream.run())

    def updates(self, cid: str) -> list[OrderUpdate]:
        return [u for u in self.items if isinstance(u, OrderUpdate) and u.client_order_id == cid]

    async def wait_for(self, pred, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout_s):
            while not pred():
                if self.task.done():
                    self.task.result()  # surface the stream's error
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.stream.stop()
        await asyncio.wait_for(self.task, 5.0)


async def _setup(sim: CexVenues, session: aiohttp.ClientSession, case: Case,  # type: ignore[no-untyped-def]
                 creds: Credentials | None = None, tracked: TrackedOrders | None = None,
                 config: UserStreamConfig = QUICK):
    creds = creds or Credentials(KEY, SECRET, passphrase=PASSPHRASE)
    t = OrderTransport(case.venue, sim.rest_url(case.venue), session, creds, config=FAST)
    await t.sync_time()
    f = await t.fetch_filters(case.symbol, case.market)
    items: list[Item] = []
    reconcile = reconcile_by_query(t, tracked) if tracked is not None else None
    stream = UserStream(case.venue, sim.private_url(case.venue), session, creds, items.append,
                        reconcile=reconcile, config=config, offset_ns=t.clock_offset_ns,
                        rest_url=sim.rest_url(case.venue))
    return t, f, Running(stream, items)


@pytest.mark.parametrize("case", STREAM_CASES, ids=STREAM_IDS)
async def test_ioc_ack_fills_and_remainder_come_back_on_the_private_stream(sim, session, case):
    t, f, run = await _setup(sim, session, case)
    await run.wait_for(run.stream.up.is_set)
    (px, qty), (px2, qty2) = _best_asks(sim, case)[:2]
    spec = _buy(case, px2, qty + qty2 + 7)  # sweeps two levels, leaves a remainder
    result = await t.place(f, spec)
    kinds = lambda: [u.kind for u in run.updates(spec.client_order_id)]  # noqa: E731
    await run.wait_for(lambda: FINAL_KIND[case.venue] in kinds())
    ups = run.updates(spec.client_order_id)
    fills = [u for u in ups if u.kind in ("partial", "fill")]
    assert ups[0].kind == "ack"
    assert [(u.last_price, u.last_qty) for u in fills] == [
        (Decimal(px).scaleb(-f.price_decimals), Decimal(qty).scaleb(-f.qty_decimals)),
        (Decimal(px2).scaleb(-f.price_decimals), Decimal(qty2).scaleb(-f.qty_decimals))]
    assert sum(u.last_qty for u in fills) == Decimal(result.filled_qty_units).scaleb(
        -f.qty_decimals)
    fee = sum(Decimal(p * q * 1000 // 1_000_000) for p, q in ((px, qty), (px2, qty2)))
    assert sum(u.fee for u in fills) == fee.scaleb(-(f.price_decimals + f.qty_decimals))
    assert {u.fee_asset for u in fills} == {"USDC" if "USDC" in case.symbol else "USDT"}
    assert all(u.venue_order_id == result.venue_order_id for u in ups)
    await run.stop()


@pytest.mark.parametrize("case", LOGIN_CASES, ids=[c.id for c in LOGIN_CASES])
async def test_a_refused_login_ends_the_stream_with_a_non_retryable_error(sim, session, case):
    _, _, run = await _setup(sim, session, case,
                             Credentials(KEY, "wrong-secret", passphrase=PASSPHRASE))
    with pytest.raises(ExecutionError) as err:
        await asyncio.wait_for(run.task, 5.0)
    assert (err.value.code, err.value.retryable) == ("auth", False)
    assert "wrong-secret" not in str(err.value)
    assert run.stream.stats.connects == 1  # no hammering with keys that cannot work


@pytest.mark.parametrize("case", STREAM_CASES, ids=STREAM_IDS)
async def test_stream_lost_mid_order_reconnects_and_reconciles_the_missed_fill(sim, session,
                                                                                case):
    tracked = TrackedOrders()
    # Reconnect only after 0.5 s, so the order surely executes while the socket is down.
    slow = UserStreamConfig(step_timeout_s=2.0, backoff_initial_s=0.5, backoff_max_s=0.5)
    t, f, run = await _setup(sim, session, case, tracked=tracked, config=slow)
    await run.wait_for(run.stream.up.is_set)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    tracked.track(f, spec.client_order_id, "buy")
    await sim.sims[case.venue].private.disconnect()  # the order's events will be lost
    await run.wait_for(lambda: not run.stream.up.is_set())
    result = await t.place(f, spec)
    await run.wait_for(lambda: any(u.reason == "reconciled"
                                   for u in run.updates(spec.client_order_id)))
    [u] = run.updates(spec.client_order_id)  # nothing from the lost socket, one reconciled
    assert (u.kind, u.cum_qty) == ("fill", Decimal(result.filled_qty_units).scaleb(
        -f.qty_decimals))
    assert tracked.orders == {}
    health = [h.status for h in run.items if isinstance(h, HealthEvent)]
    assert health[:3] == ["up", "down", "up"]
    assert sim.desk(case.venue).placements_of(spec.client_order_id) == 1
    await run.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_order_updates_flow_through_a_bytewax_source(case):
    """The private stream as a Bytewax source: a run ends after the order's updates."""
    venues_thread = start_venues_in_thread(seed=17, frame_interval_s=3600.0)
    sim = venues_thread.venues
    venue = case.venue
    sim.desk(venue).add_account(KEY, SECRET, passphrase=PASSPHRASE)
    creds = Credentials(KEY, SECRET, passphrase=PASSPHRASE)
    (px, qty), *_ = sim.sims[venue].feed(case.symbol, case.category).book.top(1)[1]
    spec = _buy(case, px, qty)

    def factory(session: aiohttp.ClientSession, emit) -> UserStream:  # type: ignore[no-untyped-def]
        return UserStream(venue, sim.private_url(venue), session, creds, emit, config=QUICK,
                          rest_url=sim.rest_url(venue))

    async def place_when_logged_in() -> None:
        async with asyncio.timeout(10.0):
            while sim.sims[venue].private.logins == 0:
                await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as session:
            t = OrderTransport(venue, sim.rest_url(venue), session, creds, config=FAST)
            await t.sync_time()
            f = await t.fetch_filters(case.symbol, case.market)
            await t.place(f, spec)

    placer = threading.Thread(target=lambda: asyncio.run(place_when_logged_in()), daemon=True)
    out: list[object] = []
    flow = Dataflow("user_stream")
    stream = op.input("orders", flow, UserStreamSource({venue: factory}, max_updates=2))
    op.output("out", op.filter("updates", stream, lambda x: isinstance(x, OrderUpdate)),
              TestingSink(out))
    try:
        placer.start()
        run_main(flow)
        placer.join(10.0)
    finally:
        venues_thread.stop()
    assert [(u.kind, u.client_order_id) for u in out] == [  # type: ignore[attr-defined]
        ("ack", spec.client_order_id), ("fill", spec.client_order_id)]


async def test_an_unreadable_push_reconnects_and_reconciles(sim, session):
    case = CASES[2]  # okx spot
    tracked = TrackedOrders()
    t, f, run = await _setup(sim, session, case, tracked=tracked)
    await run.wait_for(run.stream.up.is_set)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    tracked.track(f, spec.client_order_id, "buy")
    hub = sim.sims["okx"].private
    hub.desk.listeners.remove(hub.publish)  # the order's own pushes are lost...
    await t.place(f, spec)
    for conn in list(hub.conns):  # ...and a garbled one arrives instead
        hub._send(conn, '{"arg":{"channel":"orders"},"data":[{"ordId":1}]}')
    await run.wait_for(lambda: any(u.reason == "reconciled"
                                   for u in run.updates(spec.client_order_id)))
    [u] = run.updates(spec.client_order_id)
    assert (u.kind, run.stream.stats.gaps, run.stream.stats.logins) == ("fill", 1, 2)
    await run.stop()


async def test_usdm_unknown_api_key_is_refused_at_the_listen_key_without_retrying(sim, session):
    case = CASES[1]
    _, _, run = await _setup(sim, session, case, Credentials("not-a-key", SECRET))
    with pytest.raises(ExecutionError) as err:
        await asyncio.wait_for(run.task, 5.0)
    assert (err.value.code, err.value.retryable) == ("-2015", False)
    assert (run.stream.stats.connects, sim.sims["binance-usdm"].private.listen_keys) == (0, {})


async def test_usdm_expired_listen_key_reconnects_with_a_new_key_and_reconciles(sim, session):
    case = CASES[1]
    tracked = TrackedOrders()
    t, f, run = await _setup(sim, session, case, tracked=tracked)
    await run.wait_for(run.stream.up.is_set)
    hub = sim.sims["binance-usdm"].private
    [first_key] = hub.listen_keys
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty)
    tracked.track(f, spec.client_order_id, "buy")
    assert hub.expire_listen_keys() == 1  # the venue ends the stream: events stop coming
    result = await t.place(f, spec)
    await run.wait_for(lambda: any(u.reason == "reconciled"
                                   for u in run.updates(spec.client_order_id)))
    [u] = run.updates(spec.client_order_id)
    assert (u.kind, u.cum_qty) == ("fill", Decimal(result.filled_qty_units).scaleb(
        -f.qty_decimals))
    assert (run.stream.stats.listen_keys, run.stream.stats.gaps) == (2, 1)
    assert list(hub.listen_keys) != [first_key] and len(hub.listen_keys) == 1
    await run.stop()


async def test_usdm_listen_key_is_kept_alive_while_connected(sim, session):
    case = CASES[1]
    _, _, run = await _setup(sim, session, case)
    assert run.stream.stream.listen_key is not None
    run.stream.stream = _FastKeepalive(run.stream.stream)
    await run.wait_for(lambda: run.stream.stats.keepalives >= 2)
    assert (run.stream.stats.listen_keys, run.stream.stats.connects) == (1, 1)
    await run.stop()


async def test_usdm_lapsed_listen_key_on_keepalive_reconnects_with_a_new_key(sim, session):
    _, _, run = await _setup(sim, session, CASES[1])
    run.stream.stream = _FastKeepalive(run.stream.stream)
    await run.wait_for(run.stream.up.is_set)
    hub = sim.sims["binance-usdm"].private
    hub.listen_keys.clear()  # the key lapsed silently: the next PUT gets -1125
    await run.wait_for(lambda: run.stream.stats.listen_keys == 2 and run.stream.up.is_set())
    assert "-1125" in sim.desk("binance-usdm").stats.refusals
    assert (run.stream.stats.gaps, len(hub.listen_keys)) == (1, 1)
    await run.stop()


class _FastKeepalive:
    """The USD-M stream with its 30-minute keepalive shrunk to 50 ms."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        from connectors.cex.orders.private import ListenKey
        self._inner = inner
        self.listen_key = ListenKey(inner.listen_key.path, 0.05)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)
