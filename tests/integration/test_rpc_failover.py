"""The real RPC layer against three LiteSVM stand-ins: bootstrap, subscriptions, failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from solders.pubkey import Pubkey

from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID
from connectors.solana.rpc import AccountUpdate, SolanaRpc
from operators.errors import FeedError
from operators.events import HealthEvent
from sim.standin import SolanaStandIn
from tests.conftest import load_account

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

SET = "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
ORCA = WHIRLPOOL_PROGRAM_ID
FAST = {
    "max_slot_lag": 5,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.2,
    "heartbeat_timeout_s": 0.6,
    "health_interval_s": 0.1,
}


@dataclass
class Cluster:
    nodes: list[SolanaStandIn]
    accounts: dict[str, tuple[bytes, int]]

    def write(self, pubkey: str, data: bytes, *, only: list[int] | None = None) -> None:
        """Write the same account on every node (one chain, several RPC nodes)."""
        for i, node in enumerate(self.nodes):
            if only is None or i in only:
                node.set_account(pubkey, data, ORCA, self.accounts[pubkey][1])

    def settings(self) -> SimpleNamespace:
        a, b, c = self.nodes
        return SimpleNamespace(
            http=[a.http_url, b.http_url],
            ws=[a.ws_url, b.ws_url],
            failover_http=c.http_url,
            failover_ws=c.ws_url,
            commitment="confirmed",
            timeout_ms=1000,
        )


@pytest.fixture
async def cluster(fixtures: Path) -> AsyncIterator[Cluster]:
    nodes = [SolanaStandIn(start_slot=10_000, name=f"n{i}") for i in range(3)]
    accounts: dict[str, tuple[bytes, int]] = {}
    for path in sorted((fixtures / SET).glob("*.*.json")):
        meta, data = load_account(path)
        accounts[meta["pubkey"]] = (data, meta["lamports"])
        for node in nodes:
            node.set_account(meta["pubkey"], data, meta["owner"], meta["lamports"])
    for node in nodes:
        await node.start(auto_advance_s=0.05)
    yield Cluster(nodes, accounts)
    for node in nodes:
        await node.stop()


async def _until(
    rpc: SolanaRpc, pred: Callable[[object], bool], seen: list[object], timeout_s: float = 8.0
) -> object:
    """Collect items into `seen` until one satisfies `pred`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item = await asyncio.wait_for(rpc.recv(), 0.2)
        except TimeoutError:
            continue
        seen.append(item)
        if pred(item):
            return item
    raise AssertionError(f"condition not met; last items: {seen[-5:]}")


def _pool_with(data: bytes, marker: int) -> bytes:
    return data[:-1] + bytes([marker])


def _is_pool(marker: int) -> Callable[[object], bool]:
    return lambda i: isinstance(i, AccountUpdate) and i.pubkey == POOL and i.data[-1] == marker


async def test_bootstrap_reads_fixture_accounts_in_batches_of_100(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    keys = sorted(cluster.accounts) + [str(Pubkey.new_unique()) for _ in range(140)]
    try:
        got = await rpc.get_multiple_accounts(keys)
    finally:
        await rpc.close()
    n = len(cluster.accounts)
    assert [g.data if g else None for g in got[:n]] == [
        cluster.accounts[k][0] for k in sorted(cluster.accounts)
    ]
    assert got[n:] == [None] * 140
    assert cluster.nodes[0].http_requests.count("getMultipleAccounts") == 2


async def test_pool_mutation_arrives_as_account_notification(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate) and i.pubkey == POOL, seen)
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 1))
        upd = await _until(rpc, _is_pool(1), seen)
    finally:
        await rpc.close()
    assert isinstance(upd, AccountUpdate)
    assert (upd.via, upd.endpoint, upd.owner) == ("subscription", "primary0", ORCA)
    assert upd.slot == rpc.account_slots[POOL]


async def test_dropped_ws_reconnects_and_resubscribes_to_same_primary(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        cluster.nodes[0].drop_ws()
        ev = await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "resync", seen)
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 2))
        upd = await _until(rpc, _is_pool(2), seen)
    finally:
        await rpc.close()
    assert isinstance(ev, HealthEvent) and ev.source == "rpc:ws:primary0"
    assert isinstance(upd, AccountUpdate) and upd.endpoint == "primary0"
    assert cluster.nodes[0].subscription_count() == 0  # closed on rpc.close()


