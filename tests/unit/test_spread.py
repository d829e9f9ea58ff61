"""The pair engine: exact opportunities on hand-built books, both directions, hysteresis."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import MARKETS_PATH, load_settings
from connectors.solana.orca import decode_tick_array, decode_whirlpool
from engine.params import spread_params_from_settings
from operators.book import fixed_levels
from operators.clmm import quote_swap
from operators.costs import CostParams, GasParams, bps_of, choose_cu_price, gas_quote_units
from operators.errors import ConfigError
from operators.events import CostBreakdown, Opportunity
from operators.signals import HysteresisParams
from operators.spread import BUY_CEX_SELL_DEX, BUY_DEX_SELL_CEX, PairEngine, SpreadParams
from operators.views import CexBookView, ClmmView, ClobView
from tests.conftest import load_account

D = Decimal
SOL = 10**9
MS = 1_000_000
CEX_ID = "binance:SOLUSDC"
CLOB_ID = "phoenix:MKT"


def make_params(**kw: object) -> SpreadParams:
    """4-step grid up to 16 SOL (4, 8, 12, 16 SOL), 10_000 USDC notional cap."""
    costs = CostParams(
        cex_taker_fee_bps={"binance": 10.0, "binance-usdm": 5.0},
        dex_taker_fee_bps={},
        gas=GasParams(),
        sol_price_quote=D("150"),
        slippage_default_bps=2.0,
        hedge_fee_bps=5.0,
        funding_bps_per_hour=0.1,
        expected_hold_s=3600.0,
        safety_margin_bps=5.0,
    )
    base: dict[str, object] = {
        "pair": "SOL/USDC",
        "base_decimals": 9,
        "quote_decimals": 6,
        "quote_currency": "USDC",
        "costs": costs,
        "max_trade_base": 16 * SOL,
        "max_notional_quote": 10_000 * 10**6,
        "fx": {"USDC": D(1), "USDT": D(1)},
        "size_steps": 4,
        "lot_size_base": {CEX_ID: 1_000_000},
        "stale_after_ns": 2_000 * MS,
        "min_net_bps": 0.0,
        "hysteresis": HysteresisParams(
            debounce_ns=1_000 * MS,
            rearm_below_bps=2.0,
            update_min_edge_change_bps=1.0,
            update_min_size_change_pct=10.0,
        ),
    }
    base.update(kw)
    return SpreadParams(**base)  # type: ignore[arg-type]


def cex_book(
    bids: Iterable[tuple[Any, Any]],
    asks: Iterable[tuple[Any, Any]],
    *,
    ts_ns: int = 0,
    in_sync: bool = True,
    market: str = "spot",
    venue: str = "binance",
    quote_currency: str = "USDC",
    market_id: str = CEX_ID,
    update_id: int | None = None,
) -> CexBookView:
    """A SOL/USDC CEX book view of these (price, size) levels (10 bps taker; its update id is
    `ts_ns` unless given)."""
    return CexBookView(
        venue=venue,
        market_id=market_id,
        pair="SOL/USDC",
        market=market,  # type: ignore[arg-type]
        quote_currency=quote_currency,
        bids=fixed_levels(bids),
        asks=fixed_levels(asks),
        update_id=ts_ns if update_id is None else update_id,
        in_sync=in_sync,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
        taker_fee_bps=10.0,
    )


def cex(
    bid: str,
    ask: str,
    qty: str = "10",
    *,
    ts_ns: int = 0,
    in_sync: bool = True,
    market: str = "spot",
    venue: str = "binance",
    quote_currency: str = "USDC",
    market_id: str = CEX_ID,
) -> CexBookView:
    """A one-level book: `bid` and `ask`, `qty` each."""
    return cex_book(
        [(bid, qty)], [(ask, qty)], ts_ns=ts_ns, in_sync=in_sync, market=market, venue=venue,
        quote_currency=quote_currency, market_id=market_id,
    )  # fmt: skip


def clob(
    bid_ticks: int, ask_ticks: int, lots: int = 20_000, *, ts_ns: int = 0, in_sync: bool = True
) -> ClobView:
    """One lot = 0.001 SOL, one tick = 0.01 USDC/SOL (10 micro-USDC per tick x lot), 2 bps."""
    return ClobView(
        venue="phoenix",
        market_id=CLOB_ID,
        pair="SOL/USDC",
        quote_currency="USDC",
        bids=((bid_ticks, lots),),
        asks=((ask_ticks, lots),),
        base_units_per_lot=1_000_000,
        quote_units_per_tick_lot_num=10,
        quote_units_per_tick_lot_den=1,
        taker_fee_bps=2.0,
        slot=1,
        in_sync=in_sync,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
    )


def test_buy_cex_sell_clob_opportunity_has_exact_size_amounts_and_costs() -> None:
    eng = PairEngine(make_params())
    assert eng.on_view(clob(10_100, 10_110), 0) == []  # no CEX view yet
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    # Grid 4/8/12/16 SOL; the CEX holds 10 SOL, so 8 SOL is the grid's best and the exact
    # search between its neighbours (8 and 12 SOL) finds the whole book, 10 SOL (the PnL is
    # linear in size up to there).
    # buy 10 SOL at 100.05 = 1_000_500_000, fee 10 bps = 1_000_500
    # sell 10_000 lots at 10100 ticks x 10 = 1_010_000_000, fee 2 bps = 202_000
    # flat (2+2 slippage + 5 safety) bps of the notional = 900_450
    # edge before gas = 1_009_798_000 - 1_001_500_500 - 900_450 = 7_397_050 -> CU price capped
    # at 2_000_000 -> gas 5000 + 400_000 lamports at 150 USDC = 60_750 micro-USDC
    expected = Opportunity(
        opportunity_id="SOL/USDC|buy_cex_sell_dex|binance:SOLUSDC>phoenix:MKT|1",
        pair="SOL/USDC",
        direction=BUY_CEX_SELL_DEX,
        buy_venue=CEX_ID,
        sell_venue=CLOB_ID,
        size_base=10 * SOL,
        buy_quote=1_000_500_000,
        sell_quote=1_010_000_000,
        spread_bps=9_500_000 * 10_000 / 1_000_500_000,
        costs=CostBreakdown(
            fees_cex_bps=1_000_500 * 10_000 / 1_000_500_000,
            fees_dex_bps=202_000 * 10_000 / 1_000_500_000,
            gas_bps=60_750 * 10_000 / 1_000_500_000,
            slippage_bps=4.0,
            hedge_bps=0.0,
            safety_margin_bps=5.0,
        ),
        threshold_bps=opp.costs.total_bps,
        net_bps=opp.spread_bps - opp.costs.total_bps,
        expected_pnl_quote=7_397_050 - 60_750,
        # from the grid size below (8 SOL: edge 5_917_640 - gas 60_750), bps of the notional
        # the 2 SOL added (200_100_000)
        marginal_bps=(7_397_050 - 5_917_640) * 10_000 / 200_100_000,
        cu_price_micro_lamports=2_000_000,
        update_seq=0,
        ts_event_ns=0,
        ts_recv_ns=0,
        ts_detect_ns=0,
    )
    assert opp == expected
    assert opp.costs.total_bps == pytest.approx(
        10.0 + (202_000 + 60_750) * 10_000 / 1_000_500_000 + 9.0, abs=1e-9
    )
    assert eng.counters["signals"] == 1


def test_buy_clob_sell_cex_opportunity_has_exact_amounts() -> None:
    eng = PairEngine(make_params())
    eng.on_view(cex("101.00", "101.10"), 0)
    [opp] = eng.on_view(clob(10_000, 10_005), 0)
    # buy 10 SOL (all the CEX bid holds) at 100.05 on the CLOB: 10_000 x 10005 x 10 =
    # 1_000_500_000 (fee 200_100); sell 10 SOL at 101.00 on the CEX: 1_010_000_000, fee 1_010_000.
    assert opp.direction == BUY_DEX_SELL_CEX
    assert opp.opportunity_id == "SOL/USDC|buy_dex_sell_cex|phoenix:MKT>binance:SOLUSDC|1"
    assert (opp.buy_venue, opp.sell_venue) == (CLOB_ID, CEX_ID)
    assert (opp.size_base, opp.buy_quote, opp.sell_quote) == (
        10 * SOL, 1_000_500_000, 1_010_000_000
    )
    assert opp.costs.fees_cex_bps == 1_010_000 * 10_000 / 1_000_500_000
    assert opp.costs.fees_dex_bps == 200_100 * 10_000 / 1_000_500_000
    edge = (1_010_000_000 - 1_010_000) - (1_000_500_000 + 200_100) - 900_450
    assert opp.expected_pnl_quote == edge - 60_750


def test_perp_cex_leg_adds_hedge_cost_and_converts_usdt() -> None:
    params = make_params(fx={"USDC": D(1), "USDT": D("0.999")})
    eng = PairEngine(params)
    perp = cex(
        "101.00",
        "101.10",
        market="perp",
        venue="binance-usdm",
        quote_currency="USDT",
        market_id="binance-usdm:SOLUSDT:perp",
    )
    eng.on_view(perp, 0)
    [opp] = eng.on_view(clob(10_000, 10_005), 0)
    # sell 10 SOL at 101.00 USDT = 1_010_000_000 micro-USDT = 1_008_990_000 micro-USDC
    assert (opp.size_base, opp.sell_quote) == (10 * SOL, 1_008_990_000)
    assert opp.costs.hedge_bps == pytest.approx(5.1, abs=1e-12)  # 5 bps close + 0.1/h x 1 h
    # perp fee 5 bps of 1_010_000_000 = 505_000 micro-USDT -> 504_495 micro-USDC
    assert opp.costs.fees_cex_bps == 504_495 * 10_000 / 1_000_500_000


def test_no_signal_when_spread_is_below_costs() -> None:
    eng = PairEngine(make_params())
    eng.on_view(cex("99.90", "100.05"), 0)
    # DEX bid 100.15: 10 bps gross cannot pay 10 + 2 + 9 + gas bps.
    assert eng.on_view(clob(10_015, 10_200), 0) == []
    assert eng.counters["signals"] == 0
    # The top-of-book bound already proves it: no walk at all.
    assert (eng.counters["evaluations"], eng.counters["bound_skips"]) == (0, 2)


def test_stale_or_out_of_sync_view_never_signals() -> None:
    eng = PairEngine(make_params())
    eng.on_view(cex("99.90", "100.05", ts_ns=0), 0)
    assert eng.on_view(clob(10_100, 10_110, ts_ns=2_500 * MS), 2_500 * MS) == []  # CEX 2.5 s old
    assert eng.counters["stale_skips"] == 2
    eng2 = PairEngine(make_params())
    eng2.on_view(cex("99.90", "100.05", in_sync=False), 0)
    assert eng2.on_view(clob(10_100, 10_110), 0) == []
    assert eng2.counters["signals"] == 0


def test_cex_book_older_than_its_venue_budget_is_never_priced_without_a_health_event() -> None:
    """The reproduced bug: an opportunity 1.98 s into a Binance stall was priced on the frozen
    book. With Binance's 1 s budget the book is refused; the DEX view keeps its own 2 s."""
    params = make_params(cex_stale_after_ns={CEX_ID: 1_000 * MS})
    eng = PairEngine(params)
    eng.on_view(cex("99.90", "100.05", ts_ns=0), 0)  # the last frame before the stall
    assert eng.on_view(clob(10_100, 10_110, ts_ns=1_980 * MS), 1_980 * MS) == []
    assert (eng.counters["stale_skips"], eng.counters["signals"]) == (2, 0)
    assert eng.is_stale(eng.views[CEX_ID], 1_980 * MS) is True
    assert eng.is_stale(eng.views[CLOB_ID], 3_900 * MS) is False  # DEX: 1.92 s of 2 s
    # within the budget the same book prices
    fresh = PairEngine(params)
    fresh.on_view(cex("99.90", "100.05", ts_ns=0), 0)
    [opp] = fresh.on_view(clob(10_100, 10_110, ts_ns=1_000 * MS), 1_000 * MS)
    assert (opp.buy_venue, opp.sell_venue) == (CEX_ID, CLOB_ID)


