"""What every CEX order client shares: exact decimals, market filters, order specs, signed bytes.

Sans-I/O (STYLE §2): values in, values out, no clock and no socket. Prices and quantities are
integers at the market's own scale (`price_units` of 10**-price_decimals, `qty_units` of
10**-qty_decimals) and become decimal strings only when a request is rendered.

Rounding rules (why they go this way):
- a BUY limit price rounds DOWN to the tick: the intent's limit is the most we may pay, so the
  order must never allow paying more;
- a SELL limit price rounds UP to the tick: the limit is the least we may receive;
- a quantity rounds DOWN to the lot step (never trade more than the intent allows);
- an order that cannot be expressed after rounding (zero, below min qty, below min notional,
  above max qty, price outside the price filter) is refused with
  `ExecutionError(retryable=False)` naming venue, market and filter: resending cannot help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from operators.depth import slice_count, split_even
from operators.errors import ConfigError, ExecutionError

Side = Literal["buy", "sell"]
TimeInForce = Literal["IOC", "FOK"]
OrderStatus = Literal["new", "partially_filled", "filled", "cancelled", "expired", "rejected"]
FINAL_STATUSES: frozenset[str] = frozenset({"filled", "cancelled", "expired", "rejected"})


# -- exact decimals ---------------------------------------------------------------------------


def decimals_of(text: str) -> int:
    """Decimal places a venue step string needs ("0.01000000" -> 2, "1" -> 0, "1e-3" -> 3)."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"not a decimal number: {text!r}") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"not a non-negative decimal number: {text!r}")
    exp = d.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def to_units(text: str, decimals: int) -> int:
    """`text` as an exact integer count of 10**-decimals; `ConfigError` if it does not fit."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"not a decimal number: {text!r}") from None
    scaled = d.scaleb(decimals)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ConfigError(f"{text!r} is not a whole number of 1e-{decimals}")
    return int(scaled)


def fmt_units(units: int, decimals: int) -> str:
    """Integer units of 10**-decimals as a plain decimal string ("15025", 2 -> "150.25")."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


