"""The pair engine inside a Bytewax dataflow, snapshot round trip, and no-storm checks."""

from __future__ import annotations

import pickle
import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.book import fixed_levels
from operators.events import FIXED_SCALE, Opportunity
from operators.spread import BUY_CEX_SELL_DEX, PairEngine, SpreadParams
from operators.views import CexBookView, ClobView, VenueView
from tests.conftest import iter_cex_lines
from tests.unit.test_spread import MS, SOL, cex, clob, make_params

D = Decimal
SECOND = 1_000_000_000


def run_pair_flow(params: SpreadParams, views: list[VenueView]) -> list[Opportunity]:
    """views -> key_on pair -> stateful_flat_map(PairEngine) -> sink; the sink's items."""
    out: list[Opportunity] = []

    def step(engine: PairEngine | None, view: VenueView) -> tuple[PairEngine, list[Opportunity]]:
        engine = engine if engine is not None else PairEngine(params)
        return engine, engine.on_view(view, view.ts_recv_ns)

    flow = Dataflow("pair_engine_test")
    views_in = op.input("views", flow, TestingSource(views))
    keyed = op.key_on("by_pair", views_in, lambda v: v.pair)  # type: ignore[attr-defined]
    opps = op.stateful_flat_map("pair_engine", keyed, step)  # type: ignore[arg-type]
    op.output("out", op.key_rm("unkey", opps), TestingSink(out))
    run_main(flow)  # type: ignore[no-untyped-call]
    return out


def scenario() -> list[VenueView]:
    """A dislocation that persists 2 s, moves, disappears, then comes back."""
    t = [i * 100 * MS for i in range(40)]
    views: list[VenueView] = [clob(10_100, 10_110, ts_ns=0)]
    views += [cex("99.90", "100.05", ts_ns=t[i]) for i in range(1, 20)]  # one signal
    views.insert(10, clob(10_100, 10_110, ts_ns=t[10]))  # the DEX refreshes: never stale
    views += [cex("99.90", "100.00", ts_ns=t[21])]  # +6 bps after > 1 s: one update
    views += [cex("99.90", "101.50", ts_ns=t[22])]  # gone: re-arms
    views += [clob(10_100, 10_110, ts_ns=t[23]), cex("99.90", "100.05", ts_ns=t[24])]  # new
    return views


def test_pair_engine_in_bytewax_emits_the_exact_opportunities() -> None:
    out = run_pair_flow(make_params(), scenario())
    key = "SOL/USDC|buy_cex_sell_dex|binance:SOLUSDC>phoenix:MKT"
    assert [(o.opportunity_id, o.update_seq, o.ts_recv_ns) for o in out] == [
        (f"{key}|1", 0, 100 * MS),
        (f"{key}|1", 1, 2_100 * MS),
        (f"{key}|2", 0, 2_400 * MS),
    ]
    first, update, again = out
    # the exact size: all 10 SOL the CEX ask holds (the 4-step grid alone stopped at 8 SOL)
    assert first.direction == BUY_CEX_SELL_DEX and first.size_base == 10 * SOL
    assert (first.buy_quote, first.sell_quote, first.expected_pnl_quote) == (
        1_000_500_000,
        1_010_000_000,
        7_336_300,
    )
    # 10 SOL at 100.00: the buy costs 1_000_000_000 + 1_000_000 fee; flat 9 bps = 900_000.
    edge = (1_010_000_000 - 202_000) - 1_001_000_000 - 900_000
    assert (update.buy_quote, update.expected_pnl_quote) == (1_000_000_000, edge - 60_750)
    assert again.expected_pnl_quote == first.expected_pnl_quote
    # The same views through a bare engine give the same opportunities: replay reproduces ids.
    bare = PairEngine(make_params())
    assert [o for v in scenario() for o in bare.on_view(v, v.ts_recv_ns)] == out


def test_engine_snapshot_round_trip_continues_identically() -> None:
    views = scenario()
    eng = PairEngine(make_params())
    for v in views[:10]:
        eng.on_view(v, v.ts_recv_ns)
    restored: PairEngine = pickle.loads(pickle.dumps(eng))
    tail_a = [o for v in views[10:] for o in eng.on_view(v, v.ts_recv_ns)]
    tail_b = [o for v in views[10:] for o in restored.on_view(v, v.ts_recv_ns)]
    assert tail_a == tail_b and len(tail_a) == 2  # the update and the second signal
    assert restored.counters == eng.counters


# ----------------------------------------------------------------------------------- storms


def test_quiet_ten_minutes_of_noise_below_threshold_gives_no_signal() -> None:
    rng = random.Random(20240808)
    eng = PairEngine(make_params())
    signals: list[Opportunity] = []
    mid_cents = 10_000  # 100.00 USDC/SOL
    for i in range(6_000):  # a CEX update every 100 ms for 10 minutes
        t = i * 100 * MS
        mid_cents += rng.choice((-1, 0, 0, 1))  # 1-cent (1 bp) steps
        mid_cents = min(10_050, max(9_950, mid_cents))
        if i % 4 == 0:  # the DEX follows the CEX each 400 ms slot, +-(0..3) bps off
            off = rng.randint(-3, 3)
            signals += eng.on_view(clob(mid_cents + off - 2, mid_cents + off + 2, ts_ns=t), t)
        bid, ask = D(mid_cents - 1) / 100, D(mid_cents + 1) / 100
        signals += eng.on_view(cex(str(bid), str(ask), ts_ns=t), t)
    assert signals == []
    assert eng.counters["signals"] == 0
    assert eng.counters["views"] == 7_500