def test_spread_params_take_each_cex_book_budget_from_its_venue_or_config() -> None:
    settings = load_settings(env={})
    assert spread_params_from_settings(settings, "SOL/USDC").cex_stale_after_ns == {
        CEX_ID: 1_000 * MS}
    tuned = load_settings(env={"SOLARB__VENUES__BINANCE__STALE_AFTER_MS": "400"})
    assert spread_params_from_settings(tuned, "SOL/USDC").cex_stale_after_ns == {CEX_ID: 400 * MS}


def test_persistent_dislocation_is_one_signal_then_debounced_updates() -> None:
    eng = PairEngine(make_params())
    eng.on_view(clob(10_100, 10_110), 0)
    out: list[Opportunity] = []
    for i in range(20):  # identical books every 100 ms for 2 s
        out += eng.on_view(cex("99.90", "100.05", ts_ns=i * 100 * MS), i * 100 * MS)
    assert [o.update_seq for o in out] == [0]
    assert eng.counters["suppressed"] == 19
    # The edge moves by > 1 bps after the debounce: one update with the same id prefix.
    [upd] = eng.on_view(cex("99.90", "100.00", ts_ns=2_000 * MS), 2_000 * MS)
    assert upd.update_seq == 1
    assert upd.opportunity_id == out[0].opportunity_id
    # Within the debounce window another material move is suppressed.
    assert eng.on_view(cex("99.90", "99.90", ts_ns=2_100 * MS), 2_100 * MS) == []


