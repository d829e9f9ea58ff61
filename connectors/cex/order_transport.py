"""Thin async order transport: sends a venue codec's signed bytes and never duplicates an order.

No business logic: the codec (connectors/cex/orders/<venue>.py) renders and reads bytes; this
module moves them and applies each error's `retryable` / `action`:

- a timeout or connection error after the request may have left, or an answer saying the
  state is unknown (`action == "query"`: Binance -1006/-1007/5xx, OKX 50004, Bybit 10016), is
  resolved by querying the client order id BEFORE anything is sent again. If the venue has the
  order, that answer is the result. If it does not, we wait until the request's own timestamp
  window has closed on the venue clock (after which the venue refuses it, so it can never
  execute late) and query once more; only then is the same order (same client id) re-sent;
- `resync_time` (-1021, 50102, 10002): measure the venue clock again and re-sign, once;
- `backoff` (429/418, Bybit 403, rate-limit codes such as -1003/-1015, 50011, 10006): no
  retry here; every request of the venue is held back until `Retry-After` (or `backoff_s`) has
  passed, and the error goes to the caller;
- rate limits are respected before they are hit: after every answer the codec reads the
  venue's usage headers (connectors/cex/orders/limits.py: Binance `X-MBX-USED-WEIGHT-1M` /
  `X-MBX-ORDER-COUNT-*`, Bybit `X-Bapi-Limit-Status` / `-Reset-Timestamp`) and says how long to
  hold back; OKX's per-endpoint limits are counted locally. A placement that would have to
  wait is refused unsent (`backoff`: a late IOC is a stale one); queries and cancels wait (at
  most `max_wait_s`), since resolving an unknown order must not give up on our own limit;
- an ack that is not final (OKX, Bybit answer placements with an id only) is followed by
  queries until the order is final (IOC/FOK orders are final within the matching call).

The clock is injected; the venue clock is the local clock plus `clock_offset_ns`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import aiohttp

from config import Settings
from connectors import venues
from connectors.cex.orders.codec import OrderCodec
from connectors.cex.orders.common import (
    Credentials,
    OrderResult,
    OrderSpec,
    SignedRequest,
    SymbolFilters,
    venue_now_ms,
)
from connectors.cex.orders.limits import HeaderLimit, SlidingWindows
from connectors.cex.orders.updates import OrderUpdate
from connectors.order_journal import OrderRecord, order_record
from operators.errors import ConfigError, ExecutionError
from operators.events import ExecutionReport, OrderIntent

INFO_REQUESTS: dict[str, Callable[[str, str], str]] = {
    "binance": lambda sym, _m: f"/api/v3/exchangeInfo?symbol={sym}",
    "binance-usdm": lambda _s, _m: "/fapi/v1/exchangeInfo",
    "okx": lambda sym, m: (f"/api/v5/public/instruments?instType="
                           f"{'SWAP' if m == 'perp' else 'SPOT'}&instId={sym}"),
    "bybit": lambda sym, m: (f"/v5/market/instruments-info?category="
                             f"{'linear' if m == 'perp' else 'spot'}&symbol={sym}"),
}
"""Public instrument endpoint (path and query) of each venue id, for `fetch_filters`."""


@dataclass(frozen=True, slots=True)
class OrderTransportConfig:
    """Timeouts and bounds of the order transport (seconds, ms)."""

    timeout_s: float = 2.0
    recv_window_ms: int = 5000
    """Binance recvWindow / Bybit X-BAPI-RECV-WINDOW (OKX's window is fixed at 30 s)."""
    settle_queries: int = 20
    settle_interval_s: float = 0.02
    resolve_attempts: int = 5
    max_resends: int = 1
    backoff_s: float = 1.0
    """Hold-back after a rate-limit answer without Retry-After."""
    max_wait_s: float = 2.0
    """Longest a query or cancel waits for a rate-limit hold-back before giving up."""


def transport_config(settings: Settings, venue: str) -> OrderTransportConfig:
    """The order transport settings of `venue` from the typed config."""
    ex = settings.execution
    recv = settings.venues[venue].recv_window_ms if venue in settings.venues else 5000
    return OrderTransportConfig(timeout_s=ex.order_timeout_ms / 1000, recv_window_ms=recv,
                                max_resends=ex.max_resends)


@dataclass
class OrderTransportStats:
    """What the transport did (tests, health, journal)."""

    sent: deque[SignedRequest] = field(default_factory=lambda: deque(maxlen=1000))
    """The last requests sent (bounded: a long run must not grow it)."""
    timeouts: int = 0
    resolved_by_query: int = 0
    resends: int = 0
    time_resyncs: int = 0
    rate_limit_holds: int = 0
    """Answers whose usage headers (or local windows) made the transport hold back."""
    records: list[OrderRecord] = field(default_factory=list)
    """One journal row per order request sent (connectors/order_journal.py), until taken."""


class OrderTransport:
    """Orders of one venue id over REST, signed with one account's credentials."""

    def __init__(self, venue: str, base_url: str, session: aiohttp.ClientSession,
                 creds: Credentials, *, config: OrderTransportConfig | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        adapter = venues.cex(venue)
        if adapter.orders is None:
            raise ConfigError(f"venue {venue!r} has no order client")
        self.venue = venue
        self.adapter = adapter
        self.codec: OrderCodec = adapter.orders
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.creds = creds
        self.config = config or OrderTransportConfig()
        self.clock_ns = clock_ns
        self.clock_offset_ns = 0
        """Venue clock minus local clock, ns (set by `sync_time`)."""
        self.stats = OrderTransportStats()
        self._blocked_until = 0.0
        self.windows = SlidingWindows.of(self.codec.request_limits)
        """Local counts of the venue's documented per-endpoint limits (OKX)."""
        self.limits: tuple[HeaderLimit, ...] = ()
        """The account's rate limits read by `fetch_filters` (() = the codec's defaults)."""

    def take_records(self) -> list[OrderRecord]:
        """The journal rows gathered since the last call (for the journal sink)."""
        out, self.stats.records = self.stats.records, []
        return out

    def now_ms(self) -> int:
        """Venue-clock ms."""
        return venue_now_ms(self.clock_ns(), self.clock_offset_ns)

    # -- I/O ------------------------------------------------------------------------------

    async def _send(self, req: SignedRequest, *, may_wait: bool = False) -> tuple[int, bytes]:
        """Send one signed request; (status, body). Raises TimeoutError / aiohttp.ClientError,
        or `ExecutionError(action="backoff")` unsent while the venue's limits hold us back."""
        now = time.monotonic()
        wait = max(self._blocked_until - now, self.windows.wait_s(req.method, req.path, now))
        if wait > 0:
            if not may_wait or wait > self.config.max_wait_s:
                raise ExecutionError(f"rate limited for {wait:.2f} s more: not sent",
                                     retryable=True, venue=self.venue, code="backoff",
                                     action="backoff")
            await asyncio.sleep(wait)
        self.windows.note(req.method, req.path, time.monotonic())
        self.stats.sent.append(req)
        async with self.session.request(
            req.method, self.base_url + req.target, data=req.body or None,
            headers=dict(req.headers), skip_auto_headers=("Content-Type",),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
        ) as resp:
            body = await resp.read()
            self.note_answer(resp.status, resp.headers)
            return resp.status, body

    def note_answer(self, status: int, headers: Mapping[str, str]) -> None:
        """Apply an answer's rate-limit status or usage headers (REST or WS order entry)."""
        if status in self.codec.hold_statuses:
            self._hold_back(headers.get("Retry-After"))
            return
        hold_ms = self.codec.hold_ms(headers, self.now_ms(), self.limits)
        if hold_ms > 0:
            self.stats.rate_limit_holds += 1
            self._hold_for(hold_ms / 1000)

    def _hold_back(self, retry_after: str | None) -> None:
        try:
            seconds = float(retry_after) if retry_after is not None else self.config.backoff_s
        except ValueError:
            seconds = self.config.backoff_s  # an HTTP-date form: use our own hold-back
        self._hold_for(seconds)

    def _hold_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    async def sync_time(self) -> int:
        """Measure the venue clock offset (venue minus local, ns) at the round trip's midpoint."""
        t0 = self.clock_ns()
        async with self.session.get(
            self.base_url + self.adapter.server_time_path,
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
        ) as resp:
            body = await resp.read()
        t1 = self.clock_ns()
        self.clock_offset_ns = self.adapter.parse_server_time_ms(body) * 1_000_000 - (t0 + t1) // 2
        self.stats.time_resyncs += 1
        return self.clock_offset_ns

    async def fetch_filters(self, symbol: str, market: str) -> SymbolFilters:
        """The market's filters from the venue's public instrument endpoint."""
        async with self.session.get(
            self.base_url + INFO_REQUESTS[self.venue](symbol, market),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
        ) as resp:
            body = await resp.read()
        self.limits = self.codec.parse_limits(body) or self.limits
        return self.codec.parse_filters(body, symbol, market)

    # -- orders ---------------------------------------------------------------------------

    async def query(self, filters: SymbolFilters, client_order_id: str) -> OrderResult | None:
        """The venue's view of an order by client id; None when the venue has no such order."""
        cfg = self.config
        req = self.codec.query(self.creds, filters, client_order_id, self.now_ms(),
                               cfg.recv_window_ms)
        status, body = await self._send(req, may_wait=True)
        err = self.codec.error(status, body)
        if err is not None:
            if err.action == "not_found":
                return None
            raise err
        try:
            return self.codec.parse_order(body, filters, client_order_id)
        except ExecutionError as exc:
            if exc.action == "not_found":
                return None
            raise

    async def settle(self, filters: SymbolFilters, result: OrderResult) -> OrderResult:
        """Query a non-final order until it is final (bounded)."""
        cfg = self.config
        for _ in range(cfg.settle_queries):
            if result.final:
                return result
            await asyncio.sleep(cfg.settle_interval_s)
            found = await self.query(filters, result.client_order_id)
            if found is not None:
                result = found
        return result

    async def resolve(self, filters: SymbolFilters, expires_ms: int,
                      client_order_id: str) -> OrderResult | None:
        """After an unknown outcome: the order if the venue has it, None once it never can.

        `expires_ms` is the venue-clock ms after which the venue refuses the request that may
        be in flight (its timestamp + window).
        """
        cfg = self.config
        waited_out = False
        for _ in range(cfg.resolve_attempts):
            try:
                found = await self.query(filters, client_order_id)
            except (TimeoutError, aiohttp.ClientError):
                continue
            except ExecutionError as exc:
                if exc.action != "backoff":
                    raise
                await asyncio.sleep(cfg.backoff_s)  # held back by a limit: ask again later
                continue
            if found is not None:
                self.stats.resolved_by_query += 1
                return await self.settle(filters, found)
            if waited_out:
                return None
            # Not there yet: it may still be in flight. Once the venue clock passes the
            # request's window the venue refuses it, so one more miss then means never.
            left_ms = expires_ms - self.now_ms() + 1
            if left_ms > 0:
                await asyncio.sleep(left_ms / 1000)
            waited_out = True
        raise ExecutionError(f"order {client_order_id} state unknown after "
                             f"{cfg.resolve_attempts} queries", retryable=False,
                             venue=self.venue, code="unknown", action="query")

    def record(self, req: SignedRequest, filters: SymbolFilters, spec: OrderSpec,
                ts_intent_ns: int, ts_sent_ns: int, *, result: OrderResult | None = None,
                error: ExecutionError | None = None) -> None:
        """One journal row (`orders`) for a request sent, with its outcome (REST or WS)."""
        self.stats.records.append(order_record(
            req, filters, spec, result=result, error=error, ts_intent_ns=ts_intent_ns,
            ts_sent_ns=ts_sent_ns, ts_ack_ns=self.clock_ns()))

    async def place(self, filters: SymbolFilters, spec: OrderSpec, *,
                    ts_intent_ns: int = 0) -> OrderResult:
        """Place one IOC/FOK order and return its final state; `ExecutionError` if refused.

        Every request sent leaves one `OrderRecord` in `stats.records` (journal `orders`).
        """
        cfg = self.config
        resends = resyncs = 0
        while True:
            req = self.codec.place(self.creds, filters, spec, self.now_ms(), cfg.recv_window_ms)
            sent_ns = self.clock_ns()
            try:
                status, body = await self._send(req)
            except (TimeoutError, aiohttp.ClientError):
                self.stats.timeouts += 1
                found = await self.resolve(filters, req.expires_ms, spec.client_order_id)
                if found is not None:
                    self.record(req, filters, spec, ts_intent_ns, sent_ns, result=found)
                    return found
                resends += 1
                gone = ExecutionError(
                    f"order {spec.client_order_id} never reached the venue ({resends} sends)",
                    retryable=True, venue=self.venue, code="timeout")
                self.record(req, filters, spec, ts_intent_ns, sent_ns, error=gone)
                if resends > cfg.max_resends:
                    raise gone from None
                self.stats.resends += 1
                continue
            err = self.codec.error(status, body)
            if err is None:
                result = await self.settle(
                    filters, self.codec.parse_order(body, filters, spec.client_order_id))
                self.record(req, filters, spec, ts_intent_ns, sent_ns, result=result)
                return result
            if err.action == "query":
                found = await self.resolve(filters, req.expires_ms, spec.client_order_id)
                if found is not None:
                    self.record(req, filters, spec, ts_intent_ns, sent_ns, result=found)
                    return found
            self.record(req, filters, spec, ts_intent_ns, sent_ns, error=err)
            if err.action == "backoff" and status not in self.codec.hold_statuses:
                self._hold_back(None)  # a limit code in a 200 answer (OKX 50011, Bybit 10006)
            if err.action == "resync_time" and resyncs == 0:
                resyncs += 1
                await self.sync_time()
                continue
            raise err

    async def cancel(self, filters: SymbolFilters, client_order_id: str) -> OrderResult | None:
        """Cancel by client id; the order's state after the cancel, None if the venue has none.

        An IOC/FOK order is final already, so the venue's "cannot cancel" answers resolve to
        the order's own state by query.
        """
        cfg = self.config
        req = self.codec.cancel(self.creds, filters, client_order_id, self.now_ms(),
                                cfg.recv_window_ms)
        status, body = await self._send(req, may_wait=True)
        err = self.codec.error(status, body)
        if err is None:
            return self.codec.parse_order(body, filters, client_order_id)
        if err.retryable:
            raise err
        return await self.query(filters, client_order_id)


def market_quote(intent: OrderIntent) -> str:
    """The quote currency of the intent's market (the pair's when the intent does not say)."""
    return intent.quote_currency or intent.pair.rpartition("/")[2]


def execution_report(result: OrderResult, intent: OrderIntent, filters: SymbolFilters, *,
                     base_decimals: int, quote_decimals: int, ts_recv_ns: int,
                     reason: str = "") -> ExecutionReport:
    """The graph's `ExecutionReport` of one venue result (base / quote token base units).

    Quote amounts round against us (a buy's cost up, a sell's proceeds down) and stay in the
    market's own quote currency (the intent's `quote_currency`; operators/fx.py values them in
    the pair's). A fee charged in that currency becomes `fee_quote`; a fee in any other asset
    (e.g. Binance charging a buy in the base asset) stays in `extra` (`fee`, `fee_asset`) for
    the caller to convert.
    """
    qty_base = result.filled_qty_units * filters.base_per_qty
    filled_base = int(qty_base * 10**base_decimals // 10**filters.qty_decimals)
    scale = filters.price_decimals + filters.qty_decimals
    quote = result.quote_units * 10**quote_decimals
    quote_amount = quote // 10**scale if intent.side == "sell" else -(-quote // 10**scale)
    fee_quote = 0
    if result.fee and result.fee_asset and result.fee_asset == market_quote(intent):
        fee_quote = math.ceil(result.fee.scaleb(quote_decimals))  # never under-count a fee
    status: Literal["filled", "partial", "rejected", "cancelled"] = (
        "filled" if result.status == "filled" else "partial" if filled_base
        else "rejected" if result.status == "rejected" else "cancelled")
    return ExecutionReport(
        intent_id=intent.intent_id, opportunity_id=intent.opportunity_id, venue=result.venue,
        side=intent.side, status=status, filled_base=filled_base, quote_amount=quote_amount,
        fee_quote=fee_quote, reason=reason or result.raw_status,
        ts_event_ns=result.ts_event_ms * 1_000_000, ts_recv_ns=ts_recv_ns,
        ts_fill_ns=result.ts_event_ms * 1_000_000,
        extra={"client_order_id": result.client_order_id,
               "venue_order_id": result.venue_order_id, "fee": str(result.fee),
               "fee_asset": result.fee_asset})


def rejection_report(intent: OrderIntent, error: ExecutionError, *,
                     ts_recv_ns: int) -> ExecutionReport:
    """The `ExecutionReport` of an order the venue refused (or that never reached it)."""
    return ExecutionReport(
        intent_id=intent.intent_id, opportunity_id=intent.opportunity_id,
        venue=error.venue or intent.venue, side=intent.side, status="rejected", filled_base=0,
        quote_amount=0, fee_quote=0, reason=str(error), ts_event_ns=0, ts_recv_ns=ts_recv_ns,
        ts_fill_ns=ts_recv_ns,
        extra={"code": error.code, "retryable": str(error.retryable).lower(),
               "action": error.action})


def report_from_update(update: OrderUpdate, intent: OrderIntent, *, base_decimals: int,
                       quote_decimals: int) -> ExecutionReport | None:
    """The `ExecutionReport` of one private-stream update; None for an ack (nothing happened
    to the position yet) or an update the engine does not act on.

    A fill reports this execution (`last_qty` at `last_price`); cancel / expire / reject report
    the order's end with what it filled in total. Amounts in token base units, rounded against
    us, in the market's own quote currency; a fee in that currency becomes `fee_quote`, any
    other stays in `extra`.
    """
    if update.kind in ("ack", "other"):
        return None
    if update.kind in ("partial", "fill"):
        qty, quote = update.last_qty, update.last_qty * update.last_price
        status: Literal["filled", "partial", "rejected", "cancelled"] = (
            "filled" if update.kind == "fill" else "partial")
    else:
        qty, quote = update.cum_qty or Decimal(0), update.cum_quote or Decimal(0)
        status = "rejected" if update.kind == "reject" else "cancelled"
    filled_base = int(qty.scaleb(base_decimals))
    quote_units = quote.scaleb(quote_decimals)
    quote_amount = math.floor(quote_units) if intent.side == "sell" else math.ceil(quote_units)
    fee_quote = (math.ceil(update.fee.scaleb(quote_decimals))
                 if update.fee and update.fee_asset == market_quote(intent) else 0)
    return ExecutionReport(
        intent_id=intent.intent_id, opportunity_id=intent.opportunity_id, venue=update.venue,
        side=intent.side, status=status, filled_base=filled_base, quote_amount=quote_amount,
        fee_quote=fee_quote, reason=update.reason or update.kind,
        ts_event_ns=update.ts_event_ns, ts_recv_ns=update.ts_recv_ns,
        ts_fill_ns=update.ts_event_ns,
        extra={"client_order_id": update.client_order_id,
               "venue_order_id": update.venue_order_id, "trade_id": update.trade_id,
               "fee": str(update.fee), "fee_asset": update.fee_asset, "kind": update.kind})