def btc_params() -> SpreadParams:
    p = make_params()
    return replace(
        p,
        pair="BTC/USDT",
        base_decimals=8,
        quote_decimals=6,
        quote_currency="USDT",
        max_trade_base=10**8,  # 1 BTC
        max_notional_quote=100_000 * 10**6,
        size_steps=8,
        lot_size_base={"binance:BTCUSDT": 1_000},  # 0.00001 BTC
    )


def btc_dex(mid: Decimal, ts_ns: int) -> ClobView:
    """A deep synthetic DEX book +-2 bps around `mid` (tick 0.01 USDT, lot 0.00001 BTC)."""
    mid_ticks = int(mid * 100)
    half = max(1, mid_ticks * 2 // 10_000)
    return ClobView(
        venue="phoenix",
        market_id="phoenix:BTC",
        pair="BTC/USDT",
        quote_currency="USDT",
        bids=((mid_ticks - half, 500_000),),
        asks=((mid_ticks + half, 500_000),),
        base_units_per_lot=1_000,
        # one tick (0.01 USDT/BTC) x one lot (0.00001 BTC) = 0.0000001 USDT = 1/10 micro-USDT
        quote_units_per_tick_lot_num=1,
        quote_units_per_tick_lot_den=10,
        taker_fee_bps=2.0,
        slot=ts_ns // (400 * MS),
        in_sync=True,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
    )


def btc_book_tickers(fixtures: Path) -> list[CexBookView]:
    """CexBookViews (one level a side) from every bookTicker frame of the recorded BTCUSDT."""
    path = next((fixtures / "cex" / "binance").glob("btcusdt_spot_*.jsonl.gz"))
    views = []
    for line in iter_cex_lines(path):
        if not line["stream"].endswith("@bookTicker"):
            continue
        data = orjson.loads(line["payload"])["data"]
        views.append(
            CexBookView(
                venue="binance",
                market_id="binance:BTCUSDT",
                pair="BTC/USDT",
                market="spot",
                quote_currency="USDT",
                bids=fixed_levels([(data["b"], data["B"])]),
                asks=fixed_levels([(data["a"], data["A"])]),
                update_id=data["u"],
                in_sync=True,
                ts_event_ns=0,
                ts_recv_ns=line["ts_recv_ns"],
                taker_fee_bps=10.0,
            )
        )
    return views


def replay_signal_times(params: SpreadParams, views: list[CexBookView]) -> list[int]:
    """Replay the CEX views; the DEX re-prices to the CEX mid once per 400 ms slot."""
    eng = PairEngine(params)
    times: list[int] = []
    next_slot = 0
    for view in views:
        t = view.ts_recv_ns
        if t >= next_slot:
            next_slot = t + 400 * MS
            mid = Decimal(view.bids[0][0] + view.asks[0][0]) / (2 * FIXED_SCALE)
            times += [o.ts_recv_ns for o in eng.on_view(btc_dex(mid, t), t)]
        times += [o.ts_recv_ns for o in eng.on_view(view, t)]
    assert eng.counters["signals"] + eng.counters["updates"] == len(times)
    return times


def max_per_minute(times: list[int]) -> int:
    minutes: dict[int, int] = {}
    for t in times:
        minutes[t // (60 * SECOND)] = minutes.get(t // (60 * SECOND), 0) + 1
    return max(minutes.values(), default=0)


def test_binance_btcusdt_replay_against_a_dex_near_mid_stays_under_50_signals_a_minute(
    fixtures: Path,
) -> None:
    views = btc_book_tickers(fixtures)
    assert len(views) == 66_678  # 10 minutes of real top-of-book changes
    times = replay_signal_times(btc_params(), views)
    assert times == []  # no top-of-book jump beat ~21 bps of costs inside one slot
    assert max_per_minute(times) <= 50
    # Even with no CEX fee, no slippage and no safety margin (a trigger near 2 bps + gas),
    # hysteresis keeps the count far under the storm line.
    p = btc_params()
    bare = replace(
        p,
        costs=replace(
            p.costs, cex_taker_fee_bps={"binance": 0.0}, slippage_default_bps=0.0,
            safety_margin_bps=0.0,
        ),
    )
    loose = replay_signal_times(bare, views)
    # 8 (34 with grid-only sizing): the exact search finds an executable size below the
    # grid's smallest where the grid found none, so a live edge stays one debounced signal
    # instead of flickering "no executable size" -> re-arm -> new signal
    assert len(loose) == 8
    assert max_per_minute(loose) <= 50