def test_signal_rearms_only_after_edge_falls_below_trigger_minus_rearm() -> None:
    eng = PairEngine(make_params())
    eng.on_view(clob(10_100, 10_110), 0)
    [first] = eng.on_view(cex("99.90", "100.05"), 0)
    # Edge gone (CEX ask above the DEX bid): re-arms; comes back: a NEW signal, counter 2.
    assert eng.on_view(cex("99.90", "101.50", ts_ns=100 * MS), 100 * MS) == []
    assert eng.counters["rearms"] == 1
    [second] = eng.on_view(cex("99.90", "100.05", ts_ns=200 * MS), 200 * MS)
    assert second.update_seq == 0
    assert first.opportunity_id.endswith("|1") and second.opportunity_id.endswith("|2")


def test_live_epoch_makes_ids_unique_across_processes_and_updates_keep_their_signal_id() -> None:
    # what a restarted live process does: the same signal count under a new epoch
    eng = PairEngine(make_params())
    eng.id_epoch = "a1"
    eng.on_view(clob(10_100, 10_110), 0)
    [first] = eng.on_view(cex("99.90", "100.05"), 0)
    assert first.opportunity_id.endswith("|a1.1")
    eng.id_epoch = "b2"  # resumed: an update of the signal from before keeps its id
    [upd] = eng.on_view(cex("99.90", "100.00", ts_ns=2_000 * MS), 2_000 * MS)
    assert (upd.update_seq, upd.opportunity_id) == (1, first.opportunity_id)
    assert eng.on_view(cex("99.90", "101.50", ts_ns=2_200 * MS), 2_200 * MS) == []  # re-arms
    eng.on_view(clob(10_100, 10_110, ts_ns=2_300 * MS), 2_300 * MS)  # the DEX view is fresh
    [second] = eng.on_view(cex("99.90", "100.05", ts_ns=2_400 * MS), 2_400 * MS)
    assert second.opportunity_id.endswith("|b2.2")


