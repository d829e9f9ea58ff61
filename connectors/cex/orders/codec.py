"""The shape every venue order codec has, and the helpers they share to read answers.

A codec is sans-I/O: `place`/`cancel`/`query` render a `SignedRequest` from an `OrderSpec` or a
client id, a venue-clock timestamp and the credentials; `parse_order` reads the venue's answer
into an `OrderResult`; `error` maps an HTTP status and body to the venue's `ExecutionError`
(or None when the answer is a success). The transport (connectors/cex/order_transport.py) only
moves bytes and applies the error's `retryable` / `action`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Protocol, TypeVar

import msgspec

from connectors.cex.orders.common import (
    Credentials,
    OrderResult,
    OrderSpec,
    SignedRequest,
    SymbolFilters,
)
from connectors.cex.orders.limits import HeaderLimit, RequestLimit
from connectors.cex.orders.private import PrivateStream
from operators.errors import ConfigError, ExecutionError


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one venue error code is handled: retryable or not, and what must happen first."""

    retryable: bool
    action: str = ""
    """`resync_time` (measure the clock again), `backoff` (rate limit), `query` (the order's
    state is unknown: ask by client id before anything is re-sent), `not_found` or ""."""


@dataclass(frozen=True, slots=True)
class WsAnswer:
    """A WS order-entry answer in the REST codec's terms: its request id, an HTTP-like status
    and a REST-shaped body (so `error` / `parse_order` read it), plus any rate-limit headers."""

    request_id: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class WsOrderCodec(Protocol):
    """One venue's WebSocket order entry, sans-I/O (connectors/cex/ws_orders.py moves it).

    The request id is the client order id (unique per order, within every venue's id rules),
    so an answer is matched to its order without any state here.
    """

    def steps(self, creds: Credentials, now_ms: int) -> list[bytes]:
        """What to send after connecting, each answered before the next (login)."""
        ...

    def step_reply(self, frame: bytes) -> bool | None:
        """True: the step succeeded; False: refused; None: not a reply to a step."""
        ...

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> bytes:
        """The signed placement frame (request id = `spec.client_order_id`)."""
        ...

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> bytes:
        """The signed cancel frame (request id = `cancel_request_id(client_order_id)`)."""
        ...

    def answer(self, frame: bytes) -> WsAnswer | None:
        """The answer to a request in `frame`, or None (pushes, pongs, login events)."""
        ...


def cancel_request_id(client_order_id: str) -> str:
    """The WS request id of a cancel: the client id with its first letter `C` (ours all start
    with `S`), so it never equals a placement's id and keeps every venue's id rules."""
    return "C" + client_order_id[1:]


class OrderCodec(Protocol):
    """One venue's order client, sans-I/O."""

    venue: str
    needs_passphrase: bool
    """Whether the venue's API keys come with a passphrase (OKX)."""
    key_types: tuple[str, ...]
    """API key types the venue signs with (`hmac`, `ed25519`)."""
    pre_sign_window_ms: int
    """How far ahead of the venue clock a timestamp may be before it is refused."""
    user_stream: PrivateStream | None
    """The venue's private order stream (connectors/cex/orders/<venue>_ws.py), if built."""
    hold_statuses: frozenset[int]
    """HTTP statuses that mean "rate limited": every request is held back (Retry-After)."""
    request_limits: tuple[RequestLimit, ...]
    """Documented per-endpoint limits the venue reports in no header (counted locally)."""
    ws_orders: WsOrderCodec | None
    """The venue's WebSocket order entry, where it exists and is faster than REST."""

    def hold_ms(self, headers: Mapping[str, str], now_ms: int,
                limits: tuple[HeaderLimit, ...] = ()) -> int:
        """ms (venue clock) to hold every request back after an answer with `headers`
        (`limits`: the account's own as `parse_limits` read them, () for the defaults)."""
        ...

    def parse_limits(self, body: bytes) -> tuple[HeaderLimit, ...]:
        """The account's limits declared in the instrument answer (Binance `rateLimits`)."""
        ...

    def place(self, creds: Credentials, filters: SymbolFilters, spec: OrderSpec, ts_ms: int,
              recv_window_ms: int) -> SignedRequest: ...

    def cancel(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
               ts_ms: int, recv_window_ms: int) -> SignedRequest: ...

    def query(self, creds: Credentials, filters: SymbolFilters, client_order_id: str,
              ts_ms: int, recv_window_ms: int) -> SignedRequest: ...

    def parse_filters(self, body: bytes, symbol: str, market: str) -> SymbolFilters: ...

    def parse_order(self, body: bytes, filters: SymbolFilters,
                    client_order_id: str) -> OrderResult: ...

    def error(self, status: int, body: bytes) -> ExecutionError | None: ...

    def ack_is_final(self, market: str) -> bool:
        """Whether the placement answer already carries the order's final state."""
        ...


def classify(venue: str, table: dict[str, ErrorRule], code: str, message: str,
             status: int) -> ExecutionError:
    """The `ExecutionError` for a venue error `code` (HTTP status as a fallback)."""
    rule = table.get(code)
    if rule is None:
        if status in (418, 429):
            rule = ErrorRule(True, "backoff")
        elif status >= 500:
            rule = ErrorRule(True, "query")
        else:
            rule = ErrorRule(False)
    return ExecutionError(f"HTTP {status} code {code}: {message[:200]}", retryable=rule.retryable,
                          venue=venue, code=code, action=rule.action)


def bad_answer(venue: str, what: str, body: bytes) -> ExecutionError:
    """An answer we cannot read: the order's state is unknown, so query before anything else."""
    return ExecutionError(f"unreadable {what}: {body[:160]!r}", retryable=True, venue=venue,
                          code="decode", action="query")


T = TypeVar("T")


def try_decode(body: bytes | msgspec.Raw, type_: type[T]) -> T | None:
    """`body` decoded as `type_` (a venue wire schema), or None when it is not that shape."""
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode_answer(body: bytes | msgspec.Raw, type_: type[T], venue: str, what: str) -> T:
    """`body` decoded as `type_`; an unreadable answer is `bad_answer` (state unknown: query)."""
    out = try_decode(body, type_)
    if out is None:
        raise bad_answer(venue, what, bytes(body))
    return out


def decode_config(body: bytes, type_: type[T], venue: str, what: str) -> T:
    """A public instrument answer decoded as `type_`; `ConfigError` when unreadable."""
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"{venue}: bad {what} body ({exc})") from None


def unreadable_error(venue: str, table: dict[str, ErrorRule], status: int,
                     body: bytes) -> ExecutionError:
    """The error of an answer whose body is not the venue's JSON: a 200 we cannot read leaves
    the order's state unknown (`bad_answer`), anything else is classified by HTTP status."""
    if status == 200:
        return bad_answer(venue, "answer", body)
    return classify(venue, table, "http", body[:120].decode(errors="replace"), status)


def units(text: str, decimals: int, venue: str, what: str) -> int:
    """A venue decimal string as units of 10**-decimals, rounded down when it is finer."""
    try:
        d = Decimal(text or "0")
    except InvalidOperation:
        raise bad_answer(venue, what, text.encode()) from None
    return int(Fraction(d) * 10**decimals // 1)


def dec(text: str, venue: str, what: str) -> Decimal:
    """A venue decimal string as a `Decimal` (human edge: fees)."""
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise bad_answer(venue, what, text.encode()) from None
