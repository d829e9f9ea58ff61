"""Live reference prices (issue 15 item 4): SOL for gas and stablecoin FX from books, a stale or
missing reference flags the pair, constants only where config says so (journaled)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from config import load_settings
from engine.params import reference_params, spread_params_from_settings
from operators.book import fixed_levels
from operators.events import HealthEvent
from operators.spread import PairEngine
from operators.views import CexBookView
from tests.unit.test_spread import CLOB_ID, MS, SOL, cex, clob, make_params

D = Decimal
USDT_REF = "binance:USDCUSDT"
SOL_REF = "okx:SOL-USDC"
GAS_LAMPORTS = 5_000 + 400_000  # signature + 200k CU x 2_000_000 micro-lamports (capped)


def ref_book(market_id: str, bid: str, ask: str, quote: str, *, ts_ns: int = 0) -> CexBookView:
    return CexBookView(
        venue=market_id.split(":")[0], market_id=market_id, pair="SOL/USDC", market="spot",
        quote_currency=quote, bids=fixed_levels([(bid, "1000")]),
        asks=fixed_levels([(ask, "1000")]), update_id=1, in_sync=True, ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns, taker_fee_bps=10.0,
    )  # fmt: skip


def test_sol_pair_values_gas_at_its_own_cex_mid_not_the_constant() -> None:
    eng = PairEngine(make_params(sol_from_books=True))
    eng.on_view(clob(10_100, 10_110), 0)
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    # the same trade as test_spread's first case (10 SOL, edge 7_397_050), gas at the CEX mid
    # 99.975 USDC instead of 150: ceil(405_000 lamports x 99.975 / 10^9 SOL) = 40_490 micro-USDC
    assert opp.expected_pnl_quote == 7_397_050 - 40_490
    constant = PairEngine(make_params())
    constant.on_view(clob(10_100, 10_110), 0)
    [opp150] = constant.on_view(cex("99.90", "100.05"), 0)
    assert opp150.expected_pnl_quote == 7_397_050 - 60_750


def test_non_sol_pair_values_gas_at_a_sol_reference_book() -> None:
    """A pair whose base is not SOL (here called ETH) prices gas from a SOL reference book."""
    params = make_params(
        base_currency="ETH", sol_from_books=True, reference_markets={SOL_REF: "SOL"}
    )
    eng = PairEngine(params)
    eng.on_view(clob(10_100, 10_110), 0)
    assert eng.on_view(cex("99.90", "100.05"), 0) == []  # no SOL price yet: flagged
    assert eng.counters["reference_skips"] == 1
    assert eng.on_view(ref_book(SOL_REF, "119.99", "120.01", "USDC"), 0) == []  # never traded
    [opp] = eng.on_view(cex("99.90", "100.05", ts_ns=1), 1)
    assert opp.expected_pnl_quote == 7_397_050 - GAS_LAMPORTS * 120 // 1_000  # 48_600
    assert SOL_REF not in eng.views  # a reference book is no candidate


def test_usdt_leg_is_converted_at_the_live_usdc_usdt_mid() -> None:
    params = make_params(fx_from_books=frozenset({"USDT"}), reference_markets={USDT_REF: "USDC"})
    eng = PairEngine(params)
    perp = cex(
        "101.00", "101.10", market="perp", venue="binance-usdm", quote_currency="USDT",
        market_id="binance-usdm:SOLUSDT:perp",
    )  # fmt: skip
    eng.on_view(perp, 0)
    assert eng.on_view(clob(10_000, 10_005), 0) == []  # no USDT rate yet: flagged
    eng.on_view(ref_book(USDT_REF, "1.0010", "1.0012", "USDT"), 0)  # 1 USDC = 1.0011 USDT
    [opp] = eng.on_view(clob(10_000, 10_005, ts_ns=1), 1)
    # 10 SOL sold at 101.00 USDT = 1_010_000_000 micro-USDT = floor(x 2 / 2.0022) micro-USDC
    assert opp.sell_quote == 1_010_000_000 * 2 * 10**18 // (2_0022 * 10**14)
    assert opp.sell_quote == 1_008_890_220
    # the rate moves: cached curves are re-priced at the new mid (1 USDC = 1.0021 USDT)
    eng.on_view(ref_book(USDT_REF, "1.0020", "1.0022", "USDT", ts_ns=2), 2)
    eng.on_view(clob(9_990, 9_995, ts_ns=3), 3)
    best = eng.best("binance-usdm:SOLUSDT:perp", CLOB_ID, "buy_dex_sell_cex")
    assert best is not None and best.sell_quote == 1_010_000_000 * 2 * 10**18 // (2_0042 * 10**14)


def test_a_stale_reference_flags_the_pair_at_once() -> None:
    params = make_params(
        base_currency="ETH", sol_from_books=True, reference_markets={SOL_REF: "SOL"}
    )
    eng = PairEngine(params)
    eng.on_view(ref_book(SOL_REF, "119.99", "120.01", "USDC"), 0)
    eng.on_view(clob(10_100, 10_110), 0)
    eng.on_feed_health(HealthEvent("okx", "stale", "no data 1 s", 5 * MS, 5 * MS))
    assert eng.on_view(cex("99.90", "100.05", ts_ns=6 * MS), 6 * MS) == []
    assert (eng.counters["reference_skips"], eng.counters["signals"]) == (1, 0)
    eng.on_feed_health(HealthEvent("okx", "up", "", 7 * MS, 7 * MS))
    [opp] = eng.on_view(cex("99.90", "100.04", ts_ns=8 * MS), 8 * MS)
    assert opp.size_base == 10 * SOL


def _settings(markets_toml: str, tmp_path: object, **ref: object) -> object:
    from pathlib import Path

    path = Path(str(tmp_path)) / "markets.toml"
    path.write_text(markets_toml)
    env = {f"SOLARB__REFERENCE__{k.upper()}": str(v).lower() for k, v in ref.items()}
    return load_settings(markets_path=path, env=env)


ETH_PAIR = """
[[pairs]]
name = "ETH/USDC"
base = "ETH"
quote = "USDC"
base_decimals = 8
quote_decimals = 6
max_trade_base = "2"
  [[pairs.markets]]
  venue = "binance"
  symbol = "ETHUSDT"
  quote_currency = "USDT"
  [[pairs.markets]]
  venue = "orca"
  address = "ChoGJKhTV88R5gVV8ztyQ1pj5J6jAtQrf8L2QuxWNscK"
  quote_currency = "USDC"