def test_optimal_size_respects_the_notional_cap() -> None:
    eng = PairEngine(make_params(max_notional_quote=500 * 10**6))
    eng.on_view(clob(10_100, 10_110), 0)
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    # the grid's 8 SOL would sell for 808 USDC > 500 USDC cap; between 4 and 8 SOL the exact
    # search finds the largest whole lot under the cap: 4.950 SOL sells for 499.95 USDC
    # (4.951 SOL: 500.051 USDC)
    assert (opp.size_base, opp.sell_quote) == (4_950_000_000, 499_950_000)
    assert opp.marginal_bps > opp.net_bps  # past the 4 SOL grid size the gas is already paid


def test_views_of_another_pair_are_counted_and_ignored() -> None:
    eng = PairEngine(make_params())
    assert eng.on_view(replace(cex("1", "2"), pair="ETH/USDC"), 0) == []
    assert eng.counters["foreign_views"] == 1


# ----------------------------------------------------------------------------------- real CLMM

ORCA_ID = "orca:HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"


def orca_view(fixtures: Path, *, ts_ns: int = 0) -> ClmmView:
    """The real SOL/USDC Whirlpool (tick spacing 64, fee 0.20%) with its 7 tick arrays."""
    d = fixtures / "solana" / "orca_whirlpool" / "sol_usdc_ts64_2022-11"
    meta, data = load_account(next(d.glob("whirlpool.*.json")))
    pool = decode_whirlpool(data, meta.get("pubkey", ""))
    arrays = tuple(decode_tick_array(load_account(p)[1]) for p in sorted(d.glob("ta_*.json")))
    return ClmmView(
        venue="orca",
        market_id=ORCA_ID,
        pair="SOL/USDC",
        quote_currency="USDC",
        pool=pool,
        tick_arrays=arrays,
        amm_config=None,
        base_is_a=True,  # token A is wrapped SOL, token B USDC
        slot=1,
        in_sync=True,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
    )


