"""Perp hedge first: a one-legged opportunity is hedged on its CEX's USDT perp (`[[pairs.hedges]]`),
then the spot is unwound and the perp closed; paper and live hosts, and the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from connectors.cex.orders.ids import client_order_id
from connectors.execution import ExecOrder, order_client_id
from engine.exec_step import LiveExecStep
from engine.params import hedge_markets
from engine.steps import PaperStep
from operators.errors import ConfigError
from operators.events import ExecutionReport, OrderIntent
from operators.legs import LegTransition
from operators.views import CexBookView
from replay.money import is_flattening, is_hedge
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL

PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
PERP = "binance-usdm:SOLUSDT:perp"
OPP = "SOL/USDC|buy_dex_sell_cex|x|1"
SIZE = 30 * 10**9
T0 = 1_000_000_000_000
HEDGE_TOML = """
  [[pairs.hedges]]
  venue = "binance-usdm"
  market = "perp"
  symbol = "SOLUSDT"
  quote_currency = "USDT"
  lot_size = "0.01"
"""


def hedged_markets(tmp_path: Path, extra: str = HEDGE_TOML) -> Path:
    """The sample markets with a Binance USD-M perp hedge for the Binance spot leg."""
    p = tmp_path / "markets_hedged.toml"
    p.write_text(SAMPLE_MARKETS.read_text() + extra)
    return p


def _settings(tmp_path: Path) -> Settings:
    return load_settings(markets_path=hedged_markets(tmp_path))


def _intents() -> tuple[OrderIntent, OrderIntent]:
    buy = OrderIntent(f"{OPP}/buy", OPP, DEX, DEX, "buy", SIZE, 4_474_470_000, T0, T0, T0, PAIR)
    sell = OrderIntent(f"{OPP}/sell", OPP, CEX, CEX, "sell", SIZE, 4_495_500_000, T0, T0,
                       T0, PAIR)  # fmt: skip
    return buy, sell


def _report(i: OrderIntent, status: str, filled: int, quote: int, t: int,
            fee: int = 0) -> ExecutionReport:  # fmt: skip
    return ExecutionReport(i.intent_id, i.opportunity_id, i.venue, i.side, status,  # type: ignore[arg-type]
                           filled, quote, fee, status, t, t, t)  # fmt: skip


def _orders(out: list[Any]) -> list[ExecOrder]:
    return [x for x in out if isinstance(x, ExecOrder)]


def _moves(out: list[Any]) -> list[tuple[str, str]]:
    return [(t.from_state, t.to_state) for t in out if isinstance(t, LegTransition)]


def test_the_binance_spot_leg_is_hedged_on_binance_usdm_and_a_stray_hedge_is_refused(
    tmp_path: Path,
) -> None:
    s = _settings(tmp_path)
    assert hedge_markets(s.pair(PAIR)) == {CEX: (PERP, PERP)}
    okx = HEDGE_TOML.replace("binance-usdm", "okx")
    with pytest.raises(ConfigError, match="okx:SOLUSDT:perp has no spot market of its exchange"):
        hedge_markets(load_settings(markets_path=hedged_markets(tmp_path, okx)).pair(PAIR))
    spot = HEDGE_TOML.replace('market = "perp"', 'market = "spot"')
    with pytest.raises(ConfigError, match="must be a perp"):
        load_settings(markets_path=hedged_markets(tmp_path, spot))


def test_live_a_rejected_cex_leg_is_hedged_on_the_perp_then_unwound_and_the_hedge_closed(
    tmp_path: Path,
) -> None:
    step = LiveExecStep(_settings(tmp_path), PAIR)
    buy, sell = _intents()
    step.on_item((PAIR, buy))
    step.on_item((PAIR, sell))
    step.on_item((PAIR, _report(buy, "filled", SIZE, 4_467_000_000, T0 + 10)))
    out = step.on_item((PAIR, _report(sell, "rejected", 0, 0, T0 + 20)))
    (hedge,) = _orders(out)
    assert (hedge.kind, hedge.leg, hedge.attempt) == ("hedge", "hedge", 0)
    assert order_client_id(hedge) == client_order_id(OPP, "hedge", 0)
    h = hedge.intent
    assert (h.market_id, h.side, h.size_base) == (PERP, "sell", SIZE)
    assert h.limit_quote == 4_467_000_000 * 99 // 100  # the DEX buy's price, 1 % lower
    assert _moves(out) == [("sent", "failed"), ("failed", "hedging")]
    out = step.on_item((PAIR, _report(h, "filled", SIZE, 4_470_000_000, T0 + 30, fee=2_235_000)))
    unwind, close = _orders(out)
    assert _moves(out) == [("hedging", "hedged"), ("hedged", "unwinding")]
    assert (unwind.intent.market_id, unwind.intent.side, unwind.attempt) == (DEX, "sell", 1)
    assert (close.intent.market_id, close.intent.side, close.attempt) == (PERP, "buy", 2)
    assert close.intent.intent_id == f"{OPP}/hedge-close"
    assert len({order_client_id(o) for o in (hedge, unwind, close)}) == 3  # never one id twice
    step.on_item((PAIR, _report(unwind.intent, "filled", SIZE, 4_460_000_000, T0 + 40)))
    out = step.on_item((PAIR, _report(close.intent, "filled", SIZE, 4_469_000_000, T0 + 50)))
    assert _moves(out) == [("unwinding", "unwound"), ("unwound", "closed")]
    assert step.legs.open == {}


def _perp_view(ts_ns: int) -> CexBookView:
    """The USD-M book at 149.90 / 150.10, 100 SOL a side (as the graph would route it)."""
    e18 = 10**18
    return CexBookView("binance-usdm", PERP, PAIR, "perp", "USDT",
                       ((14_990 * e18 // 100, 100 * e18),), ((15_010 * e18 // 100, 100 * e18),),
                       1, True, ts_ns, ts_ns)  # fmt: skip


def test_paper_hedges_on_the_perp_book_then_unwinds_and_closes_it(tmp_path: Path) -> None:
    step = PaperStep(_settings(tmp_path), PAIR)
    assert step.legs.hedge_markets == {CEX: (PERP, PERP)}
    step.on_item(_perp_view(T0))
    buy, sell = _intents()
    step.intents[buy.intent_id], step.intents[sell.intent_id] = buy, sell
    step.legs.on_intents(buy, sell, step.dex_markets, T0)
    # the DEX buy filled, the CEX sell was rejected (as the paper venue answers them)
    step._reports([_report(buy, "filled", SIZE, 4_467_000_000, T0 + 10)])
    out = step._reports([_report(sell, "rejected", 0, 0, T0 + 20)])
    assert _moves(out) == [("sent", "failed"), ("failed", "hedging")]
    out = step.on_item(_perp_view(T0 + 100_000_000))  # a later book: the hedge fills on it
    fills = [x for x in out if isinstance(x, ExecutionReport)]
    # the hedge fills; the perp close goes out with the spot unwind and fills on the same book
    # (it is already past its latency), the spot unwind waits for a pool view
    assert [(f.intent_id, f.side, f.status, f.filled_base) for f in fills] == [
        (f"{OPP}/hedge", "sell", "filled", SIZE),
        (f"{OPP}/hedge-close", "buy", "filled", SIZE),
    ]
    assert [f.quote_amount for f in fills] == [30 * 149_900_000, 30 * 150_100_000]
    assert _moves(out) == [("hedging", "hedged"), ("hedged", "unwinding")]
    assert step.legs.open[OPP].perp_sold_base == 0  # the perp is closed
    assert step.legs.open[OPP].spot_net_base == SIZE  # no pool view in this test


def test_hedge_fills_are_flattening_and_counted_as_hedges() -> None:
    assert is_flattening({"intent_id": f"{OPP}/hedge-close"})
    assert is_hedge({"intent_id": f"{OPP}/hedge-close"}) and is_hedge({"intent_id": f"{OPP}/hedge"})
    assert not is_hedge({"intent_id": f"{OPP}/unwind"})