def iso_ms(ts_ms: int) -> str:
    """UTC ISO-8601 with ms, as OKX wants it: 1607418537715 -> "2020-12-08T09:08:57.715Z"."""
    secs, ms = divmod(ts_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


# -- keys ---------------------------------------------------------------------------------------


class Credentials:
    """API credentials of one venue account. Never printed, pickled or put in an error.

    `secret` is the HMAC secret (Binance HMAC, OKX, Bybit); `ed25519_pem` a PKCS#8 Ed25519
    private key (Binance Ed25519 API keys); `passphrase` the OKX passphrase.
    """

    __slots__ = ("_ed25519", "_passphrase", "_secret", "api_key")

    def __init__(self, api_key: str, secret: str = "", *, passphrase: str = "",
                 ed25519_pem: bytes | None = None) -> None:
        self.api_key = api_key
        self._secret = secret.encode()
        self._passphrase = passphrase
        self._ed25519: Ed25519PrivateKey | None = None
        if ed25519_pem is not None:
            try:
                key = load_pem_private_key(ed25519_pem, password=None)
            except ValueError:
                raise ConfigError("the Ed25519 key is not a valid unencrypted PEM") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError("the private key is not an Ed25519 key")
            self._ed25519 = key
        if not secret and self._ed25519 is None:
            raise ConfigError("credentials need an HMAC secret or an Ed25519 private key")

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("credentials are never pickled")

    @property
    def passphrase(self) -> str:
        """OKX passphrase (sent as a header; not a signing input)."""
        return self._passphrase

    @property
    def is_ed25519(self) -> bool:
        """Whether requests are signed with the Ed25519 key instead of HMAC."""
        return self._ed25519 is not None

    def hmac_sha256(self, payload: bytes) -> bytes:
        """HMAC-SHA256 of `payload` under the secret (raw 32 bytes)."""
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def ed25519_b64(self, payload: bytes) -> str:
        """Base64 Ed25519 signature of `payload` (88 characters)."""
        if self._ed25519 is None:
            raise ConfigError("no Ed25519 key in these credentials")
        return base64.b64encode(self._ed25519.sign(payload)).decode()


# -- market filters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """A market's order filters as integers at the market's own scales.

    Prices in units of 10**-price_decimals, quantities in 10**-qty_decimals (OKX swaps: in
    contracts, `base_per_qty` base per contract), notional in 10**-(price_decimals+qty_decimals)
    quote. A zero max means no maximum.
    """

    venue: str
    symbol: str
    market: Literal["spot", "perp"]
    price_decimals: int
    tick_units: int
    qty_decimals: int
    step_units: int
    min_qty_units: int
    max_qty_units: int = 0
    min_price_units: int = 0
    max_price_units: int = 0
    min_notional_units: int = 0
    base_per_qty: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        where = f"{self.venue}/{self.symbol}"
        if self.tick_units <= 0 or self.step_units <= 0:
            raise ConfigError(f"{where}: tick and lot step must be positive")
        if self.min_qty_units < 0 or self.min_notional_units < 0 or self.min_price_units < 0:
            raise ConfigError(f"{where}: minimums must not be negative")
        if self.max_qty_units and self.max_qty_units < self.min_qty_units:
            raise ConfigError(f"{where}: max qty below min qty")
        if self.base_per_qty <= 0:
            raise ConfigError(f"{where}: contract size must be positive")

    def refuse(self, what: str) -> ExecutionError:
        """The error for an order these filters cannot express (never retryable)."""
        return ExecutionError(f"{self.market} {self.symbol}: {what}", retryable=False,
                              venue=self.venue, code="filter")

    def price_str(self, price_units: int) -> str:
        """A price as the venue's decimal string."""
        return fmt_units(price_units, self.price_decimals)

    def qty_str(self, qty_units: int) -> str:
        """A quantity as the venue's decimal string."""
        return fmt_units(qty_units, self.qty_decimals)

    def round_price(self, side: Side, price: Fraction) -> int:
        """Limit price (quote per base) in price units on the tick: buys down, sells up."""
        raw = price * 10**self.price_decimals
        ticks = (raw // self.tick_units if side == "buy"
                 else -((-raw) // self.tick_units))
        units = int(ticks) * self.tick_units
        if units <= 0:
            raise self.refuse(f"PRICE_FILTER: price {float(price):.10g} is zero after rounding")
        if self.min_price_units and units < self.min_price_units:
            raise self.refuse(f"PRICE_FILTER: price {self.price_str(units)} below minPrice "
                              f"{self.price_str(self.min_price_units)}")
        if self.max_price_units and units > self.max_price_units:
            raise self.refuse(f"PRICE_FILTER: price {self.price_str(units)} above maxPrice "
                              f"{self.price_str(self.max_price_units)}")
        return units

    def round_qty(self, qty_base: Fraction) -> int:
        """Quantity (base) in venue qty units, rounded down to the lot step."""
        raw = qty_base / self.base_per_qty * 10**self.qty_decimals
        units = int(raw // self.step_units) * self.step_units
        if units <= 0:
            raise self.refuse(f"LOT_SIZE: quantity {float(qty_base):.10g} is zero after rounding "
                              f"to step {self.qty_str(self.step_units)}")
        if units < self.min_qty_units:
            raise self.refuse(f"LOT_SIZE: quantity {self.qty_str(units)} below minQty "
                              f"{self.qty_str(self.min_qty_units)}")
        if self.max_qty_units and units > self.max_qty_units:
            raise self.refuse(f"LOT_SIZE: quantity {self.qty_str(units)} above maxQty "
                              f"{self.qty_str(self.max_qty_units)} (slice the order)")
        return units

    def check_notional(self, price_units: int, qty_units: int) -> None:
        """Refuse an order whose notional is under the venue minimum."""
        notional = Fraction(price_units * qty_units) * self.base_per_qty
        if notional < self.min_notional_units:
            scale = self.price_decimals + self.qty_decimals
            raise self.refuse(
                f"MIN_NOTIONAL: notional {fmt_units(int(notional), scale)} below "
                f"{fmt_units(self.min_notional_units, scale)}")


def floor_units(text: str, decimals: int) -> int:
    """`text` as units of 10**-decimals, rounded down when finer; `ConfigError` if unreadable."""
    try:
        d = Decimal(text or "0")
    except InvalidOperation:
        raise ConfigError(f"not a decimal number: {text!r}") from None
    if not d.is_finite():
        raise ConfigError(f"not a finite decimal number: {text!r}")
    return int(Fraction(d) * 10**decimals // 1)


def filters_from_steps(venue: str, symbol: str, market: str, *, tick: str, step: str,
                       min_qty: str = "0", max_qty: str = "0", min_price: str = "0",
                       max_price: str = "0", min_notional: str = "0",
                       base_per_qty: Fraction = Fraction(1)) -> SymbolFilters:
    """`SymbolFilters` from a venue's instrument strings: the tick and lot step set the scales
    (exactly, else `ConfigError`); bounds and the min notional (quote) are read on those
    scales, rounded down when finer. Which venue field is which is the venue codec's to say."""
    pd, qd = decimals_of(tick), decimals_of(step)
    return SymbolFilters(
        venue=venue, symbol=symbol, market="perp" if market == "perp" else "spot",
        price_decimals=pd, tick_units=to_units(tick, pd), qty_decimals=qd,
        step_units=to_units(step, qd), min_qty_units=floor_units(min_qty, qd),
        max_qty_units=floor_units(max_qty, qd), min_price_units=floor_units(min_price, pd),
        max_price_units=floor_units(max_price, pd),
        min_notional_units=floor_units(min_notional, pd + qd), base_per_qty=base_per_qty)


# -- orders ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """One limit IOC/FOK order, already on the market's tick and lot grid."""

    symbol: str
    market: Literal["spot", "perp"]
    side: Side
    tif: TimeInForce
    price_units: int
    qty_units: int
    client_order_id: str


def limit_order(filters: SymbolFilters, side: Side, tif: TimeInForce, price: Fraction,
                qty_base: Fraction, client_order_id: str) -> OrderSpec:
    """An IOC/FOK limit order at `price` (quote per base) for `qty_base`, rounded and checked."""
    price_units = filters.round_price(side, price)
    qty_units = filters.round_qty(qty_base)
    filters.check_notional(price_units, qty_units)
    return OrderSpec(filters.symbol, filters.market, side, tif, price_units, qty_units,
                     client_order_id)


def order_from_intent(filters: SymbolFilters, *, side: Side, size_base: int, limit_quote: int,
                      base_decimals: int, quote_decimals: int, tif: TimeInForce,
                      client_order_id: str) -> OrderSpec:
    """The order of one `OrderIntent`: size in base-token base units, limit as total quote units.

    The limit price is `limit_quote / size_base` rescaled to human units, so the order may pay
    (buy) at most, or receive (sell) at least, what the risk guard allowed.
    """
    if size_base <= 0 or limit_quote <= 0:
        raise filters.refuse(f"intent size {size_base} / limit {limit_quote} must be positive")
    price = Fraction(limit_quote * 10**base_decimals, size_base * 10**quote_decimals)
    qty = Fraction(size_base, 10**base_decimals)
    return limit_order(filters, side, tif, price, qty, client_order_id)


def slice_order(filters: SymbolFilters, spec: OrderSpec, max_slice_qty_units: int,
                client_ids: list[str]) -> list[OrderSpec]:
    """`spec` cut into slices of at most `max_slice_qty_units` (the book's usual depth at the
    limit, e.g. its rolling p95), each on the lot grid and above the venue minimums.

    Sending slices instead of one sweep keeps each IOC within what the book usually holds at
    the limit. Equal slices (the last takes the rounding rest) so no slice is a dust order;
    `client_ids[k]` names slice k (`ids.client_order_id(..., slice_no=k)`). An order that fits
    is returned unchanged.
    """
    step = filters.step_units
    cap = max_slice_qty_units // step * step
    if cap <= 0:
        raise filters.refuse(f"slice size {filters.qty_str(max_slice_qty_units)} is below "
                             f"one lot step {filters.qty_str(step)}")
    if spec.qty_units <= cap:
        return [spec]
    n = slice_count(spec.qty_units, cap, step)
    if n > len(client_ids):
        raise filters.refuse(f"{n} slices needed but only {len(client_ids)} client ids given")
    # the rest below one step cannot be expressed on the venue: dropped
    sizes = split_even(spec.qty_units // step * step, n, step)
    out = []
    for k, qty in enumerate(sizes):
        if qty < filters.min_qty_units:
            raise filters.refuse(f"slice {filters.qty_str(qty)} below minQty "
                                 f"{filters.qty_str(filters.min_qty_units)}")
        filters.check_notional(spec.price_units, qty)
        out.append(OrderSpec(spec.symbol, spec.market, spec.side, spec.tif, spec.price_units,
                             qty, client_ids[k]))
    return out


# -- requests -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Exact bytes of one signed REST request (host-less): method, path, query, body, headers.

    `params` is what may be journaled: the request's parameters without signature or key.
    """

    method: Literal["GET", "POST", "DELETE"]
    path: str
    query: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...] = ()
    ts_ms: int = 0
    """Venue-clock ms the request was signed for (its recvWindow starts here)."""
    expires_ms: int = 0
    """Venue-clock ms after which the venue refuses this request (timestamp + window)."""

    @property
    def target(self) -> str:
        """Path plus query string, as on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"SignedRequest({self.method} {self.path} {shown})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class OrderResult:
    """A venue's answer about one order, in the market's integer units.

    `quote_units` is the filled notional in 10**-(price_decimals+qty_decimals) quote (times
    `base_per_qty` for contracts, already applied). `fee` is the venue's fee in `fee_asset`
    (a human-edge `Decimal`, positive = paid), or 0 with `fee_asset` "" when the answer has none.
    """

    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str
    status: OrderStatus
    filled_qty_units: int
    quote_units: int
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    ts_event_ms: int = 0
    raw_status: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """Whether the order can change no more (filled, cancelled, expired, rejected)."""
        return self.status in FINAL_STATUSES


def venue_now_ms(clock_ns: int, offset_ns: int) -> int:
    """Venue-clock ms from the local clock and the measured offset (venue minus local, ns)."""
    return (clock_ns + offset_ns) // 1_000_000