def test_buy_cex_sell_real_orca_pool_is_priced_by_the_exact_swap(fixtures: Path) -> None:
    pool = orca_view(fixtures)
    eng = PairEngine(make_params())
    eng.on_view(pool, 0)
    [opp] = eng.on_view(cex("39.70", "39.80", qty="100"), 0)
    # The pool sits near 40.28 USDC/SOL and is deep: the largest grid size (16 SOL) wins.
    q = quote_swap(pool.pool, list(pool.tick_arrays), 16 * SOL, a_to_b=True, exact_in=True)
    assert q.amount_in == 16 * SOL
    fee_quote = q.fee_amount * q.amount_out // (q.amount_in - q.fee_amount)
    buy = 636_800_000  # 16 x 39.80
    edge = q.amount_out - (buy + 636_800) - bps_of(9.0, buy)
    cu = choose_cu_price(eng.p.costs, edge, 6)
    gas = gas_quote_units(eng.p.costs, cu, 6)
    assert (opp.direction, opp.buy_venue, opp.sell_venue) == (BUY_CEX_SELL_DEX, CEX_ID, ORCA_ID)
    assert (opp.size_base, opp.buy_quote, opp.sell_quote) == (16 * SOL, buy, q.amount_out)
    assert opp.spread_bps == (q.amount_out + fee_quote - buy) * 10_000 / buy
    assert opp.costs.fees_dex_bps == fee_quote * 10_000 / buy  # the 0.20% pool fee
    assert opp.costs.fees_cex_bps == 10.0
    assert opp.expected_pnl_quote == edge - gas
    assert opp.cu_price_micro_lamports == cu


def test_buy_real_orca_pool_sell_cex_uses_the_exact_out_swap(fixtures: Path) -> None:
    pool = orca_view(fixtures)
    eng = PairEngine(make_params())
    eng.on_view(cex("40.90", "41.00", qty="100"), 0)
    [opp] = eng.on_view(pool, 0)
    q = quote_swap(pool.pool, list(pool.tick_arrays), 16 * SOL, a_to_b=False, exact_in=False)
    assert q.amount_out == 16 * SOL
    assert (opp.direction, opp.buy_venue, opp.sell_venue) == (BUY_DEX_SELL_CEX, ORCA_ID, CEX_ID)
    assert (opp.size_base, opp.buy_quote, opp.sell_quote) == (16 * SOL, q.amount_in, 654_400_000)
    gross_buy = q.amount_in - q.fee_amount
    assert opp.spread_bps == (654_400_000 - gross_buy) * 10_000 / gross_buy
    assert opp.costs.fees_dex_bps == q.fee_amount * 10_000 / gross_buy
    edge = (654_400_000 - 654_400) - q.amount_in - bps_of(9.0, gross_buy)
    cu = choose_cu_price(eng.p.costs, edge, 6)
    assert opp.expected_pnl_quote == edge - gas_quote_units(eng.p.costs, cu, 6)


