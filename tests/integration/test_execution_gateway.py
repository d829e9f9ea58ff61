"""`ExecutionGateway` against the loopback world: signed CEX orders and DEX swaps, in-process.

The loopback venues verify signatures and match IOC orders against their books; two Solana
stand-ins execute the swaps. The gateway gets a fresh wallet and API keys from the loopback
(memory only).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.execution import ExecOrder, ExecutionGateway, order_client_id
from connectors.order_journal import OrderRecord
from connectors.solana.tx_outcome import TxRecord
from operators.events import ExecutionReport, OrderIntent
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from tests.integration.loop_support import gateway_items, loopback_gateway

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
SOL = 10**9


@pytest.fixture
def world() -> Iterator[tuple[Loopback, ExecutionGateway]]:
    with loopback_gateway(SAMPLE_MARKETS, (SAMPLE_POOL,), rpcs=2) as both:
        yield both


def _order(kind: str, intent: OrderIntent, leg: str = "sell", cu: int = 5_000) -> ExecOrder:
    return ExecOrder(kind, intent, leg, 0, cu)  # type: ignore[arg-type]


def test_an_order_submitted_twice_reaches_the_venue_once_and_a_query_reports_its_fill(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    loop, gw = world
    # sell 2 SOL no lower than 100 USDC each: the book around 150 fills it in full
    intent = OrderIntent("o1/sell", "o1", CEX, CEX, "sell", 2 * SOL, 200_000_000, 1, 1, 1, PAIR)
    order = _order("send", intent)
    gw.submit(order)
    gw.submit(order)
    out = gateway_items(gw, 1)
    reports = [x for _, x in out if isinstance(x, ExecutionReport)]
    rows = [x for _, x in out if isinstance(x, OrderRecord)]
    cid = order_client_id(order)
    assert {p for p, _ in out} == {PAIR}
    assert [(r.status, r.filled_base, r.extra["client_order_id"]) for r in reports] == [
        ("filled", 2 * SOL, cid)
    ]
    assert [(o.client_order_id, o.outcome) for o in rows] == [(cid, "filled")]
    assert loop.venues is not None
    assert loop.venues.venues.desk("binance").placements_of(cid) == 1
    gw.submit(_order("query", intent))
    (again,) = [x for _, x in gateway_items(gw, 1) if isinstance(x, ExecutionReport)]
    assert (again.status, again.filled_base, again.quote_amount, again.reason) == (
        "filled", 2 * SOL, reports[0].quote_amount, "by query",
    )  # fmt: skip
    assert loop.venues.venues.desk("binance").placements_of(cid) == 1


def test_a_dex_buy_lands_on_both_stand_ins_with_the_configured_cu_limit_and_price(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    loop, gw = world
    # buy exactly 1 SOL paying at most 200 USDC (the pool is at 150)
    intent = OrderIntent("o2/buy", "o2", DEX, DEX, "buy", SOL, 200_000_000, 1, 1, 1, PAIR)
    gw.submit(_order("send", intent, "buy", cu=12_345))
    out = gateway_items(gw, 1)
    (report,) = [x for _, x in out if isinstance(x, ExecutionReport)]
    (tx,) = [x for _, x in out if isinstance(x, TxRecord)]
    assert (report.status, report.filled_base, report.venue) == ("filled", SOL, "orca")
    assert 149_000_000 < report.quote_amount < 151_000_000  # ~150 USDC for 1 SOL
    # the fee priced at gas.cu_limit 200,000 CU x 12,345 = 2,469 lamports, over orca's own
    # 300,000 CU limit: 8,230 micro-lamports per CU
    assert (tx.status, tx.cu_limit, tx.cu_price_micro_lamports) == ("landed", 300_000, 8_230)
    assert tx.other_amount_threshold == 200_000_000  # exact out: the most it may pay
    for node in loop.standins:
        assert tx.signature in {sig for sig, _ in node.sends}
    # the same intent again is never signed or sent a second time
    gw.submit(_order("send", intent, "buy", cu=12_345))
    time.sleep(0.5)
    assert gw.take() == [] and gw.drained(0.2)
    assert sum(sig == tx.signature for sig, _ in loop.standins[0].sends) == tx.sends
