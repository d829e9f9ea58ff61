"""Live execution I/O: the leg commands of the graph in, execution reports (and journal rows) out.

    LiveExecStep ─► ExecOrder ─► ExecutionSink ─► ExecutionGateway (own asyncio thread)
                                                    ├─ CEX: OrderTransport per venue id
                                                    │       (signed IOC, query-before-resend)
                                                    │       + WsOrderEntry (if order_ws_url)
                                                    │       + UserStream (private orders)
                                                    └─ DEX: pool account ─► plan_swap ─►
                                                            build_swap_transaction ─► DexSender
    LiveExecStep ◄─ ExecutionReport / clock ◄─ ExecutionSource ◄─ gateway queue
    journal      ◄─ OrderRecord / TxRecord  ◄─┘

A Bytewax graph has no cycles, so the step's commands leave through a sink and the reports come
back through a source merged into the same keyed step. The gateway owns every socket: one
aiohttp session for the CEX order transports, one `SolanaRpc` (every configured endpoint: the
sender broadcasts to each healthy one), the `BlockhashRefresher` and the `WsolKeeper`
(background services, their `svc:<name>` health journaled), all on one background event
loop. `submit()` is thread-safe and never blocks the dataflow.

The REST answer of an IOC order is its report. A venue with `order_ws_url` places its orders
over its WS order entry instead (`connectors/cex/ws_orders.py`: one logged-in socket per
account, same client ids, a missing answer resolved by REST query, never re-sent); queries
stay REST. The account's private stream (when the venue
has `private_ws_url`) runs beside it: after a reconnect it reconciles the orders still in
flight by client id, its up/down are journaled as health, and when REST cannot tell an order's
fate (state unknown after its queries) the stream's final update for that client id makes the
gateway read the order's totals once more instead of reporting it lost.

Idempotence: a client order id is derived from (opportunity, leg, attempt)
(`connectors/cex/orders/ids.py`); a command whose id was already sent is never sent again
(`query` commands ask the venue instead), and a timed-out order is resolved by query before any
re-send (`OrderTransport.place`). A DEX leg's signature is sent (and re-broadcast) only by the
`DexSender` of its one signed transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import aiohttp
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from config import MarketSettings, PairSettings, Settings
from connectors import venues
from connectors.cex.order_transport import (
    OrderTransport,
    execution_report,
    rejection_report,
    transport_config,
)
from connectors.cex.orders.common import Credentials, SymbolFilters, order_from_intent
from connectors.cex.orders.ids import client_order_id
from connectors.cex.orders.keys import load_credentials
from connectors.cex.orders.updates import OrderUpdate
from connectors.cex.user_stream import (
    TrackedOrders,
    UserStream,
    reconcile_by_query,
    stream_config,
)
from connectors.cex.ws_orders import WsOrderEntry
from connectors.keypair import Signer, load_keypair
from connectors.order_journal import OrderRecord
from connectors.secrets import resolve_rpc, resolve_secret, resolve_url
from connectors.solana.blockhash import BlockhashCache, BlockhashRefresher, BlockhashSettings
from connectors.solana.compute import cu_limit_for, cu_price_micro_lamports
from connectors.solana.programs import associated_token_address
from connectors.solana.rpc import SolanaRpc
from connectors.solana.sender import DexLeg, DexSender, SendSettings, TxRecord
from connectors.solana.service import RetryPolicy
from connectors.solana.sig_ledger import SignatureLedger
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import build_swap_transaction
from connectors.solana.wsol import NATIVE_MINT, WsolPolicy
from connectors.solana.wsol_keeper import WsolKeeper, WsolKeeperSettings
from operators.errors import ConfigError, ExecutionError, SolarbError
from operators.events import ExecutionReport, HealthEvent, OrderIntent
from operators.fx import stamp

__all__ = [
    "DEX_LEDGER",
    "ExecClock",
    "ExecOrder",
    "ExecutionGateway",
    "ExecutionSink",
    "ExecutionSource",
    "LegName",
    "order_client_id",
]

LegName = Literal["buy", "sell", "hedge"]
DEX_LEDGER = "dex_signatures.jsonl"
"""The run folder's file of DEX legs' signed transactions (`connectors/solana/sig_ledger.py`)."""
FINAL_UPDATES = ("fill", "cancel", "expire", "reject")
MAX_REMEMBERED_UPDATES = 10_000
MAX_INTENT_TERMS = 10_000
"""Intents whose currency and ratio the gateway keeps to stamp their reports (oldest dropped)."""
STREAM_WAIT_S = 2.0
"""How long an order REST could not resolve waits for the private stream's word on it."""
CLOCK_EVERY_S = 0.1
"""How often the source emits an `ExecClock` (the leg machine's timeouts need a clock even
when no market data arrives)."""


