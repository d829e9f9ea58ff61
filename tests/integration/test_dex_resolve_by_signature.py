"""A DEX leg of a killed process is resolved by its signature, never sent again.

The gateway writes each signed leg to the run's signature ledger before its first broadcast
(`connectors/solana/sig_ledger.py`). Here one gateway sends a swap and dies with the report
unread (as a SIGKILL loses it); a fresh gateway on the same ledger gets the legs' `query`
and asks the stand-ins (`getSignatureStatuses`, `getTransaction`): landed with the realised
amounts, or expired once the blockhash is past; not one more `sendTransaction`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from connectors.execution import DEX_LEDGER, ExecOrder, ExecutionGateway
from connectors.solana.tx_outcome import TxRecord
from operators.events import ExecutionReport, OrderIntent
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL
from tests.integration.loop_support import gateway_values

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PAIR = "SOL/USDC"
DEX = f"orca:{SAMPLE_POOL}"
SOL = 10**9


def _gateway(loop: Loopback, ledger: Path, keys: Any) -> ExecutionGateway:
    gw = ExecutionGateway(loop.settings(None, SAMPLE_MARKETS), credentials=keys.credentials,
                          signer=keys.signer)  # fmt: skip
    gw.use_ledger(ledger)
    return gw.start()


def _sends(loop: Loopback) -> list[int]:
    return [len(node.sends) for node in loop.standins]


def test_a_landed_leg_of_a_killed_gateway_is_reported_by_signature_without_a_resend(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "run" / DEX_LEDGER
    loop = Loopback([SAMPLE_POOL], rpcs=2).start()
    try:
        keys = loop.trading(loop.settings(None, SAMPLE_MARKETS))
        intent = OrderIntent("o1/buy", "o1", DEX, DEX, "buy", SOL, 200_000_000, 1, 1, 1, PAIR)
        first = _gateway(loop, ledger, keys)
        try:
            first.submit(ExecOrder("send", intent, "buy", 0, 5_000))
            lost = gateway_values(first, 1)  # the process dies before the step reads this
        finally:
            first.close()
        (original,) = [x for x in lost if isinstance(x, ExecutionReport)]
        assert original.status == "filled"
        sends = _sends(loop)
        again = _gateway(loop, ledger, keys)
        try:
            again.submit(ExecOrder("send", intent, "buy", 0, 5_000))  # a replayed command
            again.submit(ExecOrder("query", intent, "buy", 0, 5_000))
            out = gateway_values(again, 1)
            again.submit(ExecOrder("query", intent, "buy", 0, 5_000))  # answered once only
            time.sleep(0.5)
            assert again.take() == []
        finally:
            again.close()
        assert _sends(loop) == sends  # not one byte sent again
    finally:
        loop.stop()
    (report,) = [x for x in out if isinstance(x, ExecutionReport)]
    (row,) = [x for x in out if isinstance(x, TxRecord)]
    assert (report.status, report.filled_base, report.quote_amount) == (
        "filled", original.filled_base, original.quote_amount,
    )  # fmt: skip
    assert report.reason == "landed by signature"
    assert (row.signature, row.status) == (original.extra["signature"], "landed")


def test_an_unlanded_leg_of_a_killed_gateway_is_expired_once_its_blockhash_is_past(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "run" / DEX_LEDGER
    loop = Loopback([SAMPLE_POOL], rpcs=2, slot_interval_s=0.02).start()  # 150 slots ~ 3 s
    try:
        keys = loop.trading(loop.settings(None, SAMPLE_MARKETS))
        for node in loop.standins:
            node.drop_sends(10_000)  # every broadcast lost: the leg hangs until it dies
        intent = OrderIntent("o2/buy", "o2", DEX, DEX, "buy", SOL, 200_000_000, 1, 1, 1, PAIR)
        first = _gateway(loop, ledger, keys)
        try:
            first.submit(ExecOrder("send", intent, "buy", 0, 5_000))
            deadline = time.monotonic() + 10
            while ledger.stat().st_size == 0 if ledger.exists() else time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
        finally:
            first.close()  # killed mid-leg: the sender dies with it, no report
        again = _gateway(loop, ledger, keys)
        try:
            again.submit(ExecOrder("query", intent, "buy", 0, 5_000))
            time.sleep(0.5)
            early = [x for _, x in again.take() if isinstance(x, ExecutionReport)]
            assert early == []  # still within its blockhash's validity: no verdict yet
            time.sleep(4.0)
            again.submit(ExecOrder("query", intent, "buy", 0, 5_000))
            out = gateway_values(again, 1)
        finally:
            again.close()
    finally:
        loop.stop()
    (report,) = [x for x in out if isinstance(x, ExecutionReport)]
    assert (report.status, report.filled_base, report.extra["outcome"]) == (
        "rejected", 0, "expired",
    )  # fmt: skip


def test_a_query_for_a_leg_never_in_the_ledger_reports_it_never_broadcast(
    tmp_path: Path,
) -> None:
    loop = Loopback([SAMPLE_POOL], rpcs=1).start()
    try:
        keys = loop.trading(loop.settings(None, SAMPLE_MARKETS))
        gw = _gateway(loop, tmp_path / DEX_LEDGER, keys)
        try:
            intent = OrderIntent("o3/buy", "o3", DEX, DEX, "buy", SOL, 200_000_000, 1, 1, 1,
                                 PAIR)  # fmt: skip
            gw.submit(ExecOrder("query", intent, "buy", 0, 5_000))
            (report,) = [x for x in gateway_values(gw, 1) if isinstance(x, ExecutionReport)]
        finally:
            gw.close()
        assert _sends(loop) == [0]
    finally:
        loop.stop()
    assert (report.status, report.filled_base) == ("rejected", 0)
    assert "never broadcast (no signature in the ledger)" in report.reason
