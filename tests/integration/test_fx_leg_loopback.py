"""A live leg on a USDT spot market of a SOL/USDC pair, through `ExecutionGateway` against the
loopback Binance: the order goes out at the intent's USDT limit, the venue's USDT amounts and
its USDT commission come back as they are (the commission counted: it is in the market's own
currency), and the report carries the intent's ratio, so its USDC value is exact."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.execution import ExecOrder, ExecutionGateway
from operators.events import ExecutionReport, OrderIntent
from operators.fx import cash_pair, quote_pair
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from tests.integration.loop_support import gateway_items, loopback_gateway

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PAIR = "SOL/USDC"
USDT = "binance:SOLUSDT"
SOL = 10**9
FX = (4999, 5000)
USDT_MARKET = """
  [[pairs.markets]]
  venue = "binance"
  symbol = "SOLUSDT"
  quote_currency = "USDT"
  tick_size = "0.01"
  lot_size = "0.001"
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Loopback, ExecutionGateway]]:
    markets = tmp_path / "markets.toml"
    text = SAMPLE_MARKETS.read_text()
    # the USDT book beside the pair's USDC markets (before any table that follows them)
    head, sep, tail = text.partition("\n  [[pairs.markets]]")
    markets.write_text(head + USDT_MARKET + sep + tail)
    with loopback_gateway(markets, (SAMPLE_POOL,), rpcs=1) as (loop, gw):
        assert any(m.market_id == USDT for p in gw.settings.pairs for m in p.markets)
        yield loop, gw


def test_a_usdt_leg_fills_in_usdt_with_its_commission_and_is_valued_at_its_ratio(
    world: tuple[Loopback, ExecutionGateway],
) -> None:
    _, gw = world
    # sell 2 SOL for at least 100 USDT each (the book is around 150): the limit is USDT
    intent = OrderIntent(
        "o1/sell", "o1", USDT, USDT, "sell", 2 * SOL, 200_000_000, 1, 1, 1, PAIR,
        quote_currency="USDT", fx=FX,
    )  # fmt: skip
    gw.submit(ExecOrder("send", intent, "sell", 0, 5_000))
    (r,) = [x for _, x in gateway_items(gw, 1) if isinstance(x, ExecutionReport)]
    assert (r.status, r.filled_base, r.quote_currency, r.fx) == ("filled", 2 * SOL, "USDT", FX)
    assert r.extra["fee_asset"] == "USDT"
    # the commission is in the market's currency, so it is the fill's fee (not left aside)
    assert r.fee_quote == int(Decimal(r.extra["fee"]).scaleb(6)) > 0
    assert 200_000_000 < r.quote_amount < 400_000_000
    assert quote_pair(r) == r.quote_amount * 4999 // 5000
    assert cash_pair(r) == r.quote_amount * 4999 // 5000 - -(-r.fee_quote * 4999 // 5000)
