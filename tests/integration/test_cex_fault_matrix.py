"""Issue 11's done-when, as one matrix: every venue and market type, every injected fault.

For each of Binance spot, Binance USD-M, OKX spot/swap and Bybit spot/linear over REST, Binance
USD-M over its futures WS API too, and each fault (reject, timeout after accepting, delayed
ack, partial fill, user stream lost mid-order), the order ends in a known state (a final venue
status, or a typed error saying what happened), the venue holds it at most once (never a
duplicate), the private stream reports what the venue did (live, or reconciled by query after
the gap), and no API key, secret, passphrase or signature appears in logs, the orders journal,
records or exceptions.

WS order entry never re-sends: a request delayed past its recvWindow is refused by the venue at
matching (-1021), so the order ends as "never reached the venue" (a retryable `timeout` error,
nothing placed) where REST, whose transport may re-send once the window has closed, fills it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
import pytest

from connectors.cex.order_transport import OrderTransportConfig
from connectors.cex.orders.codec import WsOrderCodec
from connectors.cex.orders.common import OrderResult
from connectors.cex.orders.updates import OrderUpdate
from connectors.cex.user_stream import TrackedOrders, UserStreamConfig
from connectors.cex.ws_orders import WsOrderEntry
from connectors.journal import JournalSink, read_table
from operators.errors import ExecutionError
from tests.integration.test_cex_orders_loopback import (
    CASES,
    KEY,
    PASSPHRASE,
    SECRET,
    _best_asks,
    _buy,
)
from tests.integration.test_cex_user_stream_loopback import (  # noqa: F401 - fixtures
    QUICK,
    _setup,
    session,
    sim,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAULTS = ["reject", "timeout_after_accept", "delay_ack", "partial", "stream_disconnect"]
CONFIG = OrderTransportConfig(timeout_s=0.2, recv_window_ms=250, settle_interval_s=0.005)
SLOW_RECONNECT = UserStreamConfig(step_timeout_s=2.0, backoff_initial_s=0.4, backoff_max_s=0.4)
FINAL_KINDS = {"fill", "cancel", "expire", "reject"}
ENTRIES = [(c, "rest") for c in CASES] + [(c, "ws") for c in CASES if c.venue == "binance-usdm"]
ENTRY_IDS = [f"{c.id}-{e}" for c, e in ENTRIES]


@dataclass
class _Frames:
    """A WS order codec that keeps the frames it rendered (to look for their signatures)."""

    codec: WsOrderCodec
    frames: list[bytes] = field(default_factory=list)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.codec, name)

    def place(self, *args, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
        frame = self.codec.place(*args, **kwargs)
        self.frames.append(frame)
        return frame


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("case", "entry"), ENTRIES, ids=ENTRY_IDS)
async def test_every_fault_ends_known_once_reported_and_without_secrets(
        sim, session, case, entry, fault, caplog, tmp_path):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    tracked = TrackedOrders()
    t, f, run = await _setup(sim, session, case, tracked=tracked,
                             config=SLOW_RECONNECT if fault == "stream_disconnect" else QUICK)
    t.config = CONFIG
    await run.wait_for(run.stream.up.is_set)
    desk = sim.desk(case.venue)
    (px, qty), *_ = _best_asks(sim, case)
    spec = _buy(case, px, qty + 3 if fault == "partial" else qty)
    tracked.track(f, spec.client_order_id, "buy")
    if fault == "stream_disconnect":
        await sim.sims[case.venue].private.disconnect()
        await run.wait_for(lambda: not run.stream.up.is_set())
    elif fault != "partial":
        desk.inject(fault, seconds=0.6 if fault == "delay_ack" else 0.5)

    ws = None
    if entry == "ws":
        ws = WsOrderEntry(sim.trade_url(case.venue), session, t)
        ws.codec = frames = _Frames(ws.codec)  # type: ignore[assignment]
    outcome: OrderResult | ExecutionError
    try:
        outcome = await (ws.place(f, spec) if ws is not None else t.place(f, spec))
    except ExecutionError as exc:
        outcome = exc
    await asyncio.sleep(0.7 if fault == "delay_ack" else 0.0)  # let a delayed request land

    # A known state, and never a duplicate.
    placed = desk.placements_of(spec.client_order_id)
    assert placed <= 1
    if fault == "reject":
        assert isinstance(outcome, ExecutionError) and not outcome.retryable and placed == 0
    elif fault == "delay_ack" and ws is not None:  # never re-sent: it never reached matching
        assert isinstance(outcome, ExecutionError) and placed == 0
        assert (outcome.code, outcome.retryable, desk.stats.refusals[-1]) == (
            "timeout", True, "-1021")
    else:
        assert isinstance(outcome, OrderResult) and outcome.final and placed == 1
        filled = desk.orders[spec.client_order_id].filled_units
        assert outcome.filled_qty_units == filled == qty
        expected = "filled" if fault != "partial" else ("expired" if "binance" in case.venue
                                                        else "cancelled")
        assert outcome.status == expected

    # The private stream reports what the venue did (live, or reconciled after the gap).
    if placed:
        def final() -> list[OrderUpdate]:
            return [u for u in run.updates(spec.client_order_id) if u.kind in FINAL_KINDS]
        await run.wait_for(lambda: bool(final()))
        last = final()[-1]
        assert last.cum_qty is None or last.cum_qty == Decimal(qty).scaleb(-f.qty_decimals)
        if fault == "stream_disconnect":
            assert [u.reason for u in run.updates(spec.client_order_id)] == ["reconciled"]
    await run.stop()
    if ws is not None:
        await ws.close()
        assert [orjson.loads(x)["id"] for x in frames.frames] == [spec.client_order_id]

    # No secret anywhere: logs, the orders journal, records, requests, the error.
    sink = JournalSink(tmp_path).build("journal", 0, 1)
    sink.write_batch(t.take_records())
    sink.close()
    table = read_table(tmp_path, "orders")
    assert table is not None and len(table) >= 1
    texts = [caplog.text, json.dumps(table.to_pylist()), repr(outcome), str(outcome),
             *(repr(r) for r in t.stats.sent), *(repr(u) for u in run.items)]
    signatures = [v for r in t.stats.sent for k, v in r.headers if "SIGN" in k.upper()]
    signatures += [r.query.rpartition("signature=")[2] for r in t.stats.sent
                   if "signature=" in r.query]
    if ws is not None:
        signatures += [orjson.loads(x)["params"]["signature"] for x in frames.frames]
    for text in texts:
        for form in (KEY, SECRET, SECRET.encode().hex(), PASSPHRASE, *signatures):
            assert form not in text