"""
REFS = """
  [[pairs.markets]]
  venue = "okx"
  symbol = "SOL-USDC"
  quote_currency = "USDC"
  reference = true
  base_currency = "SOL"
  [[pairs.markets]]
  venue = "binance"
  symbol = "USDCUSDT"
  quote_currency = "USDT"
  reference = true
  base_currency = "USDC"
"""


def test_config_refuses_a_pair_without_reference_books_unless_told_to_use_constants(
    tmp_path: object,
) -> None:
    from operators.errors import ConfigError

    strict = _settings(ETH_PAIR, tmp_path, constant_fallback=False)
    with pytest.raises(ConfigError, match="no book prices SOL"):
        spread_params_from_settings(strict, "ETH/USDC")  # type: ignore[arg-type]
    loose = _settings(ETH_PAIR, tmp_path, constant_fallback=True)
    plan = reference_params(loose, loose.pair("ETH/USDC"))  # type: ignore[attr-defined]
    assert (plan.sol_from_books, plan.fx_from_books) == (False, frozenset())
    assert plan.notes == (
        "no SOL book: SOL priced at the constant sol_price_quote 150 USDC "
        "(reference.constant_fallback)",
        "USDT valued at the constant [fx] 1 USDC (reference.constant_fallback)",
    )
    live = _settings(ETH_PAIR + REFS, tmp_path, constant_fallback=False)
    p = spread_params_from_settings(live, "ETH/USDC")  # type: ignore[arg-type]
    assert (p.sol_from_books, p.fx_from_books, p.reference_notes) == (
        True, frozenset({"USDT"}), ()
    )
    assert p.reference_markets == {"okx:SOL-USDC": "SOL", "binance:USDCUSDT": "USDC"}


def test_shipped_config_prices_the_sol_pair_from_its_books(tmp_path: object) -> None:
    settings = load_settings(env={})
    p = spread_params_from_settings(settings, "SOL/USDC")
    assert (p.sol_from_books, p.reference_notes) == (True, ())
    constant = load_settings(env={"SOLARB__REFERENCE__SOL": "constant"})
    pc = spread_params_from_settings(constant, "SOL/USDC")
    assert pc.sol_from_books is False and "reference.sol = constant" in pc.reference_notes[0]
    assert replace(pc, reference_notes=()).costs.sol_price_quote == D("150")