@dataclass(frozen=True, slots=True)
class ExecOrder:
    """One order the live step asks the gateway to send (`send`/`hedge`/`unwind`) or resolve
    (`query`). `intent` is what to trade (limit in total quote units); `leg` and `attempt` make
    the client order id; the CU price is the opportunity's priority fee (DEX legs)."""

    kind: Literal["send", "hedge", "unwind", "query"]
    intent: OrderIntent
    leg: LegName
    attempt: int
    cu_price_micro_lamports: int
    slice_no: int = 0
    """1..35 for a slice of a sliced CEX leg (its own client id), else 0."""
    query_first: bool = False
    """CEX: ask the venue about the client id first and send only if it does not know it (a
    restored step cannot tell whether the order went out after its snapshot)."""


@dataclass(frozen=True, slots=True)
class ExecClock:
    """Wall-clock time for the live step's leg timeouts (ns, the reports' clock)."""

    ts_recv_ns: int


def order_client_id(order: ExecOrder) -> str:
    """The order's client id: deterministic from (opportunity, leg, attempt, slice)."""
    return client_order_id(order.intent.opportunity_id, order.leg, order.attempt, order.slice_no)


@dataclass(frozen=True, slots=True)
class _Market:
    pair: PairSettings
    market: MarketSettings


class ExecutionGateway:
    """Every execution socket of a live run, on one background event loop (see module doc).

    `credentials` / `signer` replace the keychain and the sealed keypair file (tests, loopback);
    production reads them from the config's keychain references.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        credentials: dict[str, Credentials] | None = None,
        signer: Signer | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.clock_ns = clock_ns
        self.markets: dict[str, _Market] = {
            m.market_id: _Market(p, m) for p in settings.pairs for m in (*p.markets, *p.hedges)
        }
        """Every tradeable market by id: the pairs' legs and their perp hedges."""
        self._credentials = credentials
        self.signer = signer
        self._out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.inflight = 0
        self.last_activity = time.monotonic()
        self.sent_ids: set[str] = set()
        self.intent_terms: OrderedDict[str, OrderIntent] = OrderedDict()
        """Intent id -> the intent of an order handled (bounded): its reports carry its market
        currency and ratio (`operators.fx.stamp`), whichever path reports them."""
        """Client order ids / intent ids already sent: never sent again."""
        self.signatures: set[str] = set()
        """Signatures of every swap signed: a new leg never reuses one."""
        self.ledger = SignatureLedger()
        """Every DEX leg's signed transaction, written before its broadcast (`use_ledger`
        makes it durable, so a restart resolves an in-flight leg by its signature)."""
        self.submitted = 0
        self.errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self.transports: dict[str, OrderTransport] = {}
        self.ws_entries: dict[str, WsOrderEntry] = {}
        """Venue ids whose orders go over WS order entry (`order_ws_url`)."""
        self.filters: dict[str, SymbolFilters] = {}
        self.rpc: SolanaRpc | None = None
        self.blockhashes: BlockhashRefresher | None = None
        self.sender: DexSender | None = None
        self.missing_accounts: set[str] = set()
        self.wsol: WsolKeeper | None = None
        self.streams: list[UserStream] = []
        self.tracked: dict[str, TrackedOrders] = {}
        self.final_updates: dict[str, OrderUpdate] = {}
        """Client id -> the private stream's final update (bounded, oldest dropped first)."""
        self.stream_updates = 0
        self._bg: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def use_ledger(self, path: Path) -> None:
        """Keep the DEX legs' signatures in `path` (the run's folder: a resumed run reads the
        lines its killed predecessor wrote; a new run starts its own file)."""
        self.ledger = SignatureLedger(path)

    def start(self, timeout_s: float = 30.0) -> ExecutionGateway:
        """Start the loop thread and connect (clock sync, filters, RPC, blockhash); raise the
        set-up error if any, so a live run refuses to start rather than trade half-wired."""
        ready = threading.Event()
        failure: list[Exception] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._setup())
            except (SolarbError, aiohttp.ClientError, OSError, ValueError, KeyError) as exc:
                # handed to the caller's thread below
                failure.append(exc)
                ready.set()
                loop.run_until_complete(self._teardown())
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._teardown())
            loop.close()

        self._thread = threading.Thread(target=run, name="exec-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise ExecutionError("execution gateway did not connect in time", retryable=True)
        if failure:
            self._thread.join(5.0)
            exc = failure[0]
            if isinstance(exc, SolarbError):
                raise exc
            raise ExecutionError(
                f"execution gateway set-up failed: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        return self

    def close(self) -> None:
        """Stop the loop and close every socket (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10.0)
        self._thread = None

    async def _setup(self) -> None:
        s = self.settings
        if any(venues.is_cex(m.market.venue) for m in self.markets.values()):
            self._session = aiohttp.ClientSession()
        for key, mk in sorted(self.markets.items()):
            m = mk.market
            if not venues.is_cex(m.venue):
                continue
            vid = venues.cex(m.venue).source_for(m.market)
            if vid not in self.transports:
                creds = self._creds(m.venue)
                assert self._session is not None
                t = OrderTransport(
                    vid,
                    resolve_url(s.venues[m.venue].rest_url),
                    self._session,
                    creds,
                    config=transport_config(s, m.venue),
                    clock_ns=self.clock_ns,
                )
                await t.sync_time()
                self.transports[vid] = t
            self.filters[key] = await self.transports[vid].fetch_filters(m.symbol, m.market)
        for vid, transport in sorted(self.transports.items()):
            url = s.venues[vid].private_ws_url if vid in s.venues else ""
            if url:
                self._start_user_stream(vid, resolve_url(url), transport)
            order_url = s.venues[vid].order_ws_url if vid in s.venues else ""
            if order_url:
                if transport.codec.ws_orders is None:
                    raise ConfigError(f"venues.{vid}.order_ws_url: {vid} has no WS order entry")
                assert self._session is not None
                entry = WsOrderEntry(resolve_url(order_url), self._session, transport)
                await entry.connect()  # logged in before the first order, not on its path
                self.ws_entries[vid] = entry
        if any(not venues.is_cex(m.market.venue) for m in self.markets.values()):
            await self._setup_dex()

    def _start_user_stream(self, vid: str, url: str, transport: OrderTransport) -> None:
        """The account's private order stream: fills as the venue pushes them, reconciled by
        client id after every reconnect; its up/down go to the journal's health table."""
        assert self._session is not None
        tracked = self.tracked[vid] = TrackedOrders()
        stream = UserStream(
            vid, url, self._session, transport.creds, self._on_stream_item,
            reconcile=reconcile_by_query(transport, tracked, self.clock_ns),
            config=stream_config(self.settings), clock_ns=self.clock_ns,
            offset_ns=transport.clock_offset_ns,
            rest_url=resolve_url(self.settings.venues[vid].rest_url),  # listenKey venues
        )  # fmt: skip
        self.streams.append(stream)
        self._bg.append(asyncio.ensure_future(self._run_stream(stream)))

    async def _run_stream(self, stream: UserStream) -> None:
        try:
            await stream.run()
        except ExecutionError as exc:  # a refused login: keys are wrong, retrying cannot help
            self.errors.append(f"{stream.venue} private stream: {exc}")
            now = self.clock_ns()
            self._on_stream_item(HealthEvent(f"{stream.venue}:orders", "down", str(exc), now, now))

    def _on_stream_item(self, item: OrderUpdate | HealthEvent) -> None:
        if isinstance(item, HealthEvent):
            self._emit(self.pairs[0], item)  # journal only (health table)
            return
        self.stream_updates += 1
        tracked = self.tracked.get(item.venue)
        if tracked is not None:
            tracked.settle(item)
        if item.kind in FINAL_UPDATES:
            self.final_updates[item.client_order_id] = item
            while len(self.final_updates) > MAX_REMEMBERED_UPDATES:
                self.final_updates.pop(next(iter(self.final_updates)))

    async def _stream_says_final(self, vid: str, cid: str) -> bool:
        """Whether the private stream reports `cid` final within `STREAM_WAIT_S`."""
        if vid not in self.tracked:
            return False
        deadline = time.monotonic() + STREAM_WAIT_S
        while time.monotonic() < deadline:
            if cid in self.final_updates:
                return True
            await asyncio.sleep(0.05)
        return cid in self.final_updates

    async def _setup_dex(self) -> None:
        s = self.settings
        if self.signer is None:
            d = s.dex_execution
            if not d.keypair_path or d.keypair_password is None:
                raise ConfigError(
                    "dex_execution.keypair_path and keypair_password (a keychain reference) "
                    "are needed to send DEX legs"
                )
            self.signer = load_keypair(d.keypair_path, resolve_secret(d.keypair_password))
        rpc = SolanaRpc(resolve_rpc(s.rpc), max_slot_lag=s.risk.max_slot_lag)
        await rpc.start()
        self.rpc = rpc
        d = s.dex_execution
        cache = BlockhashCache(BlockhashSettings.from_config(d))
        self.blockhashes = BlockhashRefresher(
            rpc.get_latest_blockhash, rpc.get_block_height, cache,
            retry=RetryPolicy.from_config(d), on_health=self._on_service_health,
        )  # fmt: skip
        await self.blockhashes.start()
        self.sender = DexSender(rpc, SendSettings.from_config(s.dex_execution))
        owner = str(self.signer.pubkey())
        atas = sorted(
            {
                str(associated_token_address(owner, mint))
                for mk in self.markets.values()
                if not venues.is_cex(mk.market.venue)
                for mint in (mk.pair.base_mint, mk.pair.quote_mint)
                if mint
            }
        )
        found = await rpc.get_multiple_accounts(atas) if atas else []
        self.missing_accounts = {a for a, acc in zip(atas, found) if acc is None}
        if any(mk.pair.base_mint == NATIVE_MINT or mk.pair.quote_mint == NATIVE_MINT
               for mk in self.markets.values()):  # fmt: skip
            # swaps spend from and pay into one wSOL account: the keeper keeps it funded
            self.wsol = WsolKeeper(
                rpc, self.signer, self.blockhashes, WsolPolicy.from_config(d),
                WsolKeeperSettings.from_config(d), retry=RetryPolicy.from_config(d),
                on_health=self._on_service_health,
            )  # fmt: skip
            await self.wsol.start()

    async def _teardown(self) -> None:
        for stream in self.streams:
            stream.stop()
        for entry in self.ws_entries.values():
            await entry.close()
        for task in self._bg:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for service in (self.wsol, self.blockhashes):
            if service is not None:
                try:
                    await service.stop()
                except ExecutionError as exc:  # what crashed it: kept for the report
                    self.errors.append(f"{service.name}: {exc}")
        if self.rpc is not None:
            await self.rpc.close()
        if self._session is not None:
            await self._session.close()
        # orders still in flight die with the loop (a DEX leg's signature is in the ledger:
        # the next run resolves it); cancelled here, not destroyed half-run by a closed loop
        orphans = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in orphans:
            task.cancel()
        await asyncio.gather(*orphans, return_exceptions=True)

    def _creds(self, venue: str) -> Credentials:
        if self._credentials is not None:
            if venue not in self._credentials:
                raise ConfigError(f"venues.{venue}: no trading credentials given")
            return self._credentials[venue]
        return load_credentials(venue, self.settings.venues[venue])

    # -- the dataflow side --------------------------------------------------------------------

    def submit(self, order: ExecOrder) -> None:
        """Hand one order to the loop (thread-safe, non-blocking)."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise ExecutionError("execution gateway is not running", retryable=False)
        with self._lock:
            self.inflight += 1
            self.submitted += 1
            self.last_activity = time.monotonic()
        asyncio.run_coroutine_threadsafe(self._handle(order), loop)

    def take(self) -> list[tuple[str, Any]]:
        """Everything produced since the last call, keyed by pair: reports and journal rows."""
        out: list[tuple[str, Any]] = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def drained(self, quiet_s: float) -> bool:
        """No order in flight and nothing submitted or reported for `quiet_s` seconds."""
        with self._lock:
            return self.inflight == 0 and time.monotonic() - self.last_activity >= quiet_s

    def _emit(self, pair: str, *items: Any) -> None:
        for item in items:
            if isinstance(item, ExecutionReport):
                known = self.intent_terms.get(item.intent_id)
                if known is not None:  # the venue's own amounts, valued at the intent's ratio
                    item = stamp(item, known)
            self._out.put((pair, item))

    @property
    def pairs(self) -> list[str]:
        """Every configured pair name (the source's clock goes to each)."""
        return sorted({mk.pair.name for mk in self.markets.values()})

    async def _handle(self, order: ExecOrder) -> None:
        terms = self.intent_terms
        terms[order.intent.intent_id] = order.intent
        terms.move_to_end(order.intent.intent_id)
        while len(terms) > MAX_INTENT_TERMS:
            terms.popitem(last=False)
        try:
            await self._dispatch(order)
        except (SolarbError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            # every failure ends in a reported outcome: the legs must hear of it
            err = exc if isinstance(exc, ExecutionError) else ExecutionError(
                f"{type(exc).__name__}: {exc}", retryable=False, venue=order.intent.venue
            )
            self.errors.append(str(err))
            if order.kind != "query":
                self._emit(order.intent.pair,
                           rejection_report(order.intent, err, ts_recv_ns=self.clock_ns()))
        finally:
            with self._lock:
                self.inflight -= 1
                self.last_activity = time.monotonic()

    async def _dispatch(self, order: ExecOrder) -> None:
        i = order.intent
        mk = self.markets.get(i.market_id)
        if mk is None:
            raise ExecutionError(f"market {i.market_id} is not configured", retryable=False)
        if venues.is_cex(mk.market.venue):
            await self._cex(order, mk)
        else:
            await self._dex(order, mk)

    # -- CEX ----------------------------------------------------------------------------------

    async def _cex(self, order: ExecOrder, mk: _Market) -> None:
        i, m, p = order.intent, mk.market, mk.pair
        transport = self.transports[venues.cex(m.venue).source_for(m.market)]
        filters = self.filters[i.market_id]
        cid = order_client_id(order)
        if order.kind == "query":
            found = await transport.query(filters, cid)
            if found is not None and found.final:
                self._emit(p.name, *self._cex_reports(found, i, filters, p, "by query"))
            return
        if cid in self.sent_ids:
            return  # never re-sent: its outcome is (or will be) reported by the first send
        self.sent_ids.add(cid)
        if order.query_first:
            found = await transport.query(filters, cid)
            if found is not None:  # it went out before the restart: report it, send nothing
                if found.final:
                    self._emit(p.name, *self._cex_reports(found, i, filters, p, "by query"))
                return  # not final yet: the legs' timeout queries it again
        spec = order_from_intent(
            filters, side=i.side, size_base=i.size_base, limit_quote=i.limit_quote,
            base_decimals=p.base_decimals, quote_decimals=p.quote_decimals, tif="IOC",
            client_order_id=cid,
        )  # fmt: skip
        tracked = self.tracked.get(transport.venue)
        if tracked is not None:
            tracked.track(filters, cid, i.side)
        ws = self.ws_entries.get(transport.venue)
        try:
            if ws is not None:
                result = await ws.place(filters, spec, ts_intent_ns=i.ts_intent_ns)
            else:
                result = await transport.place(filters, spec, ts_intent_ns=i.ts_intent_ns)
        except ExecutionError as exc:
            self._emit(p.name, *transport.take_records())
            if exc.action == "query" and await self._stream_says_final(transport.venue, cid):
                # REST could not tell, the private stream saw it end: read its totals once more
                found = await transport.query(filters, cid)
                if found is not None and found.final:
                    self._emit(p.name,
                               *self._cex_reports(found, i, filters, p, "by user stream"))
                    return
            self._emit(p.name, rejection_report(i, exc, ts_recv_ns=self.clock_ns()))
            return
        if tracked is not None:
            tracked.orders.pop(cid, None)
        self._emit(p.name, *transport.take_records(),
                   *self._cex_reports(result, i, filters, p, ""))

    def _cex_reports(
        self, result: Any, i: OrderIntent, filters: SymbolFilters, p: PairSettings, why: str
    ) -> list[ExecutionReport]:
        """The reports of one final order: one, or for an IOC that filled part, its `partial`
        fill and a `cancelled` report of nothing for the rest (the paper venue's shape: the
        readers count the partial, the legs close on the cancel)."""
        r = execution_report(
            result, i, filters, base_decimals=p.base_decimals, quote_decimals=p.quote_decimals,
            ts_recv_ns=self.clock_ns(), reason=why,
        )  # fmt: skip
        r = self._perp_fee(r, result, self.markets[i.market_id])
        if r.status != "partial" or not result.final:
            return [r]
        rest = i.size_base - r.filled_base
        expired = replace(
            r, status="cancelled", filled_base=0, quote_amount=0, fee_quote=0,
            reason=f"IOC: {rest} base units past the limit expired ({result.raw_status})",
        )  # fmt: skip
        return [r, expired]

    def _perp_fee(self, r: ExecutionReport, result: Any, mk: _Market) -> ExecutionReport:
        """A perp hedge's fee in its market's quote currency, as its amounts are (a USDT perp
        charging USDT: as charged, `execution_report`; another asset: valued at `[fx]`), and a
        USD-M `RESULT` answer carries no fee at all (then the venue's configured
        `taker_fee_bps` on the notional, rounded up); `extra["fee_source"]` says which."""
        p = mk.pair
        if mk.market.market != "perp" or r.fee_quote or not r.filled_base:
            return r
        fx = self.settings.fx
        fee, asset = result.fee, result.fee_asset
        currency = mk.market.quote_currency
        if fee and asset in fx and currency in fx:
            value = Decimal(fee) * fx[asset] / fx[currency]
            fee_quote = math.ceil(value.scaleb(p.quote_decimals))
            source = f"{fee} {asset} at [fx] in {currency}"
        elif not fee:
            bps = Decimal(str(self.settings.venues[mk.market.venue].taker_fee_bps))
            fee_quote = math.ceil(r.quote_amount * bps / 10_000)
            source = f"no fee in the venue's answer: taker_fee_bps {bps} of the notional"
        else:
            return r  # a fee in an asset with no [fx] value stays in `extra` (`fee`, `fee_asset`)
        return replace(r, fee_quote=fee_quote, extra={**r.extra, "fee_source": source})

    # -- DEX ----------------------------------------------------------------------------------

    async def _dex(self, order: ExecOrder, mk: _Market) -> None:
        if order.kind == "query":
            await self._dex_query(order, mk)
            return
        i, m = order.intent, mk.market
        if i.intent_id in self.sent_ids or self.ledger.get(i.intent_id) is not None:
            return  # sent by this process (its sender reports) or by one before it (query)
        self.sent_ids.add(i.intent_id)
        assert self.rpc is not None and self.sender is not None and self.signer is not None
        assert self.blockhashes is not None
        adapter = venues.dex(m.venue)
        (acc,) = await self.rpc.get_multiple_accounts([m.address])
        if acc is None:
            raise ExecutionError(f"{i.market_id}: market account not found", retryable=True)
        decoded = adapter.decode_main(acc.data)
        if hasattr(decoded, "address") and not decoded.address:
            decoded = replace(decoded, address=m.address)
        base, quote = self._mints(adapter, decoded, mk)
        owner = str(self.signer.pubkey())
        buy = i.side == "buy"
        request = SwapRequest(
            venue=m.venue, market_address=m.address, market=decoded, owner=owner,
            input_mint=quote if buy else base, exact_in=not buy, amount=i.size_base,
            limit=i.limit_quote, quoted_in=i.limit_quote if buy else i.size_base,
            quoted_out=i.size_base if buy else i.limit_quote,
        )  # fmt: skip
        if adapter.complete_swap is not None:
            # the builder needs more than the main account (OpenBook's book sides): the
            # accounts the adapter names, fetched now so the makers are the book's current ones
            request = adapter.complete_swap(request, await self._wanted(adapter, decoded, m))
        leg = DexLeg(i.intent_id, i.opportunity_id, 0 if buy else 1, m.venue, m.address, i.side,
                     owner)  # fmt: skip
        # the engine priced the priority fee at `gas.cu_limit`: the same lamports, spread over
        # this venue's own limit (connectors/solana/compute.py)
        cu_limit = cu_limit_for(m.venue, self.settings)
        fee = -(-self.settings.gas.cu_limit * order.cu_price_micro_lamports // 1_000_000)
        recent = self.blockhashes.current()
        cu_price = cu_price_micro_lamports(fee, cu_limit)
        while True:
            signed = build_swap_transaction(
                adapter, request, payer=self.signer.solders_keypair(),
                recent_blockhash=recent.blockhash, cu_limit=cu_limit,
                cu_price_micro_lamports=cu_price, missing_token_accounts=self.missing_accounts,
            )  # fmt: skip
            if signed.signature not in self.signatures:
                break
            # the same bytes as an earlier leg (same amounts, limit and blockhash): the cluster
            # would take it for that transaction; one micro-lamport more makes it its own
            cu_price += 1
        self.signatures.add(signed.signature)
        # written down before any endpoint sees the bytes: a crash from here on leaves a leg
        # that a restart resolves by this signature, never by a new transaction
        self.ledger.record(leg, signed, recent.last_valid_block_height)
        report, record = await self.sender.execute(leg, signed, recent.last_valid_block_height)
        if record.status == "landed":
            self.missing_accounts.clear()  # created idempotently by the landed transaction
        self._emit(mk.pair.name, record, report)

    async def _wanted(self, adapter: Any, decoded: Any, m: MarketSettings) -> dict[str, Any]:
        """The market's other accounts (`wanted_accounts`), decoded, by address."""
        assert self.rpc is not None
        keys = adapter.wanted_accounts(m.address, decoded, not m.tick_arrays)
        found = await self.rpc.get_multiple_accounts(keys) if keys else []
        out: dict[str, Any] = {}
        for key, acc in zip(keys, found):
            if acc is None:
                raise ExecutionError(f"{m.market_id}: account {key} not found", retryable=True)
            dec = adapter.decoder_for(acc.data)
            if dec is None:
                raise ExecutionError(f"{m.market_id}: account {key} has no {m.venue} decoder",
                                     retryable=False)  # fmt: skip
            out[key] = dec.decode(acc.data)
        return out

    async def _dex_query(self, order: ExecOrder, mk: _Market) -> None:
        """Resolve a DEX leg by its signature: the leg of an earlier process (its sender died
        with it) is asked of the RPCs and reported landed / failed / expired; nothing is sent.
        This process's own legs are reported by their sender."""
        i = order.intent
        if i.intent_id in self.sent_ids:
            return
        entry = self.ledger.get(i.intent_id)
        if entry is None:
            if self.ledger.path is None:
                self.errors.append(f"{i.intent_id}: no signature ledger: cannot resolve by "
                                   "signature")  # fmt: skip
                return
            # the ledger line is written before the first broadcast: no line, never sent
            self._emit(mk.pair.name, rejection_report(
                i, ExecutionError("never broadcast (no signature in the ledger)",
                                  retryable=False, venue=i.venue),
                ts_recv_ns=self.clock_ns(),
            ))  # fmt: skip
            return
        assert self.sender is not None
        resolved = await self.sender.resolve(entry.leg, entry.signed,
                                             entry.last_valid_block_height)  # fmt: skip
        if resolved is None:
            return  # still within its blockhash's validity: the legs ask again later
        report, record = resolved
        if record.status == "landed":
            self.missing_accounts.clear()
        self.sent_ids.add(i.intent_id)  # resolved once: a later query is not answered twice
        self._emit(mk.pair.name, record, replace(report, reason=f"{report.reason} by signature"))

    def _mints(self, adapter: Any, decoded: Any, mk: _Market) -> tuple[str, str]:
        p = mk.pair
        if p.base_mint and p.quote_mint:
            return p.base_mint, p.quote_mint
        if adapter.tokens is None:
            raise ExecutionError(f"{mk.market.market_id}: mints unknown", retryable=False)
        t = adapter.tokens(decoded)
        a_is_base = t.fixed_order or mk.market.base_is_a
        return (t.mint_a, t.mint_b) if a_is_base else (t.mint_b, t.mint_a)

    def _on_service_health(self, ev: HealthEvent) -> None:
        self._emit(self.pairs[0], ev)  # journal only (health table, `svc:<name>`)


# -- Bytewax source and sink -------------------------------------------------------------------


class _SourcePartition(StatefulSourcePartition[tuple[str, Any], None]):
    def __init__(self, gateway: ExecutionGateway, done: Callable[[], bool], quiet_s: float,
                 max_drain_s: float) -> None:  # fmt: skip
        self.gateway = gateway
        self.done = done
        self.quiet_s = quiet_s
        self.max_drain_s = max_drain_s
        self.drain_started: float | None = None
        self.next_clock = datetime.now(UTC)

    def next_batch(self) -> list[tuple[str, Any]]:
        out = self.gateway.take()
        now = datetime.now(UTC)
        if now >= self.next_clock:
            clock = ExecClock(self.gateway.clock_ns())
            out += [(pair, clock) for pair in self.gateway.pairs]
            self.next_clock = now + timedelta(seconds=CLOCK_EVERY_S)
        if not out and self.done():
            t = time.monotonic()
            if self.drain_started is None:
                self.drain_started = t
            if self.gateway.drained(self.quiet_s) or t - self.drain_started > self.max_drain_s:
                raise StopIteration
        return out

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + timedelta(seconds=0.01)

    def snapshot(self) -> None:
        return None  # the venues hold the truth; a restart resolves by client id


class ExecutionSource(FixedPartitionedSource[tuple[str, Any], None]):
    """(pair, item): the gateway's reports, journal rows and a clock; ends once `done()` and
    drained (no order in flight, quiet for `quiet_s`; at most `max_drain_s` after `done()`)."""

    def __init__(self, gateway: ExecutionGateway, done: Callable[[], bool], *,
                 quiet_s: float = 2.0, max_drain_s: float = 60.0) -> None:  # fmt: skip
        self.gateway = gateway
        self.done = done
        self.quiet_s = quiet_s
        self.max_drain_s = max_drain_s

    def list_parts(self) -> list[str]:
        return ["execution"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SourcePartition:
        return _SourcePartition(self.gateway, self.done, self.quiet_s, self.max_drain_s)


class _SinkPartition(StatelessSinkPartition[ExecOrder]):
    def __init__(self, gateway: ExecutionGateway) -> None:
        self.gateway = gateway

    def write_batch(self, items: list[ExecOrder]) -> None:
        for order in items:
            self.gateway.submit(order)

    def close(self) -> None:
        # the sink ends only after the execution source has (its orders come from the step
        # the source feeds), so nothing is left in flight: `python -m bytewax.run` ends here
        self.gateway.close()


class ExecutionSink(DynamicSink[ExecOrder]):
    """Hands the live step's orders to the gateway (one worker: the gateway is in-process)."""

    def __init__(self, gateway: ExecutionGateway) -> None:
        self.gateway = gateway

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SinkPartition:
        return _SinkPartition(self.gateway)


JournalRow = OrderRecord | TxRecord