async def test_reconnect_resync_ends_with_up_once_resubscribed_and_re_read(
    cluster: Cluster,
) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        # a notification: start-up (connect, bootstrap and their events) is behind us
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 1))
        await _until(rpc, _is_pool(1), seen)
        n = len(seen)
        cluster.nodes[0].drop_ws()
        await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "up", seen)
    finally:
        await rpc.close()
    ws = [(i.source, i.status) for i in seen[n:] if isinstance(i, HealthEvent)
          and i.source.startswith("rpc:ws:")]
    assert ws == [
        ("rpc:ws:primary0", "down"),
        ("rpc:ws:primary0", "resync"),
        ("rpc:ws:primary0", "up"),
    ]
    up = seen[-1]
    assert isinstance(up, HealthEvent) and up.detail == "resubscribed, 1 accounts re-read"
    # the re-read account (the same node, so never older than held) came before the `up`
    assert [i.via for i in seen[n:] if isinstance(i, AccountUpdate)] == ["resync"]


async def test_primary_going_away_fails_over_and_resubscribes(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        await cluster.nodes[0].stop()
        ev = await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "switch", seen)
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 3), only=[1, 2])
        upd = await _until(rpc, _is_pool(3), seen)
    finally:
        await rpc.close()
    assert isinstance(ev, HealthEvent) and ev.detail.startswith("WS primary0 -> primary1")
    assert isinstance(upd, AccountUpdate) and upd.endpoint == "primary1"


async def test_lagging_primary_moves_ws_to_a_healthy_endpoint(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        cluster.nodes[0].set_lagging(True)
        lag = await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "lag", seen)
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 4))
        upd = await _until(rpc, _is_pool(4), seen)
    finally:
        await rpc.close()
    assert isinstance(lag, HealthEvent) and lag.source == "rpc:primary0" and lag.value > 5
    assert isinstance(upd, AccountUpdate) and upd.endpoint == "primary1"
    slots = [i.slot for i in seen if isinstance(i, AccountUpdate) and i.pubkey == POOL]
    assert slots == sorted(slots)


async def test_update_older_than_held_slot_is_dropped_after_failover(fixtures: Path) -> None:
    meta, data = load_account(fixtures / SET / f"whirlpool.{POOL}.json")
    ahead, behind = SolanaStandIn(start_slot=20_000), SolanaStandIn(start_slot=19_000)
    for node in (ahead, behind):
        node.set_account(POOL, data, ORCA, meta["lamports"])
        await node.start(auto_advance_s=0.05)
    settings = SimpleNamespace(
        http=[ahead.http_url, behind.http_url],
        ws=[ahead.ws_url, behind.ws_url],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=1000,
    )
    rpc = SolanaRpc(settings, **{**FAST, "max_slot_lag": 5000})
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        first = await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        await ahead.stop()
        await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "resync", seen)
        await asyncio.sleep(0.3)  # the resync fetch from the node 1000 slots behind lands here
        behind.advance_slot(2000)
        behind.set_account(POOL, _pool_with(data, 5), ORCA, meta["lamports"])
        late = await _until(rpc, _is_pool(5), seen)
    finally:
        await rpc.close()
        await behind.stop()
    assert isinstance(first, AccountUpdate) and isinstance(late, AccountUpdate)
    assert 20_000 < first.slot < 20_100 and late.slot > 21_000
    assert [i.slot for i in seen if isinstance(i, AccountUpdate)] == [first.slot, late.slot]
    assert rpc.stale_dropped == 1


