"""The whole replay graph under `run_main` on a small generated capture: exact decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.capture import read_capture
from connectors.journal import read_rows
from connectors.solana.orca import decode_tick_array, decode_whirlpool
from flows.replay import build_flow
from operators.clmm import quote_swap
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, write_capture

# 60 s of market: one +70 bps jump (DEX cheap), one +12 bps wiggle (under the trigger), one
# -80 bps jump (DEX rich). Everything else is noise under the trigger.
CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "session.parquet"
    assert write_capture(path, CFG) == 687
    return path


def _run(capture: Path, journal: Path, batch_size: int) -> dict[str, list[dict]]:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [capture], journal, batch_size=batch_size))
    out = {}
    for name in ("opportunities", "decisions", "intents", "fills"):
        rows = read_rows(journal, name)
        rows = [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows]
        key = "intent_id" if name in ("intents", "fills") else "opportunity_id"
        out[name] = sorted(rows, key=lambda r: (r[key], r.get("update_seq", 0)))
    return out


def test_replay_signals_exactly_the_two_jumps_and_fills_both_legs(
    capture: Path, tmp_path: Path
) -> None:
    j = _run(capture, tmp_path / "j", 1000)
    signals = sorted(
        (o for o in j["opportunities"] if o["update_seq"] == 0), key=lambda o: o["ts_detect_ns"]
    )
    assert [
        (o["direction"], o["size_base"], o["buy_quote"], o["sell_quote"], o["ts_detect_ns"])
        for o in signals
    ] == [
        ("buy_dex_sell_cex", 30_000_000_000, 4_505_332_948, 4_532_316_150, 1767225620406636990),
        ("buy_cex_sell_dex", 30_000_000_000, 4_499_685_460, 4_529_694_275, 1767225645001976070),
    ]
    assert len(j["opportunities"]) == 6  # the two signals and their debounced updates
    assert [d["rail"] for d in j["decisions"] if d["accepted"]] == ["ok", "ok"]
    fills = [
        (f["side"], f["status"], f["filled_base"], f["quote_amount"], f["fee_quote"])
        for f in j["fills"]
    ]
    assert sorted(fills) == sorted(
        [
            ("buy", "filled", 30_000_000_000, 4_504_572_985, 0),  # Orca swap, fee in price
            ("sell", "filled", 30_000_000_000, 4_532_316_150, 4_532_317),  # Binance, 10 bps
            ("buy", "filled", 30_000_000_000, 4_499_685_460, 4_499_686),  # Binance, 10 bps
            ("sell", "filled", 30_000_000_000, 4_530_613_863, 0),  # Orca swap
        ]
    )


def test_replay_is_identical_at_any_batch_size(capture: Path, tmp_path: Path) -> None:
    assert _run(capture, tmp_path / "a", 1000) == _run(capture, tmp_path / "b", 1)


def test_paper_dex_fill_equals_the_exact_swap_on_the_pool_one_slot_later(
    capture: Path, tmp_path: Path
) -> None:
    j = _run(capture, tmp_path / "j", 500)
    dex_buy = next(f for f in j["fills"] if f["side"] == "buy" and f["venue"].startswith("orca:"))
    pool = None
    arrays = []
    for fr in read_capture(capture):
        if fr.source != "orca" or fr.ts_recv_ns > dex_buy["ts_fill_ns"]:
            continue
        if fr.stream == f"{SAMPLE_POOL}:{SAMPLE_POOL}":
            pool = decode_whirlpool(fr.payload)
        else:
            arrays.append(decode_tick_array(fr.payload))
    assert pool is not None
    # Buying SOL (token A) on the pool = swap USDC -> SOL, exact out of the size.
    q = quote_swap(pool, arrays, dex_buy["filled_base"], a_to_b=False, exact_in=False)
    assert q.amount_out == dex_buy["filled_base"]
    assert q.amount_in == dex_buy["quote_amount"] == 4_504_572_985
