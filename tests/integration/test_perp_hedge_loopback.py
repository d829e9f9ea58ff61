"""The perp hedge on the loopback Binance USD-M: the gateway trades `[[pairs.hedges]]` markets
(signed IOC on `/fapi/v1/order`, or over the futures WS API `/ws-fapi/v1` when
`order_ws_url` is set; its own listenKey user stream) and counts the hedge's fee."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.execution import ExecOrder, ExecutionGateway, order_client_id
from connectors.order_journal import OrderRecord
from operators.events import ExecutionReport, HealthEvent, OrderIntent
from sim.loopback import Loopback
from sim.simulate import SAMPLE_POOL
from tests.integration.loop_support import gateway_values
from tests.unit.test_perp_hedge import PAIR, PERP, hedged_markets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SOL = 10**9


@pytest.mark.parametrize("entry", ["rest", "ws"])
def test_a_hedge_and_its_close_trade_once_each_on_usdm_with_the_taker_fee_counted(
    tmp_path: Path, entry: str
) -> None:
    loop = Loopback([SAMPLE_POOL], rpcs=1).start()
    try:
        settings = loop.settings(None, hedged_markets(tmp_path), ws_orders=entry == "ws")
        keys = loop.trading(settings)
        gw = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer).start()
        try:
            hedge = OrderIntent("o1/hedge", "o1", PERP, PERP, "sell", 2 * SOL, 200_000_000,
                                1, 1, 1, PAIR)  # fmt: skip
            order = ExecOrder("hedge", hedge, "hedge", 0, 5_000)
            gw.submit(order)
            gw.submit(order)  # a duplicate command never reaches the venue twice
            out = gateway_values(gw, 1)
            close = OrderIntent("o1/hedge-close", "o1", PERP, PERP, "buy", 2 * SOL,
                                400_000_000, 2, 2, 2, PAIR)  # fmt: skip
            closing = ExecOrder("unwind", close, "hedge", 2, 5_000)
            gw.submit(closing)
            out += gateway_values(gw, 1)
        finally:
            gw.close()
        assert loop.venues is not None
        desk = loop.venues.venues.desk("binance-usdm")
        assert [desk.placements_of(order_client_id(o)) for o in (order, closing)] == [1, 1]
        sent = [r.method for t in gw.transports.values() for r in t.stats.sent]
        assert ("POST" in sent) == (entry == "rest")  # over WS: not one REST order
        logins = {vid: e.logins for vid, e in gw.ws_entries.items()}
        # one socket per account, kept (the spot leg's venue gets its WS order entry too)
        assert logins == ({"binance": 1, "binance-usdm": 1} if entry == "ws" else {})
    finally:
        loop.stop()
    reports = [x for x in out if isinstance(x, ExecutionReport)]
    assert [(r.intent_id, r.side, r.status, r.filled_base) for r in reports] == [
        ("o1/hedge", "sell", "filled", 2 * SOL),
        ("o1/hedge-close", "buy", "filled", 2 * SOL),
    ]
    for r in reports:  # USD-M RESULT answers carry no fee: 5 bps of the notional, rounded up
        assert r.fee_quote == -(-r.quote_amount * 5 // 10_000)
        assert r.extra["fee_source"].startswith("no fee in the venue's answer: taker_fee_bps 5")
    rows = [x for x in out if isinstance(x, OrderRecord)]
    path = "/fapi/v1/order" if entry == "rest" else "ws:/ws-fapi/v1"
    assert [(o.venue, o.path, o.outcome) for o in rows] == [
        ("binance-usdm", path, "filled"), ("binance-usdm", path, "filled"),
    ]  # fmt: skip
    up = {x.source for x in out if isinstance(x, HealthEvent) and x.status == "up"}
    assert "binance-usdm:orders" in up  # its listenKey user stream logged in
