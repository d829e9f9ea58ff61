"""Solana RPC transport: HTTP JSON-RPC with failover, one pubsub WS with automatic re-subscribe.

Endpoints come in (http, ws) pairs from `config.RpcSettings`: two primaries then one failover.
HTTP calls pick the best endpoint per call (not cooling down after a 429/5xx/timeout, not
lagging in slot; primaries before the failover), retry with exponential backoff and jitter,
and honour Retry-After. The WS is sticky: it stays on its endpoint until that endpoint drops
repeatedly, stalls (no message for `heartbeat_timeout_s`, slotSubscribe is the heartbeat) or
lags in slot; then it moves to the next healthy endpoint, re-sends every subscription and
re-fetches every watched account (getMultipleAccounts) so nothing missed in the gap is lost.
An update whose slot is older than the one already delivered for that account is dropped.

We use aiohttp and websockets directly rather than `solana.rpc.async_api.AsyncClient` /
`solana.rpc.websocket_api.connect`: AsyncClient hides status codes and Retry-After inside
httpx exceptions and binds one URL per client, and the websocket helper parses into typed
objects without the subscription-id -> request bookkeeping we need to re-subscribe; both also
cost a decode per frame that we would undo to hand raw bytes to the capture.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from connectors.redact import redact_text, redact_url
from connectors.solana.rpc_types import (
    AccountUpdate,
    Endpoint,
    RpcItem,
    RpcSettingsLike,
    SignatureUpdate,
    SlotUpdate,
    account_from_json,
)
from operators.errors import ExecutionError, FeedError
from operators.events import HealthEvent

__all__ = [
    "MAX_MULTIPLE_ACCOUNTS",
    "AccountUpdate",
    "Endpoint",
    "RpcItem",
    "RpcRefused",
    "RpcSettingsLike",
    "SignatureUpdate",
    "SlotUpdate",
    "SolanaRpc",
    "account_from_json",
]

_RETRYABLE_RPC_CODES = {-32004, -32005, -32007, -32014, -32016}
"""Block not available, node unhealthy/behind, slot skipped, status unavailable, min slot."""
_PREFLIGHT_FAILURE = -32002
MAX_MULTIPLE_ACCOUNTS = 100

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sub:
    method: str
    params: list[Any]
    sub_id: int | None = None
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class SolanaRpc:
    """HTTP + WS Solana RPC client with failover; items arrive on `recv()` in arrival order."""

    def __init__(
        self,
        settings: RpcSettingsLike,
        *,
        max_slot_lag: int = 20,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 2.0,
        max_attempts: int = 6,
        heartbeat_timeout_s: float = 2.0,
        health_interval_s: float = 0.5,
        ws_failures_before_failover: int = 2,
        failback_after_probes: int = 10,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        pairs = list(zip(settings.http, settings.ws))
        if len(settings.http) != len(settings.ws):
            raise FeedError(
                "rpc.http and rpc.ws must list the same number of endpoints", venue="solana"
            )
        self.endpoints = [
            Endpoint(f"primary{i}", h, w, is_failover=False) for i, (h, w) in enumerate(pairs)
        ]
        if settings.failover_http:
            self.endpoints.append(
                Endpoint("failover", settings.failover_http, settings.failover_ws, is_failover=True)
            )
        self.commitment = settings.commitment
        self.timeout_s = settings.timeout_ms / 1000.0
        self.max_slot_lag = max_slot_lag
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_attempts = max_attempts
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.health_interval_s = health_interval_s
        self.ws_failures_before_failover = ws_failures_before_failover
        self.failback_after_probes = failback_after_probes
        self._sleep = sleep
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        self._out: asyncio.Queue[RpcItem] = asyncio.Queue()
        self._subs: dict[str, _Sub] = {}
        self._by_sub_id: dict[int, str] = {}
        self._pending_req: dict[int, str] = {}
        self._sig_waiters: dict[str, asyncio.Future[SignatureUpdate]] = {}
        self.account_slots: dict[str, int] = {}
        """Latest slot delivered per account pubkey (never goes back)."""
        self.stale_dropped = 0
        self.ws_endpoint: Endpoint | None = None
        self._ws: ClientConnection | None = None
        self._switch_reason = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.sleeps: list[float] = []
        """Every backoff / Retry-After wait taken, seconds (observability and tests)."""

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the WS manager and the endpoint health loop in the running loop."""
        self._ensure_session()
        self._subs.setdefault("slot", _Sub("slotSubscribe", []))
        self._tasks = [
            asyncio.create_task(self._ws_main(), name="solana-ws"),
            asyncio.create_task(self._health_main(), name="solana-health"),
        ]

    async def close(self) -> None:
        """Cancel background tasks and close sockets."""
        tasks = [*self._tasks, *self._side_tasks]
        for t in tasks:
            t.cancel()
        if tasks:
            # bounded: a peer that never answers the close handshake must not hang shutdown
            await asyncio.wait(tasks, timeout=self.timeout_s)
        self._tasks = []
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def recv(self) -> RpcItem:
        """The next account update, slot update or health event."""
        return await self._out.get()

    def recv_nowait(self) -> RpcItem | None:
        """The next item if one is queued, else None."""
        try:
            return self._out.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    def _emit(self, item: RpcItem) -> None:
        self._out.put_nowait(item)

    def _health(self, source: str, status: str, detail: str, value: float = 0.0) -> None:
        now = time.time_ns()
        # details quote endpoint URLs and transport errors, which carry the provider's key
        clean = redact_text(detail)
        # INFO, not WARNING: a retried or failed-over endpoint is routine and journaled as
        # health; the default (WARNING) stderr stays one `error:` line on failure
        log.info(
            "rpc:%s %s: %s",
            source,
            status,
            clean,
            extra={"source": f"rpc:{source}", "status": status, "value": value},
        )
        self._emit(HealthEvent(f"rpc:{source}", status, clean, now, now, value))

    # ------------------------------------------------------------------ HTTP
    def _backoff_s(self, attempt: int) -> float:
        raw = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return raw * (0.5 + 0.5 * self._rng())  # jitter so clients do not retry in lockstep

    def _pick_http(self, exclude: Endpoint | None = None) -> Endpoint:
        now = time.monotonic_ns()

        def rank(e: Endpoint) -> tuple[int, int, int, int, int]:
            cooling = e.cooldown_until_ns > now
            # latency only separates endpoints ~100 ms apart, so jitter does not flip choices
            bucket = e.latency_ns // 100_000_000
            return (int(cooling), int(e.lagging), int(e.is_failover), bucket, int(e is exclude))

        return min(self.endpoints, key=rank)

    async def _post_once(self, ep: Endpoint, method: str, params: list[Any]) -> Any:
        session = self._ensure_session()
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        t0 = time.monotonic_ns()
        try:
            async with session.post(
                ep.http_url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                raw = await resp.read()
                if resp.status == 429:
                    ra = _retry_after_s(resp.headers.get("Retry-After"))
                    raise _Retry("HTTP 429 Too Many Requests", ra)
                if resp.status >= 500:
                    raise _Retry(f"HTTP {resp.status}")
                if resp.status != 200:
                    raise FeedError(
                        f"{method} on {ep.name} ({redact_url(ep.http_url)}): HTTP {resp.status}",
                        venue="solana",
                    )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _Retry(f"transport: {type(exc).__name__} {exc}") from exc
        latency = time.monotonic_ns() - t0
        ep.latency_ns = latency if ep.latency_ns == 0 else (ep.latency_ns * 7 + latency) // 8
        msg = orjson.loads(raw)
        err = msg.get("error")
        if err is not None:
            code = int(err.get("code", 0))
            if code in _RETRYABLE_RPC_CODES:
                raise _Retry(f"RPC error {code}: {err.get('message')}")
            raise _RpcError(code, str(err.get("message", "")), err.get("data"))
        return msg["result"]

    async def call(self, method: str, params: list[Any], *, prefer: Endpoint | None = None) -> Any:
        """One JSON-RPC call with failover and backoff; raises FeedError once attempts run out."""
        last_ep: Endpoint | None = None
        reason = ""
        for attempt in range(self.max_attempts):
            ep = prefer if prefer is not None and attempt == 0 else self._pick_http(exclude=last_ep)
            wait_s = (ep.cooldown_until_ns - time.monotonic_ns()) / 1e9
            if ep is last_ep:
                wait_s = max(wait_s, self._backoff_s(attempt))
            if wait_s > 0:
                self.sleeps.append(wait_s)
                await self._sleep(wait_s)
            try:
                result = await self._post_once(ep, method, params)
            except _Retry as r:
                ep.failures += 1
                delay = self._backoff_s(ep.failures)
                if r.retry_after_s is not None:
                    delay = max(delay, r.retry_after_s)
                ep.cooldown_until_ns = time.monotonic_ns() + int(delay * 1e9)
                reason = r.reason
                last_ep = ep
                self._health(ep.name, "down", f"{method}: {r.reason}; retry in {delay:.3f}s", delay)
                continue
            except _RpcError as e:
                raise FeedError(
                    f"{method} on {ep.name} ({redact_url(ep.http_url)}): "
                    f"RPC error {e.code}: {redact_text(e.message)}",
                    venue="solana",
                ) from e
            ep.failures = 0
            return result
        where = f"{last_ep.name} ({redact_url(last_ep.http_url)})" if last_ep else "no endpoint"
        raise FeedError(
            f"{method}: gave up after {self.max_attempts} attempts; last {where}: "
            f"{redact_text(reason)}",
            venue="solana",
        )

    async def get_slot(self) -> int:
        """Current slot at the configured commitment."""
        return int(await self.call("getSlot", [{"commitment": self.commitment}]))

    async def get_latest_blockhash(self) -> tuple[str, int]:
        """(blockhash base58, lastValidBlockHeight)."""
        res = await self.call("getLatestBlockhash", [{"commitment": self.commitment}])
        return str(res["value"]["blockhash"]), int(res["value"]["lastValidBlockHeight"])

    async def get_block_height(self) -> int:
        """Current block height at the configured commitment (what lastValidBlockHeight bounds)."""
        return int(await self.call("getBlockHeight", [{"commitment": self.commitment}]))

    async def get_multiple_accounts(
        self, pubkeys: Sequence[str], *, prefer: Endpoint | None = None
    ) -> list[AccountUpdate | None]:
        """Accounts in input order (None where absent), batched by 100 and fetched concurrently."""
        batches = [
            list(pubkeys[i : i + MAX_MULTIPLE_ACCOUNTS])
            for i in range(0, len(pubkeys), MAX_MULTIPLE_ACCOUNTS)
        ]
        cfg = {"encoding": "base64", "commitment": self.commitment}
        results = await asyncio.gather(
            *(self.call("getMultipleAccounts", [b, cfg], prefer=prefer) for b in batches)
        )
        now = time.time_ns()
        name = prefer.name if prefer is not None else "http"
        out: list[AccountUpdate | None] = []
        for batch, res in zip(batches, results):
            slot = int(res["context"]["slot"])
            for key, value in zip(batch, res["value"]):
                if value is None:
                    out.append(None)
                    continue
                data, owner, lamports = account_from_json(value)
                out.append(AccountUpdate(key, data, owner, lamports, slot, now, name, "bootstrap"))
        return out

    async def bootstrap(self, pubkeys: Sequence[str], *, via: str = "bootstrap") -> int:
        """Fetch accounts and queue those newer than held; returns how many were queued."""
        prefer = self.ws_endpoint if via == "resync" else None
        n = 0
        for upd in await self.get_multiple_accounts(pubkeys, prefer=prefer):
            if upd is not None and self._accept(upd.pubkey, upd.slot):
                self._emit(replace(upd, via=via))
                n += 1
        return n

    async def simulate_transaction(self, tx_bytes: bytes) -> dict[str, Any]:
        """simulateTransaction result value (`err`, `logs`, `unitsConsumed`)."""
        cfg = {"encoding": "base64", "commitment": self.commitment, "sigVerify": True}
        try:
            res = await self.call("simulateTransaction", [base64.b64encode(tx_bytes).decode(), cfg])
        except FeedError as e:
            raise ExecutionError(f"simulateTransaction: {e}", retryable=True, venue="solana") from e
        return dict(res["value"])

    async def send_transaction(self, tx_bytes: bytes, *, skip_preflight: bool = False) -> str:
        """Submit a signed transaction; its base58 signature. Re-sending is idempotent."""
        cfg = {
            "encoding": "base64",
            "skipPreflight": skip_preflight,
            "preflightCommitment": self.commitment,
            "maxRetries": 0,
        }
        try:
            return str(
                await self.call("sendTransaction", [base64.b64encode(tx_bytes).decode(), cfg])
            )
        except FeedError as e:
            cause = e.__cause__
            retryable = not (isinstance(cause, _RpcError) and cause.code == _PREFLIGHT_FAILURE)
            raise ExecutionError(
                f"sendTransaction: {e}", retryable=retryable, venue="solana"
            ) from e

    def healthy_endpoints(self) -> list[Endpoint]:
        """Endpoints neither cooling down after a failure nor lagging (all of them if none is)."""
        now = time.monotonic_ns()
        healthy = [e for e in self.endpoints if e.cooldown_until_ns <= now and not e.lagging]
        return healthy or list(self.endpoints)

    async def call_on(self, ep: Endpoint, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call on this endpoint only (no failover): a fan-out's single leg.

        A transport failure or a retryable node error cools the endpoint down and raises
        `ExecutionError(retryable=True, code="transport")`; a node's refusal raises `RpcRefused`
        with the node's error code and `data` (e.g. the preflight `err`).
        """
        try:
            result = await self._post_once(ep, method, params)
        except _Retry as r:
            ep.failures += 1
            delay = max(self._backoff_s(ep.failures), r.retry_after_s or 0.0)
            ep.cooldown_until_ns = time.monotonic_ns() + int(delay * 1e9)
            raise ExecutionError(
                f"{method} on {ep.name}: {redact_text(r.reason)}",
                retryable=True,
                venue="solana",
                code="transport",
            ) from None
        except _RpcError as e:
            raise RpcRefused(
                f"{method} on {ep.name}: RPC error {e.code}: {redact_text(e.message)}",
                rpc_code=e.code,
                data=e.data,
            ) from None
        except FeedError as e:
            # an HTTP status no retry cures (401, 403, 404): this endpoint is of no use for now
            ep.cooldown_until_ns = time.monotonic_ns() + int(self.backoff_max_s * 1e9)
            raise ExecutionError(str(e), retryable=True, venue="solana", code="http") from None
        ep.failures = 0
        return result

    async def get_signature_statuses(
        self, signatures: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """getSignatureStatuses values in input order (None when unknown)."""
        res = await self.call("getSignatureStatuses", [list(signatures)])
        return list(res["value"])

    # ------------------------------------------------------------------ health
    async def check_health(self) -> None:
        """getSlot on every endpoint; mark lagging ones and ask the WS to move off one."""

        async def probe(ep: Endpoint) -> int | None:
            try:
                return int(await self._post_once(ep, "getSlot", [{"commitment": self.commitment}]))
            except (_Retry, _RpcError, FeedError):
                return None

        slots = await asyncio.gather(*(probe(e) for e in self.endpoints))
        for ep, slot in zip(self.endpoints, slots):
            if slot is not None:
                ep.slot = slot
        # an unreachable node's last slot says nothing about the others: leave it out of the top
        reachable = [e.slot for e, s in zip(self.endpoints, slots) if s is not None]
        top = max(reachable, default=0)
        for ep, slot in zip(self.endpoints, slots):
            if slot is None:
                ep.healthy_probes = 0
                continue
            ep.lag_slots = top - ep.slot
            lagging = ep.lag_slots > self.max_slot_lag
            if lagging != ep.lagging:
                ep.lagging = lagging
                status = "lag" if lagging else "up"
                self._health(
                    ep.name, status, f"slot {ep.slot}, {ep.lag_slots} behind {top}", ep.lag_slots
                )
            ep.healthy_probes = 0 if lagging else ep.healthy_probes + 1
        cur = self.ws_endpoint
        if cur is None or self._switch_reason:
            return
        if cur.lagging:
            self._switch_reason = f"{cur.name} lags {cur.lag_slots} slots"
        elif cur.is_failover and any(
            not e.is_failover and e.healthy_probes >= self.failback_after_probes
            for e in self.endpoints
        ):
            # the failover is a bridge: go back once a primary has been healthy for a while
            self._switch_reason = f"a primary is healthy again; leaving {cur.name}"
        if self._switch_reason and self._ws is not None:
            await self._ws.close()

    async def _health_main(self) -> None:
        while True:
            await self.check_health()
            await asyncio.sleep(self.health_interval_s)

    # ------------------------------------------------------------------ subscriptions
    def _accept(self, pubkey: str, slot: int) -> bool:
        held = self.account_slots.get(pubkey)
        if held is not None and slot < held:
            self.stale_dropped += 1
            return False
        self.account_slots[pubkey] = slot
        return True

    async def _add_sub(self, key: str, sub: _Sub) -> None:
        if key in self._subs:
            return
        self._subs[key] = sub
        if self._ws is not None:
            await self._send_sub(key, sub)

    async def _send_sub(self, key: str, sub: _Sub) -> None:
        if self._ws is None:
            return
        rid = next(self._ids)
        self._pending_req[rid] = key
        msg = {"jsonrpc": "2.0", "id": rid, "method": sub.method, "params": sub.params}
        with contextlib.suppress(WebSocketException, OSError):
            await self._ws.send(orjson.dumps(msg).decode())

    async def subscribe_accounts(self, pubkeys: Sequence[str], *, bootstrap: bool = True) -> None:
        """accountSubscribe each pubkey (kept across reconnects); then fetch their current state."""
        cfg = {"encoding": "base64", "commitment": self.commitment}
        fresh = [k for k in pubkeys if f"account:{k}" not in self._subs]
        for k in fresh:
            await self._add_sub(f"account:{k}", _Sub("accountSubscribe", [k, cfg]))
        # without a WS the (re)connect resync fetches them; with one, fetch once subscribed
        if bootstrap and fresh and self._ws is not None:
            await self._await_confirmed([f"account:{k}" for k in fresh])
            await self.bootstrap(fresh)

    async def _await_confirmed(self, keys: list[str]) -> None:
        # fetch only after the node confirmed the subscription, so no write falls in between
        events = [self._subs[k].confirmed.wait() for k in keys if k in self._subs]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*events), self.timeout_s)

    async def subscribe_program(self, program_id: str, filters: list[dict[str, Any]]) -> None:
        """programSubscribe with memcmp / dataSize filters (kept across reconnects)."""
        cfg = {"encoding": "base64", "commitment": self.commitment, "filters": filters}
        key = f"program:{program_id}:{orjson.dumps(filters).decode()}"
        await self._add_sub(key, _Sub("programSubscribe", [program_id, cfg]))

    async def unsubscribe_accounts(self, pubkeys: Sequence[str]) -> None:
        """Stop watching these accounts."""
        for k in pubkeys:
            sub = self._subs.pop(f"account:{k}", None)
            if sub is not None and sub.sub_id is not None and self._ws is not None:
                self._by_sub_id.pop(sub.sub_id, None)
                msg = {
                    "jsonrpc": "2.0",
                    "id": next(self._ids),
                    "method": "accountUnsubscribe",
                    "params": [sub.sub_id],
                }
                with contextlib.suppress(WebSocketException, OSError):
                    await self._ws.send(orjson.dumps(msg).decode())

    async def confirm_signature(
        self, signature: str, *, timeout_s: float = 30.0, commitment: str | None = None
    ) -> SignatureUpdate:
        """Wait for signatureNotification at `commitment` (default: the configured one);
        the subscription survives reconnects."""
        fut: asyncio.Future[SignatureUpdate] = asyncio.get_running_loop().create_future()
        self._sig_waiters[signature] = fut
        cfg = {
            "commitment": commitment or self.commitment,
            "enableReceivedNotification": False,
        }
        await self._add_sub(f"signature:{signature}", _Sub("signatureSubscribe", [signature, cfg]))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError as exc:
            raise ExecutionError(
                f"signature {signature} not confirmed within {timeout_s} s",
                retryable=True,
                venue="solana",
            ) from exc
        finally:
            self._sig_waiters.pop(signature, None)
            self._subs.pop(f"signature:{signature}", None)

    # ------------------------------------------------------------------ WS manager
    def _next_ws_endpoint(self, current: Endpoint | None, move: bool) -> Endpoint:
        candidates = [e for e in self.endpoints if e.ws_url]
        if current is not None and not move and not current.lagging:
            return current
        start = 0 if current is None else (candidates.index(current) + 1)
        ring = candidates[start:] + candidates[:start]
        healthy = [e for e in ring if not e.lagging and e is not current]
        # nodes that answered the last probe first, then primaries before the failover (a bridge)
        healthy.sort(key=lambda e: (e.healthy_probes == 0, e.is_failover))
        return healthy[0] if healthy else ring[0]

    async def _ws_main(self) -> None:
        ep = self._next_ws_endpoint(None, move=False)
        fails = 0
        first = True
        while True:
            self.ws_endpoint = ep
            self._switch_reason = ""
            reason = ""
            try:
                async with connect(ep.ws_url, open_timeout=self.timeout_s, max_size=None) as ws:
                    self._ws = ws
                    await self._on_connected(ep, first)
                    first = False
                    fails = 0
                    await self._read_loop(ws, ep)
                    reason = "closed by server"
            except TimeoutError:
                reason = f"no message for {self.heartbeat_timeout_s} s (stalled)"
                fails = self.ws_failures_before_failover
            except (WebSocketException, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self._by_sub_id.clear()
                self._pending_req.clear()
                for sub in self._subs.values():
                    sub.sub_id = None
                    sub.confirmed.clear()
            fails += 1
            reason = self._switch_reason or reason
            self._health(f"ws:{ep.name}", "down", f"{ep.ws_url}: {reason}", fails)
            move = (
                bool(self._switch_reason) or ep.lagging or fails >= self.ws_failures_before_failover
            )
            nxt = self._next_ws_endpoint(ep, move)
            if nxt is not ep:
                self._health(f"ws:{nxt.name}", "switch", f"WS {ep.name} -> {nxt.name}: {reason}")
                fails = 0
            else:
                delay = self._backoff_s(fails)
                self.sleeps.append(delay)
                await self._sleep(delay)
            ep = nxt

    async def _on_connected(self, ep: Endpoint, first: bool) -> None:
        for key, sub in list(self._subs.items()):
            await self._send_sub(key, sub)
        n = len(self._subs)
        self._health(
            f"ws:{ep.name}", "up" if first else "resync", f"{ep.ws_url}: {n} subscriptions sent", n
        )
        # updates may have been missed while disconnected: re-read every watched account
        accounts = [k.split(":", 1)[1] for k in self._subs if k.startswith("account:")]
        if accounts or not first:
            self._spawn(self._resync(accounts, ep))
        sigs = [k.split(":", 1)[1] for k in self._subs if k.startswith("signature:")]
        if sigs:
            self._spawn(self._recheck_signatures(sigs))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _resync(self, accounts: list[str], ep: Endpoint) -> None:
        await self._await_confirmed([f"account:{k}" for k in accounts])
        try:
            n = await self.bootstrap(accounts, via="resync") if accounts else 0
        except FeedError as e:
            self._health("resync", "down", str(e))
            return
        # resubscribed and re-read: the endpoint's `resync` ends here, so say `up` (a feed left
        # at `resync` would look down to everything that waits for `up`)
        if self.ws_endpoint is ep and self._ws is not None:
            self._health(f"ws:{ep.name}", "up", f"resubscribed, {n} accounts re-read")

    async def _recheck_signatures(self, sigs: list[str]) -> None:
        with contextlib.suppress(FeedError):
            for sig, st in zip(sigs, await self.get_signature_statuses(sigs)):
                fut = self._sig_waiters.get(sig)
                if st is not None and fut is not None and not fut.done():
                    fut.set_result(
                        SignatureUpdate(sig, int(st["slot"]), st.get("err"), time.time_ns())
                    )

    async def _read_loop(self, ws: ClientConnection, ep: Endpoint) -> None:
        while True:
            async with asyncio.timeout(self.heartbeat_timeout_s):
                raw = await ws.recv()
            now = time.time_ns()
            msg = orjson.loads(raw)
            if "id" in msg:
                key = self._pending_req.pop(int(msg["id"]), None)
                if key is not None and "result" in msg and key in self._subs:
                    self._subs[key].sub_id = int(msg["result"])
                    self._subs[key].confirmed.set()
                    self._by_sub_id[int(msg["result"])] = key
                elif "error" in msg:
                    self._health(
                        f"ws:{ep.name}", "down", f"subscribe {key} refused: {msg['error']}"
                    )
                continue
            self._on_notification(msg, ep, now)

    def _on_notification(self, msg: dict[str, Any], ep: Endpoint, now: int) -> None:
        method = msg.get("method")
        params = msg.get("params") or {}
        result = params.get("result") or {}
        key = self._by_sub_id.get(int(params.get("subscription", -1)))
        if method == "slotNotification":
            slot = int(result["slot"])
            ep.slot = max(ep.slot, slot)
            self._emit(SlotUpdate(slot, now, ep.name))
        elif method == "accountNotification" and key is not None:
            pubkey = key.split(":", 1)[1]
            self._on_account(pubkey, result["value"], int(result["context"]["slot"]), ep, now)
        elif method == "programNotification":
            value = result["value"]
            self._on_account(
                value["pubkey"], value["account"], int(result["context"]["slot"]), ep, now
            )
        elif method == "signatureNotification" and key is not None:
            sig = key.split(":", 1)[1]
            fut = self._sig_waiters.get(sig)
            upd = SignatureUpdate(
                sig, int(result["context"]["slot"]), result["value"].get("err"), now
            )
            if fut is not None and not fut.done():
                fut.set_result(upd)

    def _on_account(
        self, pubkey: str, value: dict[str, Any], slot: int, ep: Endpoint, now: int
    ) -> None:
        if value is None or not self._accept(pubkey, slot):
            return
        data, owner, lamports = account_from_json(value)
        self._emit(AccountUpdate(pubkey, data, owner, lamports, slot, now, ep.name, "subscription"))


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RpcRefused(ExecutionError):
    """A node answered a call with a JSON-RPC error: `rpc_code` and its `data` as sent."""

    def __init__(self, message: str, *, rpc_code: int, data: object) -> None:
        # a preflight failure is the transaction's own fault: the same bytes fail again
        retryable = rpc_code != _PREFLIGHT_FAILURE
        super().__init__(message, retryable=retryable, venue="solana", code=str(rpc_code))
        self.rpc_code = rpc_code
        self.data = data


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: object) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data
