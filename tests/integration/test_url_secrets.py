"""An API key in an RPC URL never reaches the journal, an error text or the console.

A paper run on 127.0.0.1 whose first RPC endpoint is dead (so the feed reports it down and fails
over) and whose endpoints all carry `?api-key=SECRET123` and a `user:pass@` form, one of them
through a keychain reference. Afterwards every journal value, the console and the errors raised
are scanned for the secret in plain, base64 and hex form.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from bytewax.testing import run_main

from cli.main import report_error
from connectors.bounded import Bounds
from connectors.journal import TABLES, read_table
from connectors.solana.rpc import SolanaRpc
from flows import paper
from operators.errors import FeedError
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from tests.conftest import MemoryKeyring

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRETS = ("SECRET123", "hunter2pw")


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    ]


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        for form in _forms(secret):
            assert form not in text, f"{form!r} (from {secret!r}) found in {where}"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keyed(url: str) -> str:
    """`url` with the provider key in the query and credentials in the authority."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://user:hunter2pw@{rest}?api-key=SECRET123"


def test_keyed_rpc_urls_never_reach_the_journal_console_or_errors(
    loop: Loopback,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert loop.standin is not None
    dead = _dead_port()
    memory_keyring.set_password("solarb", "rpc_http", _keyed(loop.standin.http_url))
    env = {
        **loop.env(),
        "SOLARB__RPC__HTTP": json.dumps(
            [_keyed(f"http://127.0.0.1:{dead}/"), "keychain:solarb:rpc_http"]
        ),
        "SOLARB__RPC__WS": json.dumps(
            [_keyed(f"ws://127.0.0.1:{dead}/"), _keyed(loop.standin.ws_url)]
        ),
    }
    from config import load_settings

    settings = load_settings(None, SAMPLE_MARKETS, env=env)
    journal = tmp_path / "journal"
    lf = paper.build_flow(
        settings,
        journal,
        bounds=Bounds(seconds=4.0),
        rpc_kwargs={"backoff_base_s": 0.01, "backoff_max_s": 0.1, "health_interval_s": 0.2},
    )
    try:
        run_main(lf.flow)  # type: ignore[no-untyped-call]
    finally:
        lf.handles.close()

    health = read_table(journal, "health")
    assert health is not None
    rows = health.to_pylist()
    down = [h for h in rows if h["source"] == "rpc:ws:primary0" and h["status"] == "down"]
    assert down, "the dead endpoint was never reported down"
    assert down[0]["detail"].startswith(f"ws://***@127.0.0.1:{dead}/?api-key=***: ")
    assert any(h["status"] == "switch" for h in rows)  # it failed over to the stand-in
    counters = read_table(journal, "counters")
    assert counters is not None
    frames = {r["key"]: r["value"] for r in counters.to_pylist() if r["name"] == "frames"}
    assert frames[f"orca:{SAMPLE_POOL}"] >= 6  # the pool arrived through the keyed endpoint
    for name in set(TABLES.values()):
        table = read_table(journal, name)
        if table is not None:
            _assert_clean(json.dumps(table.to_pylist(), default=str), f"journal table {name}")
    for part in journal.rglob("*"):
        if part.is_file():
            _assert_clean(part.read_bytes().decode("latin-1"), str(part))
    out, err = capsys.readouterr()
    _assert_clean(out + err, "console")

    # every endpoint dead: the error a user sees names the endpoint, not its key
    gone = SimpleNamespace(
        http=[_keyed(f"http://127.0.0.1:{dead}/")],
        ws=[_keyed(f"ws://127.0.0.1:{dead}/")],
        failover_http=_keyed(f"http://127.0.0.1:{dead}/"),
        failover_ws="",
        commitment="confirmed",
        timeout_ms=500,
    )

    async def call() -> FeedError:
        rpc = SolanaRpc(gone, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02)
        try:
            await rpc.get_slot()
        except FeedError as exc:
            return exc
        finally:
            await rpc.close()
        pytest.fail("a call to dead endpoints succeeded")

    t0 = time.monotonic()
    exc = asyncio.run(call())
    assert time.monotonic() - t0 < 10
    text = str(exc)
    assert f"(http://***@127.0.0.1:{dead}/?api-key=***)" in text
    _assert_clean(text, "FeedError text")
    assert report_error(exc) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: solana: getSlot: gave up after 2 attempts")
    _assert_clean(out + err, "CLI error output")
