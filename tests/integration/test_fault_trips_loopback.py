"""Fault -> kill switch trip on the loopback venues, measured (README "Kill switch trips").

Each test runs the paper flow on the loopback Binance simulator + Solana stand-in at the default
config (sim/fault_trips.py), injects one fault once both feeds flow, and reads the `kills` row:
its cause, its reason and `tripped_ns` minus the wall time of the injection, which must be under
the fault's target (1.5 s for a feed fault, 200 ms for the rest), and the pair's `kill_effects`
row at that trip (the cancel / unwind answer of its execution step; with a leg open:
test_kill_unwinds_loopback.py). The README table comes from
`python -m bench kill_trips` (several runs of each, p50 and max).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.journal import read_table
from sim.fault_trips import FAULTS, ROUTINE_RECONNECT, measure, run_fault

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _trip(name: str, tmp: Path) -> tuple[str, str, float]:
    fault = FAULTS[name]
    trip = measure(fault, tmp)
    print(f"{fault.label} -> kill: {trip.ms:.0f} ms ({trip.reason})")
    # the fault is at or after the injection, and detected no later than the trip
    assert trip.detected_ns <= trip.tripped_ns
    assert 0 < trip.ms < fault.target_ms, (name, trip)
    # the trip reached the pair's execution step: its answer is journaled at the trip's time
    # (no leg is open on this quiet market: nothing on the wire, nothing resting to cancel)
    assert trip.effects == (("SOL/USDC", trip.tripped_ns, 0, "nothing resting"),), trip
    return trip.cause, trip.reason, trip.ms


def test_cex_feed_stalled_trips_a_feed_kill_within_1500ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("cex_stale", tmp_path)
    assert cause == "feed" and reason.startswith("feed binance stale for "), reason


def test_cex_ws_down_and_unreachable_trips_a_feed_kill_within_1500ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("cex_down", tmp_path)
    assert cause == "feed" and reason.startswith("feed binance down for "), reason


def test_cex_book_stuck_out_of_sync_trips_a_feed_kill_within_1500ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("book_out_of_sync", tmp_path)
    assert cause == "feed" and reason.startswith("feed binance resync for "), reason


def test_every_rpc_silent_trips_a_feed_kill_within_1500ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("rpc_silent", tmp_path)
    assert cause == "feed" and reason.startswith("feed solana:feed stale for "), reason


def test_slot_lag_of_the_rpc_in_use_trips_a_feed_kill_within_1500ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("slot_lag", tmp_path)
    # 50 slots ahead of the frozen node, give or take the slot it advanced meanwhile
    assert cause == "feed" and reason.endswith(" > 20 on solana:feed"), reason
    assert int(reason.split()[2]) in range(48, 51)


def test_venue_clock_drift_trips_a_clock_kill_within_200ms_of_the_sample(tmp_path: Path) -> None:
    cause, reason, _ = _trip("clock_drift", tmp_path)
    assert cause == "clock"
    # the measured offset is the skew give or take half a round trip on loopback
    m = re.fullmatch(r"clock drift (\d+) ms > 1000 ms on clock:binance", reason)
    assert m is not None and 2_900 <= int(m.group(1)) <= 3_100, reason


def test_solarb_kill_flag_trips_a_manual_kill_within_200ms(tmp_path: Path) -> None:
    cause, reason, _ = _trip("manual", tmp_path)
    assert (cause, reason) == ("manual", "kill requested by control:manual: bench")


def test_a_routine_reconnect_recovers_inside_the_budget_and_never_trips(tmp_path: Path) -> None:
    journal, injected_ns = run_fault(ROUTINE_RECONNECT, tmp_path)
    assert read_table(journal, "kills") is None
    assert read_table(journal, "kill_effects") is None
    health = read_table(journal, "health")
    assert health is not None
    rows = [h for h in health.to_pylist() if h["source"] == "binance"
            and h["ts_recv_ns"] >= injected_ns]
    down = min(h["ts_recv_ns"] for h in rows if h["status"] == "down")
    up = min(h["ts_recv_ns"] for h in rows if h["status"] == "up" and h["ts_recv_ns"] > down)
    print(f"routine reconnect: down -> up in {(up - down) / 1e6:.0f} ms")
    assert up - down < 1_000_000_000
