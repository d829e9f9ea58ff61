"""AccountFeedSource -> ClmmPoolState against LiteSVM stand-ins with the real SOL/USDC accounts.

A stale view must never leave the state unflagged: every view emitted while the feed is down
or lagging has in_sync=False, and the view recovers after the feed fails over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.solana.orca import (
    WHIRLPOOL_PROGRAM_ID,
    decode_tick_array,
    decode_whirlpool,
    encode_tick_array,
    encode_whirlpool,
    tick_array_address,
)
from connectors.solana.sources import FEED_SOURCE, AccountFeedPartition, AccountFeedSource
from operators.clmm import quote_swap
from operators.clmm.accounts import Tick, TickArray
from operators.clmm.math import sqrt_price_from_tick_index
from operators.events import HealthEvent, PoolUpdate, RawFrame
from operators.pool_state import ClmmPoolState
from operators.views import ClmmView
from sim.standin import SolanaStandIn
from tests.conftest import load_account

pytestmark = [pytest.mark.integration, pytest.mark.timeout(25)]

SET = "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
ORCA = WHIRLPOOL_PROGRAM_ID
MS = 1_000_000
FAST = {
    "max_slot_lag": 5,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.2,
    "heartbeat_timeout_s": 0.6,
    "health_interval_s": 0.1,
}


def _decode(pubkey: str, data: bytes) -> tuple[str, object]:
    if pubkey == POOL:
        return "pool", decode_whirlpool(data, pubkey)
    return "tick_array", decode_tick_array(data, pubkey)


@dataclass
class Run:
    part: AccountFeedPartition
    state: ClmmPoolState
    log: list[tuple[str, object]]

    def pump(self, pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Feed the graph's side by hand until `pred()` holds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for item in self.part.next_batch():
                self.log.append(("in", item))
                outs: list[ClmmView | HealthEvent] = []
                if isinstance(item, RawFrame):
                    market, account = item.stream.split(":")
                    role, decoded = _decode(account, item.payload)
                    upd = PoolUpdate(
                        "orca",
                        f"orca:{market}",
                        account,
                        role,
                        decoded,
                        item.slot or 0,
                        0,
                        item.ts_recv_ns,
                    )
                    outs = self.state.on_account(upd)
                elif item.source == FEED_SOURCE:
                    outs = self.state.on_health(item)
                self.log.extend(("out", o) for o in outs)
            self.log.extend(("out", o) for o in self.state.on_clock(time.time_ns()))
            if pred():
                return
            time.sleep(0.005)
        raise AssertionError(f"not reached; last: {self.log[-6:]}")


def _accounts(fixtures: Path) -> dict[str, tuple[bytes, str, int]]:
    out = {}
    for path in sorted((fixtures / SET).glob("*.*.json")):
        meta, data = load_account(path)
        out[meta["pubkey"]] = (data, meta["owner"], meta["lamports"])
    return out


@pytest.fixture
def nodes(fixtures: Path) -> Iterator[list[SolanaStandIn]]:
    accounts = _accounts(fixtures)
    started = []
    for i in range(3):
        node = SolanaStandIn(start_slot=30_000, name=f"n{i}")
        for key, (data, owner, lamports) in accounts.items():
            node.set_account(key, data, owner, lamports)
        node.start_in_thread(auto_advance_s=0.05)
        started.append(node)
    yield started
    for node in started:
        node.stop_thread()


def _settings(nodes: list[SolanaStandIn]) -> SimpleNamespace:
    a, b, c = nodes
    return SimpleNamespace(
        http=[a.http_url, b.http_url],
        ws=[a.ws_url, b.ws_url],
        failover_http=c.http_url,
        failover_ws=c.ws_url,
        commitment="confirmed",
        timeout_ms=1000,
    )


def _watch(fixtures: Path) -> list[str]:
    arrays = sorted(p.name.split(".")[1] for p in (fixtures / SET).glob("ta_n*.json"))
    return [POOL, *arrays]


def test_views_are_flagged_while_primary_lags_and_recover_after_failover(
    nodes: list[SolanaStandIn], fixtures: Path
) -> None:
    source = AccountFeedSource(
        _settings(nodes), {POOL: _watch(fixtures)}, venue="orca", rpc_kwargs=FAST
    )
    part = source.build_part("feed", "solana-accounts", None)
    state = ClmmPoolState(
        "orca", f"orca:{POOL}", "SOL/USDC", "USDC", True, stale_after_ns=1_500 * MS
    )
    run = Run(part, state, [])
    try:
        run.pump(lambda: state.view().in_sync)
        assert len(state.view().tick_arrays) == 7
        data, _, lamports = _accounts(fixtures)[POOL]
        moved = data[:-1] + b"\x09"
        mark = len(run.log)
        nodes[0].set_lagging(True)
        for node in nodes:
            node.set_account(POOL, moved, ORCA, lamports)  # the lagging node holds it back
        want = decode_whirlpool(moved, POOL)
        run.pump(lambda: state.view().in_sync and state.view().pool == want)
    finally:
        part.close()
    events = run.log[mark:]
    feed = [
        (i, o.status)
        for i, (k, o) in enumerate(events)
        if k == "in" and isinstance(o, HealthEvent) and o.source == FEED_SOURCE and o.status != "up"
    ]
    first_bad = next(i for i, s in feed if s in ("lag", "down", "switch"))
    back = next(i for i, s in feed if s == "resync" and i > first_bad)
    flagged = [
        o.in_sync for k, o in events[first_bad:back] if k == "out" and isinstance(o, ClmmView)
    ]
    assert flagged and not any(flagged)
    assert feed[0][1] in ("lag", "down")  # slot lag is usually seen before the WS goes silent
    final = state.view()
    assert final.in_sync is True and final.slot > 30_000
    starts = [-50688, -45056, -39424, -33792, -28160, -22528, -16896]
    assert [a.start_tick_index for a in final.tick_arrays] == starts
    # the recovered view prices exactly as the fixture accounts decoded straight from disk
    accounts = _accounts(fixtures)
    direct = sorted(
        (decode_tick_array(accounts[k][0], k) for k in _watch(fixtures)[1:]),
        key=lambda t: t.start_tick_index,
    )
    got = quote_swap(final.pool, final.tick_arrays, 10**9, a_to_b=True)
    assert got == quote_swap(want, direct, 10**9, a_to_b=True)
    assert got.amount_in == 10**9


def test_want_adds_an_account_subscription_at_runtime(
    nodes: list[SolanaStandIn], fixtures: Path
) -> None:
    source = AccountFeedSource(_settings(nodes), {POOL: [POOL]}, venue="orca", rpc_kwargs=FAST)
    part = source.build_part("feed", "solana-accounts", None)
    extra = _watch(fixtures)[1]
    frames: list[RawFrame] = []

    def saw(stream: str) -> Callable[[], bool]:
        def pred() -> bool:
            frames.extend(i for i in part.next_batch() if isinstance(i, RawFrame))
            return any(f.stream == stream for f in frames)

        return pred

    try:
        deadline = time.monotonic() + 10
        while not saw(f"{POOL}:{POOL}")() and time.monotonic() < deadline:
            time.sleep(0.01)
        source.want(POOL, [extra])
        while not saw(f"{POOL}:{extra}")() and time.monotonic() < deadline:
            time.sleep(0.01)
        data = _accounts(fixtures)[extra][0]
        slot = nodes[0].set_account(extra, data[:-1] + b"\x01", ORCA, 1)
        while not any(f.payload[-1:] == b"\x01" for f in frames) and time.monotonic() < deadline:
            saw("")()
            time.sleep(0.01)
    finally:
        part.close()
    got = [f for f in frames if f.stream == f"{POOL}:{extra}"]
    assert [(f.source, f.kind, f.payload) for f in got[:1]] == [("orca", "account", data)]
    assert (got[-1].payload, got[-1].slot) == (data[:-1] + b"\x01", slot)
    assert got[-1].ts_ingest_ns > 0


def test_price_move_subscribes_the_new_tick_arrays_the_state_wants(
    nodes: list[SolanaStandIn], fixtures: Path
) -> None:
    watched = _watch(fixtures)
    source = AccountFeedSource(_settings(nodes), {POOL: watched}, venue="orca", rpc_kwargs=FAST)
    part = source.build_part("feed", "solana-accounts", None)
    state = ClmmPoolState(
        "orca", f"orca:{POOL}", "SOL/USDC", "USDC", True, stale_after_ns=1_500 * MS
    )
    run = Run(part, state, [])
    try:
        run.pump(lambda: state.view().in_sync)
        derived = {tick_array_address(POOL, s) for s in state.wanted_tick_array_starts()}
        assert derived == set(watched[1:])
        pool = decode_whirlpool(_accounts(fixtures)[POOL][0], POOL)
        # now inside the array at -5632 (price and tick move together, as a swap moves them)
        moved = replace(
            pool, tick_current_index=-3000, sqrt_price=sqrt_price_from_tick_index(-3000)
        )
        for node in nodes:
            node.set_account(POOL, encode_whirlpool(moved), ORCA, 5435760)
        run.pump(lambda: state.view().pool == moved)
        assert state.view().in_sync is False  # the array holding tick -3000 is not held yet
        new = [tick_array_address(POOL, s) for s in state.wanted_tick_array_starts()]
        source.want(POOL, [k for k in new if k not in watched])
        empty = TickArray(-5632, tuple(Tick.empty() for _ in range(88)), POOL)
        time.sleep(0.2)  # let the subscriptions reach the node before the array is created
        for node in nodes:
            node.set_account(tick_array_address(POOL, -5632), encode_tick_array(empty), ORCA, 1)
        run.pump(lambda: state.view().in_sync)
    finally:
        part.close()
    assert state.wanted_tick_array_starts() == [-22528, -16896, -11264, -5632, 0, 5632, 11264]
    assert [a.start_tick_index for a in state.view().tick_arrays] == [-22528, -16896, -5632]
