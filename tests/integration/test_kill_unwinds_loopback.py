"""A feed fault while a leg is open: the guard's kill reaches the pair's execution step, which
unwinds the open leg, and the journal says so (issue 13 item 1).

Paper on the loopback Binance simulator + Solana stand-in, `dex_first` legs and a slow paper DEX
(3 s), so an accepted opportunity's DEX leg is still on the wire, its CEX twin waiting, when the
Binance feed stalls and the guard trips a feed kill (~1.5 s). The kill drops the twin; the DEX
fill that lands later is unwound on the pool. The same on live trading (`solarb live
--loopback`'s world in process), the stand-ins holding the swap in flight. Bounded: 10 s runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.bounded import Bounds
from connectors.execution import ExecutionGateway
from connectors.journal import read_rows, run_dir
from flows import live, paper
from sim.fault_trips import WARM_FRAMES, settings_for
from sim.loopback import Loopback
from sim.simulate import SAMPLE_POOL
from tests.integration.loop_support import run_with_script, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_a_cex_feed_stall_while_a_dex_leg_is_open_unwinds_it_and_journals_how(
    tmp_path: Path,
) -> None:
    lb = Loopback([SAMPLE_POOL]).start()
    journal = tmp_path / "journal"
    marks: dict[str, int] = {}
    try:
        assert lb.venues is not None
        s = settings_for(lb, tmp_path)
        engine = s.engine.model_copy(update={"leg_order": "dex_first",
                                             "paper_dex_latency_ms": 3_000})  # fmt: skip
        settings = s.model_copy(update={"engine": engine})
        mid = float(lb.cex_mid())
        lf = paper.build_flow(settings, journal, bounds=Bounds(seconds=10.0))

        def script() -> None:
            wait_until(lambda: sum(lf.handles.frames().values()) >= WARM_FRAMES)
            marks["moved"] = time.time_ns()
            lb.move_pool(mid * (1 - 80 / 1e4))  # an arb: buy on the pool, sell on Binance
            time.sleep(0.3)  # the DEX leg is out (3 s), the CEX twin waits for its fill
            marks["stalled"] = time.time_ns()
            assert lb.venues is not None
            lb.venues.venues.inject("binance", "stall", None, seconds=20.0)
            time.sleep(3.5)  # the kill (~1.5 s) came first; now a pool view fills the DEX leg
            lb.move_pool(mid)
            time.sleep(3.3)  # ... and one 3 s later fills the unwind
            lb.move_pool(mid * (1 + 10 / 1e4))

        run_with_script(lf, script, join_s=15)
    finally:
        lb.stop()
    assert "stalled" in marks, "the feeds never flowed"
    [kill] = read_rows(journal, "kills")
    assert kill["cause"] == "feed" and kill["reason"].startswith("feed binance stale for ")
    assert kill["tripped_ns"] > marks["stalled"]
    # the pair's execution step answered the trip: one leg open, its CEX twin dropped, the DEX
    # leg on the wire (a paper IOC: nothing rests, it still reports)
    [effect] = read_rows(journal, "kill_effects")
    assert (effect["scope"], effect["cause"], effect["tripped_ns"], effect["reason"]) == (
        "SOL/USDC", "feed", kill["tripped_ns"], kill["reason"])  # fmt: skip
    assert (effect["open_legs"], effect["dropped"], effect["cancelled"]) == (1, 1, 1)
    [opp] = [d["opportunity_id"] for d in read_rows(journal, "decisions") if d["accepted"]]
    legs = sorted((r for r in read_rows(journal, "legs") if r["opportunity_id"] == opp),
                  key=lambda r: r["ts_ns"])  # fmt: skip
    assert [(r["from_state"], r["to_state"]) for r in legs] == [
        ("planned", "sent"), ("sent", "failed"), ("failed", "unwinding"),
        ("unwinding", "unwound"), ("unwound", "closed"),
    ]  # fmt: skip
    fills = {f["intent_id"]: f for f in read_rows(journal, "fills") if f["opportunity_id"] == opp}
    assert set(fills) == {f"{opp}/buy", f"{opp}/unwind"}  # the CEX sell never went out
    assert fills[f"{opp}/buy"]["status"] == fills[f"{opp}/unwind"]["status"] == "filled"
    assert fills[f"{opp}/unwind"]["filled_base"] == fills[f"{opp}/buy"]["filled_base"]
    assert fills[f"{opp}/buy"]["ts_fill_ns"] > kill["tripped_ns"]  # the leg was open at the kill
    health = [(h["source"], h["status"]) for h in read_rows(journal, "health")
              if h["source"] == "risk:kill_switch"]  # fmt: skip
    assert health == [("risk:kill_switch", "kill")]  # the stall outlasts the run: no re-arm


def test_live_loopback_a_cex_feed_stall_with_a_swap_in_flight_unwinds_its_fill(
    tmp_path: Path,
) -> None:
    """Live trading on loopback (signed CEX orders, swaps on two Solana stand-ins): the stand-ins
    hold the DEX buy unexecuted while Binance's feed stalls and the guard trips; the kill drops
    the CEX twin and, once the swap lands, the live step unwinds it with a sell on the pool."""
    lb = Loopback([SAMPLE_POOL], rpcs=2).start()
    journal = tmp_path / "journal"
    marks: dict[str, int] = {}
    gw: ExecutionGateway | None = None
    try:
        assert lb.venues is not None
        s = settings_for(lb, tmp_path)
        settings = s.model_copy(
            update={"engine": s.engine.model_copy(update={"leg_order": "dex_first"})}
        )
        keys = lb.trading(settings)
        gw = ExecutionGateway(settings, credentials=keys.credentials, signer=keys.signer).start()
        mid = float(lb.cex_mid())
        lf = live.build_flow(settings, journal, signals_only=False, bounds=Bounds(seconds=10.0),
                             gateway=gw)  # fmt: skip

        def script() -> None:
            wait_until(lambda: sum(lf.handles.frames().values()) >= WARM_FRAMES)
            for node in lb.standins:
                node.hold_sends(True)  # the DEX buy is accepted and stays in flight
            marks["moved"] = time.time_ns()
            lb.move_pool(mid * (1 - 80 / 1e4))
            time.sleep(0.3)
            assert lb.venues is not None
            lb.venues.venues.inject("binance", "stall", None, seconds=20.0)
            marks["stalled"] = time.time_ns()
            time.sleep(2.5)  # the guard trips (~1.5 s) with the swap still held
            for node in lb.standins:
                node.hold_sends(False)  # the swap lands late (pool unmoved); its fill is unwound

        run_with_script(lf, script, join_s=15)
    finally:
        if gw is not None:
            gw.close()
        lb.stop()
    assert "stalled" in marks, "the feeds never flowed"
    root = run_dir(journal)
    kills = [k for k in read_rows(root, "kills") if k["cause"] == "feed"]
    assert kills and kills[0]["reason"].startswith("feed binance stale for "), kills
    kill = kills[0]
    [effect] = [e for e in read_rows(root, "kill_effects") if e["tripped_ns"] == kill["tripped_ns"]]
    assert (effect["scope"], effect["open_legs"], effect["dropped"], effect["cancelled"]) == (
        "SOL/USDC", 1, 1, 1)  # fmt: skip
    [opp] = [d["opportunity_id"] for d in read_rows(root, "decisions") if d["accepted"]]
    mine = [r for r in read_rows(root, "legs") if r["opportunity_id"] == opp]
    states = [r["to_state"] for r in sorted(mine, key=lambda r: r["ts_ns"])]
    fills = {f["intent_id"]: f for f in read_rows(root, "fills") if f["opportunity_id"] == opp}
    assert states[0] == "sent" and "unwinding" in states and states[-1] == "closed", (
        states, fills)  # fmt: skip
    assert f"{opp}/sell" not in fills  # the CEX twin never went out
    assert fills[f"{opp}/buy"]["status"] == "filled"
    assert fills[f"{opp}/buy"]["ts_fill_ns"] > kill["tripped_ns"], fills  # in flight at the kill
    unwinds = [f for i, f in fills.items() if i.startswith(f"{opp}/unwind")]
    assert unwinds and unwinds[-1]["status"] == "filled", fills
    assert unwinds[-1]["filled_base"] == fills[f"{opp}/buy"]["filled_base"]
