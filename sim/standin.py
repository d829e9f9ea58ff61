"""A local Solana RPC stand-in: JSON-RPC over HTTP and pubsub over WS, backed by LiteSVM.

It speaks the real agave wire shapes (as documented for getAccountInfo, getMultipleAccounts,
accountNotification, programNotification, slotNotification, signatureNotification) so the real
RPC client can be tested without the network. Tests load real account bytes, mutate them with
`set_account` (each write lands in a new slot and notifies subscribers) and inject faults:
HTTP 429 with Retry-After, 5xx, stalls, dropped WS connections, muted WS and slot lag; for
swaps also dropped sends (acknowledged, never executed), held sends (landing late, on release)
and an injected program error. A landed swap is served back by `getTransaction` with `fee`,
`computeUnitsConsumed` and `pre/postTokenBalances`; a duplicate send is `AlreadyProcessed`.

Transactions calling a DEX program we cannot load offline (Orca, Raydium CLMM, Phoenix,
OpenBook v2) are checked
(signatures, blockhash age, fee payer) and executed by `sim.dex_exec.SwapExecutor` with our exact
quote math; their account writes land in a new slot and notify subscribers like any other.

Start it with `await standin.start()` inside a running loop, or `standin.start_in_thread()`
from synchronous code; `stop()` / `stop_thread()` close every socket. HTTP and WS share one
ephemeral port on 127.0.0.1 (`http_url`, `ws_url`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    SimulatedTransactionInfo,
    TransactionMetadata,
)

from operators.errors import ConfigError
from sim.dex_exec import TOKEN_ACCOUNT_LEN, ProgramError, SwapExecutor, token_amount

_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
_PREFLIGHT_FAILURE = -32002
_SIGNATURE_FAILURE = -32003
_BLOCKHASH_MAX_AGE_SLOTS = 150
_U64_MAX = 18446744073709551615
_TOKEN_OWNERS = {
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
}


def _b58_or_b64(raw: str, encoding: str) -> bytes:
    return base64.b64decode(raw) if encoding == "base64" else _b58decode(raw)


def _b58decode(raw: str) -> bytes:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for ch in raw:
        n = n * 58 + alphabet.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * (len(raw) - len(raw.lstrip("1"))) + body


def _filters_match(data: bytes, filters: list[dict[str, Any]]) -> bool:
    for flt in filters:
        if "dataSize" in flt:
            if len(data) != int(flt["dataSize"]):
                return False
        elif "memcmp" in flt:
            mc = flt["memcmp"]
            want = _b58_or_b64(mc["bytes"], mc.get("encoding", "base58"))
            off = int(mc["offset"])
            if data[off : off + len(want)] != want:
                return False
    return True


def _account_json(acc: Account) -> dict[str, Any]:
    data = bytes(acc.data)
    return {
        "data": [base64.b64encode(data).decode(), "base64"],
        "executable": acc.executable,
        "lamports": acc.lamports,
        "owner": str(acc.owner),
        "rentEpoch": _U64_MAX,
        "space": len(data),
    }


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    subs: dict[int, tuple[str, Any]] = field(default_factory=dict)
    out: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)


class SolanaStandIn:
    """A loopback Solana RPC node for tests; every mutator is safe to call from any thread."""

    def __init__(self, *, start_slot: int = 1000, name: str = "standin") -> None:
        self.name = name
        self.svm = LiteSVM()
        self._slot = start_slot
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._conns: list[_Conn] = []
        self._next_sub = 1
        self._statuses: dict[str, tuple[int, Any]] = {}
        self._pending_writes: list[tuple[str, bytes, str, int]] = []
        # fault injection state
        self._http_faults: list[tuple[int, float | None]] = []
        self._http_stall_s = 0.0
        self._ws_muted = False
        self._frozen = False
        self._auto_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self.http_requests: list[str] = []
        """Every JSON-RPC method received over HTTP, in order (for assertions)."""
        self.swaps = SwapExecutor()
        """Runs swap transactions of the venues' programs (not loadable offline) in Python."""
        self._blockhashes: dict[str, int] = {}
        self.fees_charged: dict[str, int] = {}
        """Lamports charged per landed signature (base + priority fee)."""
        self._tx_meta: dict[str, dict[str, Any]] = {}
        self.sends: list[tuple[str, bytes]] = []
        """Every sendTransaction received: (signature, wire bytes), in order (for assertions)."""
        self._drop_sends = 0
        self.serve_transactions = True
        """False: getTransaction answers null (a node that has not indexed it yet)."""
        self.signature_commitments: list[tuple[str, str]] = []
        """(signature, commitment) of every signatureSubscribe received (for assertions)."""
        self._held: dict[str, tuple[VersionedTransaction, bool]] = {}
        self._holding = False
        self._fail_next: tuple[int, str] | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def http_url(self) -> str:
        """HTTP JSON-RPC URL (valid after start)."""
        return f"http://127.0.0.1:{self._port}/"

    @property
    def ws_url(self) -> str:
        """WebSocket pubsub URL (valid after start)."""
        return f"ws://127.0.0.1:{self._port}/"

    @property
    def slot(self) -> int:
        """The slot this node reports now."""
        with self._lock:
            return self._slot

    async def start(self, *, auto_advance_s: float | None = None) -> None:
        """Bind an ephemeral port on 127.0.0.1 in the running loop; optionally tick slots."""
        self._loop = asyncio.get_running_loop()
        self.svm.warp_to_slot(self._slot)
        app = web.Application()
        app.router.add_route("*", "/", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        addrs = self._runner.addresses
        if not addrs:
            raise ConfigError(f"stand-in {self.name}: no listening socket after start")
        self._port = int(addrs[0][1])
        if auto_advance_s is not None:
            self._auto_task = asyncio.create_task(self._auto_advance(auto_advance_s))

    async def stop(self) -> None:
        """Close every WS connection and the HTTP server."""
        if self._auto_task is not None:
            self._auto_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._auto_task
            self._auto_task = None
        for conn in list(self._conns):
            await conn.ws.close()
        self._conns.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(
        self, *, auto_advance_s: float | None = None, timeout_s: float = 5.0
    ) -> None:
        """Run the server on its own event loop in a daemon thread; returns once it listens."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start(auto_advance_s=auto_advance_s))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"standin-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise ConfigError(f"stand-in {self.name}: did not start within {timeout_s} s")

    def stop_thread(self, timeout_s: float = 5.0) -> None:
        """Stop a server started with `start_in_thread` and join its thread."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)
        self._thread = None

    async def _auto_advance(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.advance_slot()

    # ------------------------------------------------------------------ state and faults
    def set_account(
        self, pubkey: str, data: bytes, owner: str, lamports: int, *, executable: bool = False
    ) -> int:
        """Write an account in a new slot and notify subscribers; returns that slot.

        While the node lags (`set_lagging(True)`) the write is held back, as a node that is
        behind has not seen it yet; it lands when the lag ends.
        """
        with self._lock:
            if self._frozen:
                self._pending_writes.append((pubkey, data, owner, lamports))
                return self._slot
            self._slot += 1
            self.svm.warp_to_slot(self._slot)
            acc = Account(lamports, data, Pubkey.from_string(owner), executable, _U64_MAX)
            self.svm.set_account(Pubkey.from_string(pubkey), acc)
            slot = self._slot
            self._schedule(self._publish_account, pubkey, acc, slot)
            self._schedule(self._publish_slot, slot)
            return slot

    def advance_slot(self, n: int = 1) -> int:
        """Move the node's slot forward by `n` (ignored while lagging); returns the slot."""
        with self._lock:
            if self._frozen:
                return self._slot
            for _ in range(n):
                self._slot += 1
                self._schedule(self._publish_slot, self._slot)
            self.svm.warp_to_slot(self._slot)
            return self._slot

    def set_lagging(self, lagging: bool, *, catch_up_to: int | None = None) -> None:
        """Stop (True) or resume (False) advancing slots; on resume apply held writes."""
        with self._lock:
            self._frozen = lagging
            if lagging:
                return
            if catch_up_to is not None and catch_up_to > self._slot:
                self._slot = catch_up_to
            pending, self._pending_writes = self._pending_writes, []
        for pubkey, data, owner, lamports in pending:
            self.set_account(pubkey, data, owner, lamports)

    def fail_http(self, status: int, count: int = 1, *, retry_after_s: float | None = None) -> None:
        """Answer the next `count` HTTP requests with `status` (and Retry-After when given)."""
        with self._lock:
            self._http_faults.extend([(status, retry_after_s)] * count)

    def clear_http_faults(self) -> None:
        """Forget the HTTP faults still queued by `fail_http`: the node answers again."""
        with self._lock:
            self._http_faults.clear()

    def stall_http(self, seconds: float) -> None:
        """Delay every HTTP answer by `seconds` (0 ends the stall)."""
        self._http_stall_s = seconds

    def mute_ws(self, muted: bool) -> None:
        """Keep WS sockets open but stop sending notifications (a silent stall)."""
        self._ws_muted = muted

    def drop_ws(self) -> None:
        """Close every open WS connection from the server side."""
        for conn in list(self._conns):
            self._schedule_coro(conn.ws.close())

    def expire_blockhash(self) -> None:
        """Make every blockhash handed out so far unusable (as if 150 slots had passed)."""
        with self._lock:
            self.svm.expire_blockhash()
            self._blockhashes.clear()

    def add_native_mint(self) -> None:
        """Create the wrapped-SOL mint (every cluster has it), so the real SPL Token program in
        LiteSVM can create, fund and `SyncNative` wSOL accounts."""
        mint = bytes(36) + bytes(8) + bytes([9, 1]) + bytes(36)  # no authority, 9 decimals
        token = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
        with self._lock:
            native = Pubkey.from_string("So11111111111111111111111111111111111111112")
            self.svm.set_account(native, Account(1_461_600, mint, token, False, _U64_MAX))

    def drop_sends(self, count: int) -> None:
        """Acknowledge the next `count` sendTransaction calls and discard them (a lost packet)."""
        with self._lock:
            self._drop_sends = count

    def hold_sends(self, holding: bool) -> None:
        """Hold accepted swaps unexecuted (True); on False land every held one (lands late)."""
        with self._lock:
            self._holding = holding
            held, self._held = ([], self._held) if holding else (list(self._held.values()), {})
            for tx, skip in held:
                with contextlib.suppress(_RpcFail):
                    self._send_swap(tx, skip)

    def fail_next_swap(self, code: int, name: str) -> None:
        """The next swap executed fails at its swap instruction with this program error."""
        with self._lock:
            self._fail_next = (code, name)

    def subscription_count(self) -> int:
        """Live subscriptions over all WS connections."""
        return sum(len(c.subs) for c in self._conns)

    def _schedule(self, fn: Any, *args: Any) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(fn, *args)

    def _schedule_coro(self, coro: Any) -> None:
        if self._loop is None:
            coro.close()
            return
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ------------------------------------------------------------------ notifications
    def _send(self, conn: _Conn, msg: dict[str, Any]) -> None:
        if self._ws_muted or conn.ws.closed:
            return
        conn.out.put_nowait(orjson.dumps(msg))

    def _publish_account(self, pubkey: str, acc: Account, slot: int) -> None:
        owner = str(acc.owner)
        data = bytes(acc.data)
        for conn in self._conns:
            for sub_id, (kind, arg) in list(conn.subs.items()):
                if kind == "account" and arg == pubkey:
                    result: dict[str, Any] = {
                        "context": {"slot": slot},
                        "value": _account_json(acc),
                    }
                    method = "accountNotification"
                elif kind == "program" and arg[0] == owner and _filters_match(data, arg[1]):
                    value = {"pubkey": pubkey, "account": _account_json(acc)}
                    result = {"context": {"slot": slot}, "value": value}
                    method = "programNotification"
                else:
                    continue
                params = {"result": result, "subscription": sub_id}
                self._send(conn, {"jsonrpc": "2.0", "method": method, "params": params})

    def _publish_slot(self, slot: int) -> None:
        for conn in self._conns:
            for sub_id, (kind, arg) in list(conn.subs.items()):
                if kind == "slot":
                    result = {"parent": slot - 1, "root": max(slot - 32, 0), "slot": slot}
                    params = {"result": result, "subscription": sub_id}
                    self._send(
                        conn, {"jsonrpc": "2.0", "method": "slotNotification", "params": params}
                    )
                elif kind == "signature" and arg in self._statuses:
                    self._notify_signature(conn, sub_id, arg)

    def _notify_signature(self, conn: _Conn, sub_id: int, sig: str) -> None:
        slot, err = self._statuses[sig]
        result = {"context": {"slot": slot}, "value": {"err": err}}
        params = {"result": result, "subscription": sub_id}
        self._send(conn, {"jsonrpc": "2.0", "method": "signatureNotification", "params": params})
        # signature subscriptions are one-shot on a real node: cancelled after the notification
        conn.subs.pop(sub_id, None)

    # ------------------------------------------------------------------ transport
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._handle_ws(request)
        return await self._handle_http(request)

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self._http_stall_s > 0:
            await asyncio.sleep(self._http_stall_s)
        with self._lock:
            fault = self._http_faults.pop(0) if self._http_faults else None
        if fault is not None:
            status, retry_after = fault
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return web.Response(status=status, text=f"injected {status}", headers=headers)
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            err = {"code": -32700, "message": "Parse error"}
            return web.Response(body=orjson.dumps({"jsonrpc": "2.0", "error": err, "id": None}))
        self.http_requests.append(str(req.get("method")))
        reply = self._dispatch(req)
        return web.Response(body=orjson.dumps(reply), content_type="application/json")

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.append(conn)
        # one writer per socket keeps notifications in publish order
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                req = orjson.loads(msg.data)
                reply = self._dispatch_ws(conn, req)
                if reply is not None:
                    conn.out.put_nowait(orjson.dumps(reply))
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            frame = await conn.out.get()
            if conn.ws.closed:
                return
            # the server socket may close between get() and send; nothing left to deliver then
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(frame.decode())

    def _dispatch_ws(self, conn: _Conn, req: dict[str, Any]) -> dict[str, Any] | None:
        method = req.get("method", "")
        params = req.get("params") or []
        rid = req.get("id")
        kinds = {
            "accountSubscribe": "account",
            "programSubscribe": "program",
            "slotSubscribe": "slot",
            "signatureSubscribe": "signature",
        }
        if method in kinds:
            kind = kinds[method]
            arg: Any = None
            if kind in ("account", "signature"):
                arg = params[0]
            elif kind == "program":
                cfg = params[1] if len(params) > 1 else {}
                arg = (params[0], list(cfg.get("filters", [])))
            sub_id = self._next_sub
            self._next_sub += 1
            conn.subs[sub_id] = (kind, arg)
            if kind == "signature":
                cfg = params[1] if len(params) > 1 else {}
                self.signature_commitments.append((str(arg), str(cfg.get("commitment", ""))))
            reply = {"jsonrpc": "2.0", "result": sub_id, "id": rid}
            if kind == "signature" and arg in self._statuses:
                # already landed: answer now rather than never (a client must not hang on it)
                asyncio.get_running_loop().call_soon(self._notify_signature, conn, sub_id, arg)
            return reply
        if method.endswith("Unsubscribe"):
            found = conn.subs.pop(int(params[0]), None) is not None
            return {"jsonrpc": "2.0", "result": found, "id": rid}
        err = {"code": _METHOD_NOT_FOUND, "message": "Method not found"}
        return {"jsonrpc": "2.0", "error": err, "id": rid}

    # ------------------------------------------------------------------ JSON-RPC methods
    def _dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")
        method = str(req.get("method", ""))
        params = req.get("params") or []
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            err = {"code": _METHOD_NOT_FOUND, "message": "Method not found"}
            return {"jsonrpc": "2.0", "error": err, "id": rid}
        try:
            with self._lock:
                result = handler(params)
        except _RpcFail as exc:
            return {"jsonrpc": "2.0", "error": exc.body, "id": rid}
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            err = {"code": _INVALID_PARAMS, "message": f"Invalid params: {exc}"}
            return {"jsonrpc": "2.0", "error": err, "id": rid}
        return {"jsonrpc": "2.0", "result": result, "id": rid}

    def _ctx(self) -> dict[str, Any]:
        return {"apiVersion": "2.2.0", "slot": self._slot}

    def _get(self, pubkey: str) -> dict[str, Any] | None:
        acc = self.svm.get_account(Pubkey.from_string(pubkey))
        return None if acc is None else _account_json(acc)

    def _rpc_getSlot(self, params: list[Any]) -> int:
        return self._slot

    def _rpc_getBlockHeight(self, params: list[Any]) -> int:
        # no skipped slots here: block height and slot move together (see getLatestBlockhash)
        return self._slot

    def _rpc_getTransaction(self, params: list[Any]) -> dict[str, Any] | None:
        sig = str(params[0])
        meta = self._tx_meta.get(sig) if self.serve_transactions else None
        if meta is None:
            return None
        return {"slot": self._statuses[sig][0], "blockTime": None, "meta": meta, "version": 0}

    def _rpc_getAccountInfo(self, params: list[Any]) -> dict[str, Any]:
        return {"context": self._ctx(), "value": self._get(params[0])}

    def _rpc_getMultipleAccounts(self, params: list[Any]) -> dict[str, Any]:
        keys = list(params[0])
        if len(keys) > 100:
            raise ValueError("Too many inputs provided; max 100")
        return {"context": self._ctx(), "value": [self._get(k) for k in keys]}

    def _rpc_getLatestBlockhash(self, params: list[Any]) -> dict[str, Any]:
        blockhash = str(self.svm.latest_blockhash())
        self._blockhashes.setdefault(blockhash, self._slot)
        value = {"blockhash": blockhash, "lastValidBlockHeight": self._slot + 150}
        return {"context": self._ctx(), "value": value}

    def _rpc_getSignatureStatuses(self, params: list[Any]) -> dict[str, Any]:
        out: list[dict[str, Any] | None] = []
        for sig in params[0]:
            st = self._statuses.get(sig)
            if st is None:
                out.append(None)
                continue
            slot, err = st
            status = {"Ok": None} if err is None else {"Err": err}
            out.append(
                {
                    "slot": slot,
                    "confirmations": None,
                    "err": err,
                    "status": status,
                    "confirmationStatus": "confirmed",
                }
            )
        return {"context": self._ctx(), "value": out}

    def _decode_tx(self, params: list[Any]) -> VersionedTransaction:
        cfg = params[1] if len(params) > 1 else {}
        raw = params[0]
        blob = base64.b64decode(raw) if cfg.get("encoding") == "base64" else _b58decode(raw)
        return VersionedTransaction.from_bytes(blob)

    def _rpc_simulateTransaction(self, params: list[Any]) -> dict[str, Any]:
        tx = self._decode_tx(params)
        if self.swaps.handles(tx):
            cfg = params[1] if len(params) > 1 else {}
            return {"context": self._ctx(), "value": self._simulate_swap(tx, cfg)}
        res = self.svm.simulate_transaction(tx)
        if isinstance(res, SimulatedTransactionInfo):
            meta, err = res.meta(), None
        else:
            meta, err = res.meta(), str(res.err())
        value = {
            "err": err,
            "accounts": None,
            "logs": list(meta.logs()),
            "returnData": None,
            "unitsConsumed": meta.compute_units_consumed(),
            "innerInstructions": None,
        }
        return {"context": self._ctx(), "value": value}

    def _simulate_swap(self, tx: VersionedTransaction, cfg: dict[str, Any]) -> dict[str, Any]:
        """Execute on an overlay, apply nothing; `accounts.addresses` read after the swap."""

        def get(key: str) -> Account | None:
            return self.svm.get_account(Pubkey.from_string(key))

        err: Any = None
        logs: list[str] = []
        try:
            outcome = self.swaps.execute(tx, get)
            writes, consumed = outcome.writes, outcome.cu_consumed
        except ProgramError as exc:
            err, logs, writes, consumed = exc.err_json(), _failure_logs(tx, exc), {}, 0
        accounts = None
        wanted = (cfg.get("accounts") or {}).get("addresses")
        if wanted is not None and err is None:
            accounts = []
            for key in wanted:
                acc = writes.get(key) or get(key)
                accounts.append(None if acc is None else _account_json(acc))
        return {
            "err": err,
            "accounts": accounts,
            "logs": logs,
            "returnData": None,
            "unitsConsumed": consumed,
            "innerInstructions": None,
        }

    def _rpc_sendTransaction(self, params: list[Any]) -> str:
        tx = self._decode_tx(params)
        if self.swaps.handles(tx):
            cfg = params[1] if len(params) > 1 else {}
            sig = str(tx.signatures[0])
            self.sends.append((sig, bytes(tx)))
            if self._drop_sends > 0:
                self._drop_sends -= 1
                return sig
            skip = bool(cfg.get("skipPreflight", False))
            if sig in self._statuses:
                # a node answers a duplicate with AlreadyProcessed (preflight) or drops it
                if skip:
                    return sig
                raise _RpcFail(_preflight("AlreadyProcessed", "AlreadyProcessed", []))
            if self._holding:
                self._held.setdefault(sig, (tx, skip))
                return sig
            return self._send_swap(tx, skip)
        res = self.svm.send_transaction(tx)
        sig = str(tx.signatures[0])
        if isinstance(res, FailedTransactionMetadata):
            meta = res.meta()
            raise _RpcFail(
                {
                    "code": _PREFLIGHT_FAILURE,
                    "message": f"Transaction simulation failed: {res.err()}",
                    "data": {"err": str(res.err()), "logs": list(meta.logs())},
                }
            )
        if not isinstance(res, TransactionMetadata):
            raise _RpcFail({"code": _PREFLIGHT_FAILURE, "message": f"unexpected result {res!r}"})
        self._statuses[sig] = (self._slot, None)
        # the transaction lands in this slot; the next slot confirms it and notifies
        self.advance_slot()
        return sig

    def _send_swap(self, tx: VersionedTransaction, skip_preflight: bool) -> str:
        """Check signatures, blockhash age and fee payer; execute the swap (sim/dex_exec.py);
        land it (or, with skipPreflight, land its failure and still charge the fee)."""
        sig = str(tx.signatures[0])
        if not all(tx.verify_with_results()):
            message = "Transaction signature verification failure"
            raise _RpcFail({"code": _SIGNATURE_FAILURE, "message": message})
        blockhash = str(tx.message.recent_blockhash)
        served = self._blockhashes.get(blockhash)
        if blockhash != str(self.svm.latest_blockhash()) and (
            served is None or self._slot - served > _BLOCKHASH_MAX_AGE_SLOTS
        ):
            raise _RpcFail(_preflight("BlockhashNotFound", "Blockhash not found", []))

        def get(key: str) -> Account | None:
            return self.svm.get_account(Pubkey.from_string(key))

        # the runtime takes the fee before running anything: an unfunded payer fails first
        payer = str(tx.message.account_keys[0])
        fee = self.swaps.budget(tx).fee_lamports(len(tx.signatures))
        funded = get(payer)
        if funded is None or funded.lamports < fee:
            raise _RpcFail(_preflight("InsufficientFundsForFee", "Insufficient funds for fee", []))
        err: Any = None
        failure_logs: list[str] = []
        keys = [str(k) for k in tx.message.account_keys]
        pre = _token_balances(keys, get)
        try:
            if self._fail_next is not None:
                code, name = self._fail_next
                self._fail_next = None
                failing = ProgramError(len(tx.message.instructions) - 1, code, name, "injected")
                failing.budget = self.swaps.budget(tx)
                failing.budget.cu_consumed = failing.budget.cu_limit
                raise failing
            outcome = self.swaps.execute(tx, get)
        except ProgramError as exc:
            failure_logs = _failure_logs(tx, exc)
            if not skip_preflight or exc.budget is None:
                message = f"Error processing Instruction {exc.index}: {exc.name} ({exc.code})"
                raise _RpcFail(_preflight(exc.err_json(), message, failure_logs)) from None
            outcome, err = exc.budget, exc.err_json()
        payer_acc = outcome.writes.get(payer) or funded
        if payer_acc.lamports < fee:  # the swap's own rent payments ate into the fee
            raise _RpcFail(_preflight("InsufficientFundsForFee", "Insufficient funds for fee", []))
        writes = dict(outcome.writes)
        writes[payer] = Account(
            payer_acc.lamports - fee,
            bytes(payer_acc.data),
            payer_acc.owner,
            payer_acc.executable,
            payer_acc.rent_epoch,
        )
        for key, acc in writes.items():
            self.svm.set_account(Pubkey.from_string(key), acc)
            self._schedule(self._publish_account, key, acc, self._slot)
        self._statuses[sig] = (self._slot, err)
        self.fees_charged[sig] = fee
        self._tx_meta[sig] = {
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "fee": fee,
            "computeUnitsConsumed": outcome.cu_consumed,
            "preTokenBalances": pre,
            "postTokenBalances": _token_balances(keys, get),
            "logMessages": failure_logs,
        }
        self.advance_slot()
        return sig

    def signature_known(self, sig: str | Signature) -> bool:
        """Whether a transaction with this signature has landed on this node."""
        return str(sig) in self._statuses


def _token_balances(keys: list[str], get: Any) -> list[dict[str, Any]]:
    """`meta.pre/postTokenBalances` entries for the transaction's SPL token accounts."""
    out = []
    for index, key in enumerate(keys):
        acc = get(key)
        if acc is None or len(acc.data) != TOKEN_ACCOUNT_LEN or str(acc.owner) not in _TOKEN_OWNERS:
            continue
        data = bytes(acc.data)
        amount = str(token_amount(data))
        out.append(
            {
                "accountIndex": index,
                "mint": str(Pubkey.from_bytes(data[:32])),
                "owner": str(Pubkey.from_bytes(data[32:64])),
                "programId": str(acc.owner),
                # decimals are not held here; the amount in base units is what we read
                "uiTokenAmount": {"amount": amount, "decimals": 0, "uiAmountString": amount},
            }
        )
    return out


def _failure_logs(tx: VersionedTransaction, exc: ProgramError) -> list[str]:
    """The program log of a failed swap (what `decode_error` reads the failing program from)."""
    ixs = tx.message.instructions
    if not 0 <= exc.index < len(ixs):
        return [exc.log_line()]
    return exc.logs(str(tx.message.account_keys[ixs[exc.index].program_id_index]))


def _preflight(err: Any, message: str, logs: list[str]) -> dict[str, Any]:
    return {
        "code": _PREFLIGHT_FAILURE,
        "message": f"Transaction simulation failed: {message}",
        "data": {"err": err, "logs": logs},
    }


class _RpcFail(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.body = body
