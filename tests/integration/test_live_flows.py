"""Paper, record and live flows over the live sources, end to end on 127.0.0.1.

The loopback Binance simulator serves SOLUSDC around 150.00; the Solana stand-in serves the
simulated sample Whirlpool (sim/simulate.py `SimPool`) at 150. Nothing leaves the machine.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from cli.live import add_live_parsers
from config import Settings, load_settings
from connectors.bounded import BoundedPartition, Bounds
from connectors.capture import read_capture
from connectors.journal import read_table
from connectors.solana.watcher import TickArrayWatcher, wanted_pool_accounts
from engine.live_inputs import LiveHandles
from engine.markets import Router, build_market_state
from flows import live, paper, record
from flows.replay import build_flow as build_replay
from operators.errors import ConfigError
from operators.events import HealthEvent, RawFrame
from operators.views import CexBookView, ClmmView
from replay.report import summarize
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, SimPool
from tests.conftest import MemoryKeyring
from tests.integration.loop_support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
_OURS = ("cex-", "solana-feed", "standin-", "cex-venue-sim", "loopback-scenario")


def _our_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith(_OURS)}


@pytest.fixture
def loop() -> Iterator[Loopback]:
    before = _our_threads()
    lb = Loopback([SAMPLE_POOL]).start()
    try:
        yield lb
    finally:
        lb.stop()
    deadline = time.monotonic() + 5
    while _our_threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _our_threads() - before == set()  # no server or feed thread outlives the test


def _settings(lb: Loopback) -> Settings:
    return lb.settings(None, SAMPLE_MARKETS)


def _run(lf: paper.LiveFlow) -> None:
    try:
        run_main(lf.flow)  # type: ignore[no-untyped-call]
    finally:
        lf.handles.close()


def _counters(journal: Path) -> dict[tuple[str, str, str], int]:
    t = read_table(journal, "counters")
    assert t is not None
    return {(r["step"], r["key"], r["name"]): r["value"] for r in t.to_pylist()}


def test_recorded_loopback_session_replays_into_views_for_both_markets(
    loop: Loopback, tmp_path: Path
) -> None:
    cap = tmp_path / "rec.parquet"
    lf = record.build_flow(_settings(loop), cap, bounds=Bounds(max_frames=120, seconds=3.0))
    _run(lf)
    frames = list(read_capture(cap))
    kinds = Counter((f.source, f.kind) for f in frames)
    assert kinds == {("binance", "rest"): 1, ("binance", "ws"): 119, ("orca", "account"): 6}
    arrays = [addr for addr, _ in SimPool(SimConfig(), SAMPLE_POOL).tick_arrays()]
    # the watcher derived and subscribed every existing tick array around the pool's price
    assert {f.stream for f in frames if f.kind == "account"} == {
        f"{SAMPLE_POOL}:{k}" for k in [SAMPLE_POOL, *arrays]
    }
    assert {f.stream for f in frames if f.kind == "rest"} == {
        "GET /api/v3/depth?symbol=SOLUSDC&limit=1000"
    }
    assert all(f.slot is None for f in frames if f.source == "binance")
    assert all((f.slot or 0) > 1000 for f in frames if f.source == "orca")

    sample = load_settings(markets_path=SAMPLE_MARKETS, env={})
    router = Router(sample)
    states = {mid: build_market_state(sample, router, mid) for mid in (CEX, DEX)}
    views: Counter[str] = Counter()
    last: dict[str, Any] = {}
    unrouted = []
    for f in frames:
        mid = router.market_of(f)
        if mid is None:
            unrouted.append((f.stream, f.payload))
            continue
        for v in states[mid].on_frame(f):
            if isinstance(v, CexBookView | ClmmView):
                views[mid] += 1
                last[mid] = v
    assert isinstance(last[CEX], CexBookView) and last[CEX].in_sync is True
    assert isinstance(last[DEX], ClmmView) and last[DEX].in_sync is True
    assert len(last[DEX].tick_arrays) == 5
    # the transport records the subscription ack too (a capture holds every frame received)
    assert unrouted == [("control", b'{"result":null,"id":1}')]

    journal = tmp_path / "journal"
    run_main(build_replay(sample, [cap], journal))  # type: ignore[no-untyped-call]
    c = _counters(journal)
    assert c[("market_state", CEX, "frames")] == 119
    assert c[("market_state", DEX, "frames")] == 6
    assert c[("market_state", DEX, "decode_errors")] == 0
    assert c[("market_state", CEX, "bad_frames")] == 0
    assert c[("pair_engine", "SOL/USDC", "views")] == views[CEX] + views[DEX]


def test_paper_run_on_loopback_fills_both_legs_of_a_scripted_dislocation(
    loop: Loopback, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    lf = paper.build_flow(_settings(loop), journal, bounds=Bounds(seconds=6.0))
    handles: LiveHandles = lf.handles
    mid = float(loop.cex_mid())
    assert mid == 150.0
    moved: list[int] = []

    def script() -> None:
        # once both feeds flow, move the pool 80 bps under the (unmoved) CEX book, then write
        # it again later so the DEX paper leg has a view past its fill latency
        wait_until(lambda: sum(handles.frames().values()) >= 6 + 50)
        moved.append(loop.move_pool(mid * (1 - 80 / 1e4)))
        time.sleep(1.0)
        moved.append(loop.move_pool(mid * (1 - 80 / 1e4)))

    t = threading.Thread(target=script, name="test-script", daemon=True)
    t.start()
    try:
        _run(lf)
    finally:
        t.join(10)
    assert len(moved) == 2
    c = _counters(journal)
    assert c[("market_state", DEX, "frames")] == 8  # pool + 5 tick arrays + 2 scripted writes
    assert c[("market_state", CEX, "frames")] > 100
    assert c[("risk_guard", "risk", "killed")] == 0
    opps = read_table(journal, "opportunities")
    assert opps is not None
    firsts = [o for o in opps.to_pylist() if o["update_seq"] == 0]
    assert [(o["direction"], o["pair"]) for o in firsts] == [("buy_dex_sell_cex", "SOL/USDC")]
    fills = read_table(journal, "fills")
    assert fills is not None
    legs = sorted((f["venue"], f["side"], f["status"]) for f in fills.to_pylist())
    assert legs == [(CEX, "sell", "filled"), (DEX, "buy", "filled")]
    s = summarize(journal, load_settings(None, SAMPLE_MARKETS, env={}))
    assert (s.accepted, s.arbs_completed, s.arbs_one_legged) == (1, 1, 0)
    assert s.pnl_quote > 0
    health = read_table(journal, "health")
    assert health is not None
    assert {"binance", "solana:feed"} <= {h["source"] for h in health.to_pylist()}


def test_live_trading_refuses_to_start_without_keys_before_any_feed(
    memory_keyring: MemoryKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the keychain (in memory, empty) has no API key: the execution gateway refuses to connect,
    # so no feed, journal or order is ever started
    before = _our_threads()
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    with pytest.raises(ConfigError, match="keychain:solarb:binance_api_key: no such entry"):
        live.build_flow(settings, tmp_path / "j", signals_only=False)
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--markets")
    add_live_parsers(p.add_subparsers(dest="cmd"))
    args = p.parse_args(["live", "--faults", "--duration", "1"])
    with pytest.raises(ConfigError, match="--faults needs --loopback"):
        args.func(args)
    monkeypatch.delenv("SOLARB_LIVE_SIGNALS_ONLY", raising=False)
    monkeypatch.setenv("SOLARB_MARKETS", str(SAMPLE_MARKETS))
    with pytest.raises(ConfigError, match="binance_api_key"):
        _ = live.flow  # what `python -m bytewax.run flows.live` does
    assert _our_threads() == before  # refused before any server, socket or feed started
    assert not (tmp_path / "j").exists()


def test_live_signals_only_journals_intents_and_sends_nothing(
    loop: Loopback, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    lf = live.build_flow(_settings(loop), journal, signals_only=True, bounds=Bounds(seconds=4.0))
    handles = lf.handles
    mid = float(loop.cex_mid())

    def script() -> None:
        wait_until(lambda: sum(handles.frames().values()) >= 6 + 50)
        loop.move_pool(mid * (1 - 80 / 1e4))

    t = threading.Thread(target=script, name="test-script", daemon=True)
    t.start()
    try:
        _run(lf)
    finally:
        t.join(10)
    intents = read_table(journal, "intents")
    assert intents is not None
    assert sorted((i["venue"], i["side"]) for i in intents.to_pylist()) == [
        (CEX, "sell"),
        (DEX, "buy"),
    ]
    assert read_table(journal, "fills") is None  # no execution sink at all


class _Inner:
    """A stand-in live partition: hands out scripted batches, records close()."""

    def __init__(self, batches: list[list[RawFrame | HealthEvent]]) -> None:
        self.batches = batches
        self.closed = 0

    def next_batch(self) -> list[RawFrame | HealthEvent]:
        return self.batches.pop(0) if self.batches else []

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self.closed += 1


def _frame(i: int) -> RawFrame:
    return RawFrame(i, "binance", "solusdc@depth@100ms", "ws", b"{}")


def test_frame_budget_cuts_the_batch_and_ends_the_partition_once() -> None:
    hb = HealthEvent("binance", "up", "", 0, 0)
    inner = _Inner([[_frame(1), hb, _frame(2), _frame(3), hb], [_frame(4)]])
    part = BoundedPartition("p", inner, Bounds(max_frames=2), threading.Event())  # type: ignore[arg-type]
    assert part.next_batch() == [_frame(1), hb, _frame(2)]
    with pytest.raises(StopIteration):
        part.next_batch()
    part.close()
    assert (inner.closed, part.frames, inner.batches) == (1, 2, [[_frame(4)]])


def test_stop_request_ends_an_unbounded_partition_at_its_next_poll() -> None:
    stop = threading.Event()
    inner = _Inner([[_frame(1)], [_frame(2)]])
    part = BoundedPartition("p", inner, Bounds(), stop)  # type: ignore[arg-type]
    assert part.next_batch() == [_frame(1)]
    stop.set()
    with pytest.raises(StopIteration):
        part.next_batch()
    assert inner.closed == 1


def test_orca_pool_bytes_derive_the_seven_tick_arrays_around_its_price() -> None:
    from connectors.solana.orca import tick_array_address

    pool = SimPool(SimConfig(), SAMPLE_POOL)
    assert pool.tick() == -18973  # 150 USDC/SOL; its array starts at -22528 (88 * 64 ticks)
    got = wanted_pool_accounts("orca", SAMPLE_POOL, pool.account_bytes())
    assert got == [tick_array_address(SAMPLE_POOL, s) for s in range(-39424, 0, 5632)]


def test_openbook_market_bytes_derive_its_bids_and_asks_accounts() -> None:
    from solders.pubkey import Pubkey

    from connectors.solana.openbook import encode_market

    data = encode_market(bids=bytes([21]) * 32, asks=bytes([22]) * 32)
    got = wanted_pool_accounts("openbook", "market", data)
    assert got == [str(Pubkey(bytes([21]) * 32)), str(Pubkey(bytes([22]) * 32))]


def test_watcher_subscribes_only_accounts_not_yet_watched() -> None:
    pool = SimPool(SimConfig(), SAMPLE_POOL)
    calls: list[tuple[str, list[str]]] = []

    class _Source:
        def want(self, market: str, accounts: list[str]) -> None:
            calls.append((market, list(accounts)))

    first = wanted_pool_accounts("orca", SAMPLE_POOL, pool.account_bytes())
    watcher = TickArrayWatcher(
        _Source(),  # type: ignore[arg-type]
        {SAMPLE_POOL: ("orca", True)},
        {SAMPLE_POOL: {SAMPLE_POOL, first[3]}},
    )
    frame = RawFrame(1, "orca", f"{SAMPLE_POOL}:{SAMPLE_POOL}", "account", pool.account_bytes(), 9)
    watcher("w", frame)
    watcher("w", frame)  # same price: nothing new to watch
    watcher("w", RawFrame(2, "orca", f"{SAMPLE_POOL}:{first[0]}", "account", b"x", 9))
    pool.move_to(148.8)  # still inside the array at -22528: the same seven arrays
    watcher(
        "w",
        RawFrame(3, "orca", f"{SAMPLE_POOL}:{SAMPLE_POOL}", "account", pool.account_bytes(), 10),
    )
    assert calls == [(SAMPLE_POOL, first[:3] + first[4:])]
    watcher("w", RawFrame(4, "orca", f"{SAMPLE_POOL}:{SAMPLE_POOL}", "account", b"bad", 11))
    assert (watcher.requests, watcher.decode_errors) == (1, 1)


def test_bytewax_run_of_flows_record_writes_a_bounded_capture(
    loop: Loopback, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    cap = tmp_path / "run.parquet"
    env = {
        **os.environ,
        **loop.env(),
        "SOLARB_MARKETS": str(SAMPLE_MARKETS),
        "SOLARB_RECORD_OUT": str(cap),
        "SOLARB_RECORD_MAX_FRAMES": "50",
        "SOLARB_RECORD_SECONDS": "3",
    }
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.record"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    kinds = Counter(f.source for f in read_capture(cap))
    assert kinds == {"binance": 50, "orca": 6}


def test_paper_command_with_loopback_prints_the_summary_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    before = _our_threads()
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--markets")
    add_live_parsers(p.add_subparsers(dest="cmd"))
    report = tmp_path / "report.md"
    args = p.parse_args(
        [
            "paper",
            "--loopback",
            "--duration",
            "3",
            "--journal",
            str(tmp_path / "j"),
            "--report",
            str(report),
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert "== solarb paper summary" in out
    assert f"markets        2: {CEX}, {DEX}" in out
    assert report.read_text().startswith("# solarb report: paper session")
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    assert "<h1>solarb report: paper session</h1>" in page
    assert f"report         {report} (+ {report.with_suffix('.html')})" in out
    deadline = time.monotonic() + 5
    while _our_threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _our_threads() - before == set()
