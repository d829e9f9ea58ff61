"""Binance spot order entry over the WebSocket API: one kept-open socket, no per-order HTTP.

Sends `order.place` (connectors/cex/orders/binance_ws.py: the same order as the REST codec's,
signed over the sorted params) and matches the answer by request id (the client order id, so
it is unique per order). The answer's `result` is the REST `FULL` shape and `error` the REST
error shape, so the REST codec reads both. A missing answer (timeout, socket lost) is resolved
exactly as over REST: the order is queried by client id before anything is re-sent
(`OrderTransport.resolve`); this client never re-sends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import msgspec

from connectors.cex.order_transport import OrderTransport
from connectors.cex.orders import binance_ws
from connectors.cex.orders.common import OrderResult, OrderSpec, SymbolFilters
from operators.errors import ExecutionError


class _Answer(msgspec.Struct, frozen=True):
    id: str | int | None = None
    status: int = 0
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: msgspec.Raw = msgspec.Raw(b"null")


class BinanceWsOrderEntry:
    """WS API order entry for one Binance spot account; `rest` resolves unknown outcomes."""

    def __init__(self, ws_url: str, session: aiohttp.ClientSession, rest: OrderTransport, *,
                 timeout_s: float | None = None) -> None:
        if rest.venue != "binance":
            raise ExecutionError("WS API order entry is built for Binance spot only",
                                 retryable=False, venue=rest.venue, code="config")
        self.ws_url = ws_url
        self.session = session
        self.rest = rest
        self.timeout_s = timeout_s if timeout_s is not None else rest.config.timeout_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[_Answer]] = {}

    async def connect(self) -> None:
        """Open the socket (once; `place` reconnects when it was lost)."""
        if self._ws is not None and not self._ws.closed:
            return
        self._ws = await self.session.ws_connect(self.ws_url, heartbeat=None)
        self._reader = asyncio.create_task(self._read(self._ws))

    async def close(self) -> None:
        """Close the socket; pending orders resolve by query in their own `place`."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                answer = msgspec.json.decode(msg.data, type=_Answer)
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue  # not an answer to a request of ours
            fut = self._pending.pop(str(answer.id), None)
            if fut is not None and not fut.done():
                fut.set_result(answer)

    async def place(self, filters: SymbolFilters, spec: OrderSpec) -> OrderResult:
        """Place one IOC/FOK order over the socket; its final state or the venue's error."""
        rest = self.rest
        await self.connect()
        assert self._ws is not None
        ts_ms = rest.now_ms()
        recv = rest.config.recv_window_ms
        frame = binance_ws.place_order(rest.creds, filters, spec, spec.client_order_id, ts_ms,
                                       recv)
        fut: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._pending[spec.client_order_id] = fut
        try:
            await self._ws.send_str(frame.decode())
            answer = await asyncio.wait_for(fut, self.timeout_s)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            self._pending.pop(spec.client_order_id, None)
            rest.stats.timeouts += 1
            found = await rest.resolve(filters, ts_ms + recv, spec.client_order_id)
            if found is None:
                raise ExecutionError(f"order {spec.client_order_id} never reached the venue",
                                     retryable=True, venue="binance", code="timeout") from None
            return found
        if bytes(answer.result) == b"null":
            err = rest.codec.error(answer.status or 400, bytes(answer.error))
            raise err or ExecutionError(f"unreadable WS API answer: {answer!r}"[:200],
                                        retryable=True, venue="binance", code="decode",
                                        action="query")
        return rest.codec.parse_order(bytes(answer.result), filters, spec.client_order_id)

