"""The whole replay graph on a simulated session with 3 CEX books and 4 Solana venues.

60 s of SOL/USDC on Binance, OKX, Bybit, Orca, Raydium CLMM, Phoenix and OpenBook v2, every
venue in its own wire format / account layout (sim/dex_venues.py). Scheduled events:
+60 bps on Phoenix alone at 10 s, the fair price +70 bps at 20 s, -70 bps on Bybit alone at
30 s, the fair price -80 bps at 45 s and -65 bps on Raydium alone at 52 s. The risk caps are
raised so that every signal trades and every venue gets legs to check.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.capture import read_capture
from connectors.journal import read_table
from connectors.solana import openbook, phoenix
from connectors.solana import raydium_clmm as ray
from engine.markets import CexMarketState, MarketState, Router, build_market_state
from flows.replay import build_flow
from operators.clmm import quote_swap
from operators.views import CexBookView, ClmmView, ClobView
from sim.simulate import (
    ALL_VENUES,
    SAMPLE_MARKETS_ALL,
    SAMPLE_OPENBOOK_ASKS,
    SAMPLE_OPENBOOK_MARKET,
    SAMPLE_PHOENIX_MARKET,
    SAMPLE_RAYDIUM_POOL,
    SimConfig,
    write_capture,
)

CFG = SimConfig(
    venues=ALL_VENUES,
    duration_s=60,
    jumps=((20, 70), (45, -80)),
    venue_shocks=((10, "phoenix", 60), (30, "bybit", -70), (52, "raydium_clmm", -65)),
)
RISK_ENV = {
    "SOLARB__RISK__MAX_NOTIONAL_PER_MINUTE_USD": "1000000",
    "SOLARB__RISK__MAX_OPEN_ORDERS": "64",
    "SOLARB__RISK__MAX_EXPOSURE_USD": "1000000",
}
Journal = dict[str, list[dict[str, Any]]]
WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}
TABLES = ("opportunities", "decisions", "intents", "fills", "health", "counters", "legs")
VIEWS = (CexBookView, ClmmView, ClobView)
SIZE = 30_000_000_000  # 30 SOL, the pair's max_trade_base


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "all_venues.parquet"
    assert write_capture(path, CFG) == 2219
    return path


def _run(capture: Path, journal: Path, batch_size: int) -> Journal:
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env=RISK_ENV)
    run_main(build_flow(settings, [capture], journal, batch_size=batch_size))  # type: ignore[no-untyped-call]
    out = {}
    for name in TABLES:
        t = read_table(journal, name)
        rows = [] if t is None else t.to_pylist()
        out[name] = sorted(
            ({k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows), key=repr
        )
    return out


@pytest.fixture(scope="module")
def journal(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Journal:
    return _run(capture, tmp_path_factory.mktemp("j1000"), 1000)


def _venue(market_id: str) -> str:
    return market_id.split(":", 1)[0]


def _accounts_at(capture: Path, source: str, ts_ns: int) -> dict[str, bytes]:
    """Latest bytes of every account of `source` received at or before `ts_ns`."""
    held: dict[str, bytes] = {}
    for fr in read_capture(capture):
        if fr.source == source and fr.ts_recv_ns <= ts_ns:
            held[fr.stream.split(":", 1)[1]] = fr.payload
    return held


def test_every_market_is_fed_without_decode_errors_bad_frames_or_resyncs(
    journal: Journal,
) -> None:
    c = {(r["step"], r["key"], r["name"]): r["value"] for r in journal["counters"]}
    frames = {
        _venue(k): v for (step, k, n), v in c.items() if step == "market_state" and n == "frames"
    }
    assert frames == {"binance": 601, "okx": 601, "bybit": 601, "orca": 82,
                      "raydium_clmm": 104, "phoenix": 81, "openbook": 149}  # fmt: skip
    errors = {
        (k, n): v
        for (step, k, n), v in c.items()
        if step == "market_state" and n in ("decode_errors", "bad_frames", "resyncs")
    }
    assert len(errors) == 3 * 2 + 4 and set(errors.values()) == {0}
    assert c[("pair_engine", "SOL/USDC", "views")] == 2216
    # the 4 DEX markets syncing, and OpenBook 5 more times: its bids side moved at a newer slot
    # than its asks and crossed them, so its view waited for the asks (not in sync meanwhile)
    assert [h["status"] for h in journal["health"]] == ["up"] * 9
    assert Counter(_venue(h["source"]) for h in journal["health"]) == {
        "orca": 1, "raydium_clmm": 1, "phoenix": 1, "openbook": 6
    }  # fmt: skip


def test_each_market_state_turns_its_frames_into_in_sync_views(capture: Path) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env={})
    router = Router(settings)
    states: dict[str, MarketState] = {}
    in_sync: Counter[str] = Counter()
    for fr in read_capture(capture):
        mid = router.market_of(fr)
        assert mid is not None
        st = states.get(mid) or states.setdefault(mid, build_market_state(settings, router, mid))
        in_sync.update(_venue(mid) for v in st.on_frame(fr) if isinstance(v, VIEWS) and v.in_sync)
    views = {_venue(m): st.views for m, st in states.items()}
    assert views == {"binance": 598, "okx": 601, "bybit": 601, "orca": 82,
                     "raydium_clmm": 104, "phoenix": 81, "openbook": 149}  # fmt: skip
    # not in sync only until each DEX market holds every account it needs: Orca's 5 tick
    # arrays and Raydium's config + 17 arrays come before their pool, OpenBook's market + bids
    # before its asks; Raydium's bitmap extension makes no view (ClmmPoolState ignores it);
    # 5 OpenBook views whose newer bids cross the older asks wait for the asks' update
    assert in_sync == {"binance": 598, "okx": 601, "bybit": 601, "orca": 77,
                       "raydium_clmm": 85, "phoenix": 81, "openbook": 142}  # fmt: skip
    okx = states["okx:SOL-USDC"]
    assert isinstance(okx, CexMarketState)
    stats = okx.sync.stats
    assert (stats.applied, stats.checksum_ok, stats.checksum_fail) == (601, 601, 0)
    assert router.unrouted == 0


def test_signals_come_from_every_market_across_many_venue_pairs(
    journal: Journal,
) -> None:
    start_ms = CFG.start_ns // 1_000_000
    signals = sorted(
        (o["ts_detect_ns"] // 1_000_000 - start_ms, _venue(o["buy_venue"]), _venue(o["sell_venue"]))
        for o in journal["opportunities"]
        if o["update_seq"] == 0
    )
    cex, phx, obk, orca, ray_ = "CEX", "phoenix", "openbook", "orca", "raydium_clmm"
    by_event = Counter(
        (t // 1000, "CEX" if b in ALL_VENUES[:3] else b, "CEX" if s in ALL_VENUES[:3] else s)
        for t, b, s in signals
    )
    assert by_event == {
        (10, cex, phx): 3,  # Phoenix alone rich: every CEX buys, Phoenix sells
        (20, phx, cex): 1, (20, obk, cex): 3, (20, orca, cex): 3, (20, ray_, cex): 3,
        (20, cex, phx): 2,  # Phoenix requotes onto the jump at once; OKX, Bybit still lag
        (30, cex, phx): 1, (30, cex, obk): 1, (30, cex, orca): 1, (30, cex, ray_): 1,
        (45, cex, phx): 3, (45, cex, obk): 3, (45, cex, orca): 3, (45, cex, ray_): 3,
        (52, ray_, cex): 3,  # Raydium alone cheap
    }  # fmt: skip
    assert {b for t, b, s in signals if s == "phoenix" and t // 1000 == 30} == {"bybit"}
    combos = {(b, s) for _, b, s in signals}
    assert len(combos) == 22
    used = {v for combo in combos for v in combo}
    assert used == set(ALL_VENUES)
    assert len([o for o in journal["opportunities"] if o["update_seq"] > 0]) == 45


def test_every_opportunity_carries_its_full_cost_breakdown(
    journal: Journal,
) -> None:
    fee_floor = {"orca": 4.99, "raydium_clmm": 3.99, "phoenix": 2.0, "openbook": 4.0}
    for o in journal["opportunities"]:
        terms = [o[f"cost_{k}_bps"] for k in ("fees_cex", "fees_dex", "gas", "slippage",
                                              "hedge", "safety_margin")]  # fmt: skip
        assert all(math.isfinite(x) and x >= 0 for x in terms), o["opportunity_id"]
        assert math.isclose(o["cost_total_bps"], sum(terms), abs_tol=1e-9)
        assert math.isclose(o["net_bps"], o["spread_bps"] - o["cost_total_bps"], abs_tol=1e-9)
        assert (o["cost_slippage_bps"], o["cost_hedge_bps"], o["cost_safety_margin_bps"]) == (
            4.0, 0.0, 5.0,
        )  # fmt: skip
        dex = _venue(o["sell_venue"] if o["direction"] == "buy_cex_sell_dex" else o["buy_venue"])
        assert o["cost_fees_dex_bps"] >= fee_floor[dex] - 0.1, o["opportunity_id"]
        assert 9.5 < o["cost_fees_cex_bps"] < 10.5 and 0 < o["cost_gas_bps"] < 1
        assert o["net_bps"] > 0 and o["expected_pnl_quote"] > 0
        assert 0 < o["size_base"] <= SIZE and o["size_base"] % 1_000_000 == 0  # whole 0.001 lots
    assert {o["size_base"] for o in journal["opportunities"] if o["update_seq"] == 0} == {SIZE}


def test_every_paper_leg_is_filled_partly_filled_or_rejected_with_a_reason(
    journal: Journal,
) -> None:
    intents = {i["intent_id"]: i for i in journal["intents"]}
    unwinds = [f for f in journal["fills"] if f["intent_id"].endswith("/unwind")]
    fills = [f for f in journal["fills"] if not f["intent_id"].endswith("/unwind")]
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for f in fills:
        by_intent.setdefault(f["intent_id"], []).append(f)
    assert len(intents) == len(by_intent) == 68
    assert sorted(by_intent) == sorted(intents)
    outcome: dict[str, str] = {}
    for iid, rows in by_intent.items():
        size = intents[iid]["size_base"]
        statuses = sorted(r["status"] for r in rows)
        if statuses == ["filled"]:
            (f,) = rows
            assert (f["reason"], f["filled_base"]) == ("", size) and f["quote_amount"] > 0
        elif statuses == ["rejected"]:
            (f,) = rows
            assert f["reason"].startswith("price moved: ") and f["filled_base"] == 0
        else:
            # IOC past its limit price (issue 12 item 5): what the levels within it held
            # filled, the remainder expired
            assert statuses == ["cancelled", "partial"]
            part = next(r for r in rows if r["status"] == "partial")
            gone = next(r for r in rows if r["status"] == "cancelled")
            assert 0 < part["filled_base"] < size and gone["filled_base"] == 0
            assert gone["reason"] == (
                f"IOC: {size - part['filled_base']} base units past the limit expired"
            )
        outcome[iid] = statuses[-1]
    status = Counter((_venue(intents[i]["venue"]), s) for i, s in outcome.items())
    assert {v for v, s in status if s == "filled"} == set(ALL_VENUES)
    assert status[("phoenix", "rejected")] == 2 and sum(status.values()) == 68
    assert Counter(outcome.values()) == {"filled": 61, "partial": 4, "rejected": 3}
    # Each one-legged opportunity is unwound (no hedge market in this sample) on the venue whose
    # leg filled more, on the other side, for the difference: nothing is left open.
    short = {f["opportunity_id"] for f in fills if f["status"] in ("rejected", "partial")}
    assert len(unwinds) == len(short) == 7
    for u in unwinds:
        legs_of = [f for f in fills if f["opportunity_id"] == u["opportunity_id"]]
        done = next(f for f in legs_of if f["status"] == "filled")
        net = sum(f["filled_base"] for f in legs_of if f["side"] == done["side"]) - sum(
            f["filled_base"] for f in legs_of if f["side"] != done["side"]
        )
        assert (u["status"], u["venue"], u["filled_base"]) == ("filled", done["venue"], net)
        assert u["side"] != done["side"]
    legs = journal.get("legs")
    if legs is not None:
        closed = {r["opportunity_id"] for r in legs if r["to_state"] == "closed"}
        assert closed == {i["opportunity_id"] for i in intents.values()}


def test_replay_is_identical_at_batch_size_1_and_1000(
    capture: Path, journal: Journal, tmp_path: Path
) -> None:
    assert _run(capture, tmp_path / "j1", 1) == journal


def _fill(journal: Journal, venue: str, side: str, second: int) -> dict[str, Any]:
    start_s = CFG.start_ns // 10**9
    return next(
        f
        for f in journal["fills"]
        if _venue(f["venue"]) == venue
        and f["side"] == side
        and f["status"] == "filled"
        and f["ts_fill_ns"] // 10**9 - start_s == second
        # the first fill on its view: a later one walks on from the levels already taken
        and "walked_on_from_base" not in json.loads(f["extra"] or "{}")
    )


def test_phoenix_sell_fill_equals_a_walk_of_the_captured_market_account(
    capture: Path, journal: Journal
) -> None:
    fill = _fill(journal, "phoenix", "sell", 10)
    acc = _accounts_at(capture, "phoenix", fill["ts_fill_ns"])[SAMPLE_PHOENIX_MARKET]
    m = phoenix.decode_market(acc)
    # Independent walk: bids best first, whole base lots; one tick x lot is
    # tick_size_in_quote_lots_per_base_unit * quote_lot_size / base_lots_per_base_unit atoms.
    want_lots = SIZE // m.base_lot_size
    tick_lots = 0
    for price_ticks, lots in sorted(m.bids, reverse=True):
        take = min(lots, want_lots)
        tick_lots += take * price_ticks
        want_lots -= take
        if not want_lots:
            break
    quote = Fraction(tick_lots * m.tick_size_in_quote_lots_per_base_unit * m.quote_lot_size,
                     m.base_lots_per_base_unit)  # fmt: skip
    proceeds = math.floor(quote)
    fee_lots = -(-(proceeds // m.quote_lot_size) * m.taker_fee_bps // 10_000)
    assert (fill["quote_amount"], fill["fee_quote"]) == (proceeds, fee_lots * m.quote_lot_size)
    assert (fill["quote_amount"], fill["fee_quote"]) == (4_527_348_486, 905_470)


def test_openbook_buy_fill_equals_a_walk_of_the_captured_ask_side(
    capture: Path, journal: Journal
) -> None:
    fill = _fill(journal, "openbook", "buy", 20)
    held = _accounts_at(capture, "openbook", fill["ts_fill_ns"])
    market = openbook.decode_market(held[SAMPLE_OPENBOOK_MARKET])
    asks = openbook.decode_book_side(held[SAMPLE_OPENBOOK_ASKS])
    want_lots = SIZE // market.base_lot_size
    cost_lots = 0
    for leaf in sorted(asks.fixed, key=lambda leaf: leaf.key):  # price in the key's top 64 bits
        take = min(leaf.quantity, want_lots)
        cost_lots += take * (leaf.key >> 64)
        want_lots -= take
        if not want_lots:
            break
    cost = cost_lots * market.quote_lot_size
    fee = -(-cost * market.taker_fee // 1_000_000)
    assert (fill["quote_amount"], fill["fee_quote"]) == (cost, fee) == (4_502_342_190, 1_800_937)


def test_raydium_buy_fill_is_the_exact_swap_on_the_captured_pool_accounts(
    capture: Path, journal: Journal
) -> None:
    fill = _fill(journal, "raydium_clmm", "buy", 52)
    held = _accounts_at(capture, "raydium_clmm", fill["ts_fill_ns"])
    pool = ray.decode_pool_state(held.pop(SAMPLE_RAYDIUM_POOL))
    heads = {k: bytes(v[:8]) for k, v in held.items()}
    (config,) = [
        ray.decode_amm_config(v) for k, v in held.items() if heads[k] == ray.DISC_AMM_CONFIG
    ]
    arrays = [ray.decode_tick_array(v) for k, v in held.items() if heads[k] == ray.DISC_TICK_ARRAY]
    # Buying SOL (token 0) = swap USDC -> SOL (one_for_zero), exact out of the size.
    q = quote_swap(pool, arrays, SIZE, a_to_b=False, exact_in=False, amm_config=config)
    assert q.amount_out == SIZE and q.ticks_crossed == 0
    assert q.amount_in == fill["quote_amount"] == 4_468_216_580
    assert json.loads(fill["extra"]) == {"fee_in_price_quote": str(q.fee_amount)}
    # Closed form inside one liquidity range: 1/sqrtP' = 1/sqrtP - dx/L, dy = L(sqrtP' - sqrtP),
    # then the fee on top; the program's Q64.64 rounding moves it by at most a unit or two.
    sqrt_p = Fraction(pool.sqrt_price_x64, 1 << 64)
    sqrt_p_after = 1 / (1 / sqrt_p - Fraction(SIZE, pool.liquidity))
    dy = pool.liquidity * (sqrt_p_after - sqrt_p)
    gross = dy * 1_000_000 / (1_000_000 - config.trade_fee_rate)
    assert abs(gross - fill["quote_amount"]) <= 2
