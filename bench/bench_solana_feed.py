"""Solana account feed: loopback notify->update latency, bootstrap round trip, pool-state apply.

What is measured (loopback only, the LiteSVM stand-in on 127.0.0.1):
- `solana_notify_to_update_us`: `SolanaStandIn.set_account` of the real 653-byte SOL/USDC
  Whirlpool until `SolanaRpc.recv()` returns its `AccountUpdate` (stand-in publish + WS frame +
  orjson parse + base64 decode + slot check), one event loop, p50 and p99.
- `solana_get_multiple_accounts_100_ms`: one getMultipleAccounts of 100 keys (the 8 real pool
  accounts + 92 absent) through `SolanaRpc.get_multiple_accounts`, p50.
- `clmm_pool_state_on_account_us`: `ClmmPoolState.on_account` of a decoded Whirlpool update
  (slot check, tick-array window, ClmmView build), p50.
Skipped (empty list) where ../shared/fixtures is absent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from solders.pubkey import Pubkey

from connectors.solana.orca import decode_tick_array, decode_whirlpool
from connectors.solana.rpc import AccountUpdate, SolanaRpc
from operators.events import PoolUpdate
from operators.pool_state import ClmmPoolState
from sim.standin import SolanaStandIn

SET = (
    Path(
        os.environ.get("SOLARB_FIXTURES")
        or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    )
    / "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
)
POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _accounts() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(SET.glob("*.*.json")):
        meta = json.loads(path.read_text())
        out[meta["pubkey"]] = meta
    return out


async def _transport(n: int) -> tuple[list[float], list[float]]:
    accounts = _accounts()
    node = SolanaStandIn(start_slot=1)
    for key, meta in accounts.items():
        node.set_account(key, base64.b64decode(meta["data_b64"]), meta["owner"], meta["lamports"])
    await node.start()
    settings = SimpleNamespace(http=[node.http_url], ws=[node.ws_url], failover_http="",
                               failover_ws="", commitment="confirmed", timeout_ms=5000)  # fmt: skip
    rpc = SolanaRpc(settings, heartbeat_timeout_s=30.0, health_interval_s=5.0)
    notify_us: list[float] = []
    gma_ms: list[float] = []
    try:
        await rpc.start()
        await rpc.subscribe_accounts([POOL])
        await asyncio.sleep(0.2)
        while rpc.recv_nowait() is not None:
            pass
        meta = accounts[POOL]
        data = bytearray(base64.b64decode(meta["data_b64"]))
        for i in range(n):
            data[-1] = i % 256
            t0 = time.perf_counter_ns()
            node.set_account(POOL, bytes(data), meta["owner"], meta["lamports"])
            while True:
                item = await rpc.recv()
                if isinstance(item, AccountUpdate) and item.pubkey == POOL:
                    break
            notify_us.append((time.perf_counter_ns() - t0) / 1e3)
        keys = list(accounts) + [str(Pubkey.new_unique()) for _ in range(100 - len(accounts))]
        for _ in range(max(5, n // 10)):
            t0 = time.perf_counter_ns()
            await rpc.get_multiple_accounts(keys)
            gma_ms.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        await rpc.close()
        await node.stop()
    return notify_us, gma_ms


def _pool_state(n: int) -> list[float]:
    accounts = _accounts()
    state = ClmmPoolState("orca", f"orca:{POOL}", "SOL/USDC", "USDC", True, stale_after_ns=10**9)
    for key, meta in accounts.items():
        if key.startswith(POOL) or meta["data_len"] != 9988:
            continue
        arr = decode_tick_array(base64.b64decode(meta["data_b64"]), key)
        state.on_account(PoolUpdate("orca", state.market_id, key, "tick_array", arr, 1, 0, 1))
    pool = decode_whirlpool(base64.b64decode(accounts[POOL]["data_b64"]), POOL)
    out = []
    for i in range(n):
        upd = PoolUpdate("orca", state.market_id, POOL, "pool", pool, 2 + i, 0, 2 + i)
        t0 = time.perf_counter_ns()
        state.on_account(upd)
        out.append((time.perf_counter_ns() - t0) / 1e3)
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Loopback feed latency and pool-state apply cost; [] without the fixtures."""
    if not SET.is_dir():
        return []
    notify_us, gma_ms = asyncio.run(_transport(50 if quick else 500))
    apply_us = _pool_state(500 if quick else 20_000)
    note = "loopback LiteSVM stand-in, one process, real SOL/USDC Whirlpool bytes"
    return [
        {"name": "solana_notify_to_update_us_p50", "value": _pct(notify_us, 0.5), "unit": "us",
         "target": "<= 1000 us p50", "better": "lower", "note": note},
        {"name": "solana_notify_to_update_us_p99", "value": _pct(notify_us, 0.99), "unit": "us",
         "target": "<= 5000 us p99", "better": "lower", "note": note},
        {"name": "solana_get_multiple_accounts_100_ms_p50", "value": _pct(gma_ms, 0.5),
         "unit": "ms", "target": "<= 20 ms p50", "better": "lower",
         "note": "100 keys (8 real, 92 absent), one batch, " + note},
        {"name": "clmm_pool_state_on_account_us_p50", "value": _pct(apply_us, 0.5), "unit": "us",
         "target": "<= 50 us p50", "better": "lower",
         "note": "decoded Whirlpool update with 7 tick arrays held; includes ClmmView build"},
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