def test_pool_near_the_cex_price_gives_no_signal_either_way(fixtures: Path) -> None:
    eng = PairEngine(make_params())
    eng.on_view(orca_view(fixtures), 0)
    assert eng.on_view(cex("40.27", "40.29", qty="100"), 0) == []
    assert eng.counters["signals"] == 0


# ----------------------------------------------------------------------------------- estimators


def test_realised_slippage_history_replaces_the_default_in_the_trigger() -> None:
    eng = PairEngine(make_params())
    for _ in range(20):
        eng.observe_fill(CLOB_ID, 30.0)  # the CLOB fills 30 bps worse than quoted, p95 30
    eng.on_view(clob(10_100, 10_110), 0)
    # 2 bps (CEX default) + 30 bps (CLOB p95): the 95 bps spread still clears its costs.
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    assert opp.costs.slippage_bps == 32.0


def test_landing_failures_raise_the_cu_price_floor_of_the_engine() -> None:
    params = make_params()
    gas = replace(params.costs.gas, landing_min_samples=5, priority_share_of_edge=0.0)
    eng = PairEngine(replace(params, costs=replace(params.costs, gas=gas)))
    eng.on_view(clob(10_100, 10_110), 0)
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    assert opp.cu_price_micro_lamports == 1_000  # share 0: the configured floor
    for _ in range(5):
        eng.observe_landing(1_000, landed=False)
    eng.on_view(cex("99.90", "101.50", ts_ns=1), 1)  # re-arm
    [again] = eng.on_view(cex("99.90", "100.05", ts_ns=2), 2)
    assert again.cu_price_micro_lamports == 1_024


def test_config_dex_fee_can_only_raise_the_on_chain_clob_fee() -> None:
    params = make_params()
    costs = replace(params.costs, dex_taker_fee_bps={"phoenix": 5.0})
    eng = PairEngine(replace(params, costs=costs))
    eng.on_view(clob(10_100, 10_110), 0)
    [opp] = eng.on_view(cex("99.90", "100.05"), 0)
    assert opp.costs.fees_dex_bps == 404_000 * 10_000 / 800_400_000  # 5 bps of 808_000_000


# ----------------------------------------------------------------------------------- config


def test_spread_params_from_the_default_config() -> None:
    settings = load_settings(env={})
    p = spread_params_from_settings(settings, "SOL/USDC")
    assert (p.pair, p.base_decimals, p.quote_decimals, p.quote_currency) == (
        "SOL/USDC",
        9,
        6,
        "USDC",
    )
    assert p.max_trade_base == 50 * SOL
    assert p.max_notional_quote == 5_000 * 10**6
    assert p.lot_size_base == {CEX_ID: 1_000_000}
    assert p.stale_after_ns == 2_000 * MS
    assert p.hysteresis == HysteresisParams(
        debounce_ns=1_000 * MS,
        rearm_below_bps=2.0,
        update_min_edge_change_bps=1.0,
        update_min_size_change_pct=10.0,
    )
    assert p.costs.cex_taker_fee_bps["binance"] == 10.0
    assert p.costs.dex_taker_fee_bps == {"phoenix": 2.0, "openbook": 2.0}
    assert p.costs.gas.cu_limit == 200_000
    assert p.costs.sol_price_quote == D("150")
    assert p.fx == {"USDC": D(1), "USDT": D(1)}


def test_spread_params_refuse_a_lot_finer_than_a_base_unit(tmp_path: Path) -> None:
    markets = tmp_path / "markets.toml"
    markets.write_text(
        MARKETS_PATH.read_text().replace('lot_size = "0.001"', 'lot_size = "0.0000000001"')
    )
    settings = load_settings(markets_path=markets, env={})
    with pytest.raises(ConfigError, match="finer than one base unit"):
        spread_params_from_settings(settings, "SOL/USDC")
