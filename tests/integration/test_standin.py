"""The LiteSVM-backed RPC stand-in speaks the real agave wire shapes (checked with solders)."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import orjson
import pytest
import websockets
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    AccountNotification,
    GetMultipleAccountsResp,
    ProgramNotification,
    SlotNotification,
    SubscriptionResult,
    parse_websocket_message,
)
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from connectors.solana.orca import WHIRLPOOL_PROGRAM_ID
from connectors.solana.rpc import SolanaRpc
from operators.errors import ExecutionError
from sim.standin import SolanaStandIn
from tests.conftest import load_account

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

SET = "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
ORCA = WHIRLPOOL_PROGRAM_ID


@pytest.fixture
async def node() -> AsyncIterator[SolanaStandIn]:
    standin = SolanaStandIn(start_slot=5000)
    await standin.start()
    yield standin
    await standin.stop()


def _load_set(node: SolanaStandIn, fixtures: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted((fixtures / SET).glob("*.*.json")):
        meta, data = load_account(path)
        node.set_account(meta["pubkey"], data, meta["owner"], meta["lamports"])
        out[meta["pubkey"]] = data
    return out


def _settings(node: SolanaStandIn) -> SimpleNamespace:
    return SimpleNamespace(
        http=[node.http_url],
        ws=[node.ws_url],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=2000,
    )


async def _post(node: SolanaStandIn, method: str, params: list[object]) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with (
        aiohttp.ClientSession() as session,
        session.post(node.http_url, data=orjson.dumps(body)) as resp,
    ):
        return await resp.text()


async def test_get_multiple_accounts_returns_fixture_bytes_with_context_slot(
    node: SolanaStandIn, fixtures: Path
) -> None:
    accounts = _load_set(node, fixtures)
    keys = [POOL, "11111111111111111111111111111112"]
    raw = await _post(node, "getMultipleAccounts", [keys, {"encoding": "base64"}])
    resp = GetMultipleAccountsResp.from_json(raw)
    assert resp.context.slot == 5000 + len(accounts)
    pool = resp.value[0]
    assert pool is not None and bytes(pool.data) == accounts[POOL]
    assert (str(pool.owner), pool.lamports, resp.value[1]) == (ORCA, 5435760, None)


async def test_account_and_program_notifications_parse_as_real_agave_messages(
    node: SolanaStandIn, fixtures: Path
) -> None:
    accounts = _load_set(node, fixtures)
    disc = base64.b64encode(accounts[POOL][:8]).decode()
    async with websockets.connect(node.ws_url) as ws:
        reqs = [
            ("accountSubscribe", [POOL, {"encoding": "base64"}]),
            (
                "programSubscribe",
                [
                    ORCA,
                    {
                        "encoding": "base64",
                        "filters": [
                            {"dataSize": 653},
                            {"memcmp": {"offset": 0, "bytes": disc, "encoding": "base64"}},
                        ],
                    },
                ],
            ),
            ("programSubscribe", [ORCA, {"encoding": "base64", "filters": [{"dataSize": 9988}]}]),
        ]
        for i, (method, params) in enumerate(reqs, 1):
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
            )
        acks = [parse_websocket_message(await ws.recv())[0] for _ in reqs]
        assert [type(a) for a in acks] == [SubscriptionResult] * 3
        changed = bytes([accounts[POOL][0] ^ 0]) + accounts[POOL][1:-1] + b"\x07"
        slot = node.set_account(POOL, changed, ORCA, 5435760)
        notes = [parse_websocket_message(await ws.recv())[0] for _ in range(2)]
    account_note, program_note = notes
    assert isinstance(account_note, AccountNotification)
    assert isinstance(program_note, ProgramNotification)
    assert (account_note.result.context.slot, bytes(account_note.result.value.data)) == (
        slot,
        changed,
    )
    assert account_note.subscription == acks[0].result
    assert (program_note.subscription, str(program_note.result.value.pubkey)) == (
        acks[1].result,
        POOL,
    )


async def test_slot_subscribe_notifies_each_advanced_slot(node: SolanaStandIn) -> None:
    async with websockets.connect(node.ws_url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "slotSubscribe"}))
        await ws.recv()
        node.advance_slot(3)
        notes = [parse_websocket_message(await ws.recv())[0] for _ in range(3)]
    assert all(isinstance(n, SlotNotification) for n in notes)
    assert [(n.result.slot, n.result.parent) for n in notes] == [
        (5001, 5000),
        (5002, 5001),
        (5003, 5002),
    ]


def _transfer(node: SolanaStandIn, payer: Keypair, to: Pubkey, lamports: int) -> bytes:
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    tx = Transaction([payer], Message([ix], payer.pubkey()), node.svm.latest_blockhash())
    return bytes(tx)


async def test_transfer_simulate_send_and_signature_notification_round_trip(
    node: SolanaStandIn,
) -> None:
    payer, to = Keypair(), Keypair().pubkey()
    node.svm.airdrop(payer.pubkey(), 2_000_000_000)
    rpc = SolanaRpc(_settings(node), heartbeat_timeout_s=5.0)
    await rpc.start()
    try:
        tx = _transfer(node, payer, to, 10_000_000)
        sim = await rpc.simulate_transaction(tx)
        assert (sim["err"], sim["unitsConsumed"]) == (None, 150)
        sig = str(Transaction.from_bytes(tx).signatures[0])
        waiter = asyncio.create_task(rpc.confirm_signature(sig, timeout_s=5.0))
        await asyncio.sleep(0.05)  # let signatureSubscribe reach the node before the send
        assert await rpc.send_transaction(tx) == sig
        done = await waiter
        assert (done.signature, done.err, done.slot) == (sig, None, 5000)
        statuses = await rpc.get_signature_statuses([sig])
        assert statuses[0] is not None and statuses[0]["slot"] == 5000
        got = await rpc.get_multiple_accounts([str(to)])
        assert got[0] is not None and got[0].lamports == 10_000_000
    finally:
        await rpc.close()


async def test_send_of_unfunded_transfer_is_a_non_retryable_execution_error(
    node: SolanaStandIn,
) -> None:
    payer = Keypair()
    node.svm.airdrop(payer.pubkey(), 1_000_000_000)
    rpc = SolanaRpc(_settings(node))
    try:
        with pytest.raises(
            ExecutionError, match=r"sendTransaction: .*Transaction simulation failed"
        ) as e:
            await rpc.send_transaction(_transfer(node, payer, Keypair().pubkey(), 5_000_000_000))
        assert e.value.retryable is False
    finally:
        await rpc.close()


def test_standin_started_in_thread_serves_http_and_stops() -> None:
    standin = SolanaStandIn(start_slot=42)
    standin.start_in_thread()
    try:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": "getSlot"})
        req = urllib.request.Request(
            standin.http_url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read()) == {"jsonrpc": "2.0", "result": 42, "id": 7}
        assert standin.advance_slot(2) == 44
    finally:
        standin.stop_thread()