async def test_5xx_on_primary_http_is_served_by_the_next_endpoint(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    cluster.nodes[0].fail_http(503, 2)
    try:
        slot = await rpc.get_slot()
    finally:
        await rpc.close()
    assert cluster.nodes[1].http_requests == ["getSlot"]
    assert abs(slot - cluster.nodes[1].slot) <= 1


async def test_429_retry_after_is_honoured_before_retrying_same_endpoint(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    settings = SimpleNamespace(
        http=[node.http_url],
        ws=[node.ws_url],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=1000,
    )
    rpc = SolanaRpc(settings, **FAST)
    node.fail_http(429, 1, retry_after_s=0.4)
    try:
        await rpc.get_slot()
    finally:
        await rpc.close()
    assert len(rpc.sleeps) == 1 and 0.39 < rpc.sleeps[0] <= 0.4
    assert node.http_requests == ["getSlot"]


async def test_exhausted_retries_raise_feed_error_naming_endpoint_and_method(
    cluster: Cluster,
) -> None:
    node = cluster.nodes[0]
    settings = SimpleNamespace(
        http=[node.http_url],
        ws=[node.ws_url],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=1000,
    )
    rpc = SolanaRpc(settings, **{**FAST, "max_attempts": 3})
    node.fail_http(500, 3)
    try:
        with pytest.raises(
            FeedError,
            match=r"getMultipleAccounts: gave up after 3 attempts; "
            r"last primary0 \(http://127\.0\.0\.1:\d+/\): HTTP 500",
        ):
            await rpc.get_multiple_accounts([POOL])
    finally:
        await rpc.close()


async def test_program_subscription_with_datasize_filter_streams_only_matching_accounts(
    cluster: Cluster,
) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    tick_array = next(k for k, (d, _) in cluster.accounts.items() if len(d) == 9988)
    try:
        await rpc.subscribe_program(ORCA, [{"dataSize": 653}])
        await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "up", seen)
        await asyncio.sleep(0.1)  # subscription acknowledged
        cluster.write(tick_array, _pool_with(cluster.accounts[tick_array][0], 6), only=[0])
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 6), only=[0])
        upd = await _until(rpc, _is_pool(6), seen)
    finally:
        await rpc.close()
    assert isinstance(upd, AccountUpdate) and upd.via == "subscription"
    assert [i.pubkey for i in seen if isinstance(i, AccountUpdate)] == [POOL]


async def test_silent_ws_is_treated_as_a_stall_and_failed_over(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **FAST)
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        cluster.nodes[0].mute_ws(True)
        down = await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "down", seen)
        await _until(rpc, lambda i: isinstance(i, HealthEvent) and i.status == "resync", seen)
        cluster.write(POOL, _pool_with(cluster.accounts[POOL][0], 7))
        upd = await _until(rpc, _is_pool(7), seen)
    finally:
        await rpc.close()
    assert isinstance(down, HealthEvent) and down.detail.endswith("no message for 0.6 s (stalled)")
    assert isinstance(upd, AccountUpdate) and upd.endpoint == "primary1"


async def test_stalled_http_primary_times_out_and_next_endpoint_answers(cluster: Cluster) -> None:
    settings = cluster.settings()
    settings.timeout_ms = 300
    rpc = SolanaRpc(settings, **FAST)
    cluster.nodes[0].stall_http(1.0)
    try:
        blockhash, height = await rpc.get_latest_blockhash()
    finally:
        await rpc.close()
        cluster.nodes[0].stall_http(0)
    assert blockhash == str(cluster.nodes[1].svm.latest_blockhash())
    assert cluster.nodes[1].http_requests == ["getLatestBlockhash"]
    assert height > 10_000


async def test_ws_returns_from_failover_to_a_primary_once_healthy(cluster: Cluster) -> None:
    rpc = SolanaRpc(cluster.settings(), **{**FAST, "failback_after_probes": 3})
    await rpc.start()
    seen: list[object] = []
    try:
        await rpc.subscribe_accounts([POOL])
        await _until(rpc, lambda i: isinstance(i, AccountUpdate), seen)
        await cluster.nodes[0].stop()
        cluster.nodes[1].set_lagging(True)
        await _until(
            rpc,
            lambda i: isinstance(i, HealthEvent) and "-> failover:" in i.detail,
            seen,
        )
        cluster.nodes[1].set_lagging(False, catch_up_to=cluster.nodes[2].slot + 1)
        back = await _until(
            rpc,
            lambda i: (
                isinstance(i, HealthEvent)
                and i.status == "switch"
                and i.detail.startswith("WS failover -> primary1")
            ),
            seen,
        )
    finally:
        await rpc.close()
    assert isinstance(back, HealthEvent) and "a primary is healthy again" in back.detail
