"""WebSocket order entry: one kept-open, logged-in socket per account, no per-order HTTP.

Where a venue's WS order entry exists and is faster than REST (Binance spot WS API
`order.place`, Binance USD-M futures WS API `order.place`, OKX private socket `op: "order"`,
Bybit v5 `/v5/trade` `order.create`), its
order codec exposes a sans-I/O `WsOrderCodec` (`codec.ws_orders`): the login steps, the signed
placement frame and how to read an answer into the REST codec's terms. This module only moves
frames. Everything else is the REST transport's, so idempotency and error mapping are the same:

- the request id is the client order id, so answers match orders without extra state;
- a missing answer (timeout, socket lost) is resolved as over REST: the order is queried by
  client id before anything is sent again (`OrderTransport.resolve`); this client never
  re-sends on its own;
- the answer's error goes through the REST codec's `error` (same codes, same
  `retryable`/`action`; `query` resolves by query), a rate-limit status or usage header holds
  the REST transport back too (one budget per account);
- an ack that is not final (OKX, Bybit) is settled by REST queries, as a REST ack would be;
- every order sent leaves an `OrderRecord` in the REST transport's records (journal `orders`),
  its path `ws:<socket path>` and its parameters those of the same order over REST (no key,
  no signature).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from connectors.cex.order_transport import OrderTransport
from connectors.cex.orders.codec import WsAnswer, WsOrderCodec, cancel_request_id
from connectors.cex.orders.common import OrderResult, OrderSpec, SymbolFilters
from operators.errors import ExecutionError


class WsOrderEntry:
    """WS order entry for one venue account; `rest` resolves unknown outcomes and settles."""

    def __init__(self, ws_url: str, session: aiohttp.ClientSession, rest: OrderTransport, *,
                 timeout_s: float | None = None) -> None:
        ws_codec = rest.codec.ws_orders
        if ws_codec is None:
            raise ExecutionError("this venue has no WS order entry", retryable=False,
                                 venue=rest.venue, code="config")
        self.codec: WsOrderCodec = ws_codec
        self.ws_url = ws_url
        self.session = session
        self.rest = rest
        self.timeout_s = timeout_s if timeout_s is not None else rest.config.timeout_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[WsAnswer]] = {}
        self.logins = 0

    async def connect(self) -> None:
        """Open the socket and log in (once; `place` reconnects when it was lost)."""
        if self._ws is not None and not self._ws.closed:
            return
        ws = await self.session.ws_connect(self.ws_url, heartbeat=None)
        try:
            for step in self.codec.steps(self.rest.creds, self.rest.now_ms()):
                await ws.send_str(step.decode())
                async with asyncio.timeout(self.timeout_s):
                    while True:
                        msg = await ws.receive()
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            raise ConnectionError(f"socket {msg.type.name} during login")
                        reply = self.codec.step_reply(msg.data.encode())
                        if reply is not None:
                            break
                if not reply:
                    raise ExecutionError("WS order entry login refused", retryable=False,
                                         venue=self.rest.venue, code="auth")
        except BaseException:
            await ws.close()
            raise
        self.logins += 1
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws))

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
            answer = self.codec.answer(msg.data.encode())
            if answer is None:
                continue  # pushes, pongs: not an answer to a request of ours
            fut = self._pending.pop(answer.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(answer)

    async def place(self, filters: SymbolFilters, spec: OrderSpec, *,
                    ts_intent_ns: int = 0) -> OrderResult:
        """Place one IOC/FOK order over the socket; its final state or the venue's error."""
        rest = self.rest
        await self.connect()
        assert self._ws is not None
        ts_ms = rest.now_ms()
        recv = rest.config.recv_window_ms
        frame = self.codec.place(rest.creds, filters, spec, ts_ms, recv)
        fut: asyncio.Future[WsAnswer] = asyncio.get_running_loop().create_future()
        self._pending[spec.client_order_id] = fut
        sent_ns = rest.clock_ns()
        try:
            try:
                await self._ws.send_str(frame.decode())
                answer = await asyncio.wait_for(fut, self.timeout_s)
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                self._pending.pop(spec.client_order_id, None)
                result = await self._resolve(filters, spec, ts_ms + recv)  # never re-sent
            else:
                result = await self._answered(filters, spec, answer, ts_ms + recv)
        except ExecutionError as exc:
            self._journal(filters, spec, ts_ms, ts_intent_ns, sent_ns, error=exc)
            raise
        self._journal(filters, spec, ts_ms, ts_intent_ns, sent_ns, result=result)
        return result

    async def _answered(self, filters: SymbolFilters, spec: OrderSpec, answer: WsAnswer,
                        expires_ms: int) -> OrderResult:
        rest = self.rest
        rest.note_answer(answer.status, dict(answer.headers))
        err = rest.codec.error(answer.status, answer.body)
        if err is not None:
            if err.action == "query":
                return await self._resolve(filters, spec, expires_ms)
            raise err
        result = rest.codec.parse_order(answer.body, filters, spec.client_order_id)
        return await rest.settle(filters, result)

    def _journal(self, filters: SymbolFilters, spec: OrderSpec, ts_ms: int, ts_intent_ns: int,
                 sent_ns: int, *, result: OrderResult | None = None,
                 error: ExecutionError | None = None) -> None:
        """The `orders` row: the same order's REST parameters (built off the hot path)."""
        rest = self.rest
        req = rest.codec.place(rest.creds, filters, spec, ts_ms, rest.config.recv_window_ms)
        req = replace(req, path=f"ws:{urlsplit(self.ws_url).path}")
        rest.record(req, filters, spec, ts_intent_ns, sent_ns, result=result, error=error)

    async def cancel(self, filters: SymbolFilters, client_order_id: str) -> OrderResult | None:
        """Cancel by client id over the socket; the order's state after it (REST query), None
        if the venue has no such order. A retryable refusal (rate limit) is raised."""
        rest = self.rest
        await self.connect()
        assert self._ws is not None
        req_id = cancel_request_id(client_order_id)
        frame = self.codec.cancel(rest.creds, filters, client_order_id, rest.now_ms(),
                                  rest.config.recv_window_ms)
        fut: asyncio.Future[WsAnswer] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await self._ws.send_str(frame.decode())
            answer = await asyncio.wait_for(fut, self.timeout_s)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            self._pending.pop(req_id, None)
        else:
            rest.note_answer(answer.status, dict(answer.headers))
            err = rest.codec.error(answer.status, answer.body)
            if err is not None and err.retryable and err.action != "query":
                raise err
        # Whatever the answer (cancelled, "already final", unknown), the venue's state is what
        # counts: an IOC/FOK order is final already, so this is the order's end.
        return await rest.query(filters, client_order_id)

    async def _resolve(self, filters: SymbolFilters, spec: OrderSpec,
                       expires_ms: int) -> OrderResult:
        self.rest.stats.timeouts += 1
        found = await self.rest.resolve(filters, expires_ms, spec.client_order_id)
        if found is None:
            raise ExecutionError(f"order {spec.client_order_id} never reached the venue",
                                 retryable=True, venue=self.rest.venue, code="timeout")
        return found
