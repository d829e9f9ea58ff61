"""Domain events that flow through the graph.

Every event is a frozen, slotted dataclass carrying `ts_event_ns` (venue/exchange time, or the
slot's time on-chain; 0 when the venue gives none) and `ts_recv_ns` (local receive time, ns).
Prices and sizes are integers in venue units or `Decimal` at human edges; never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from operators.frozen import fast_init

MarketKind = Literal["spot", "perp"]
Side = Literal["buy", "sell"]
TimeInForce = Literal["ioc", "fok"]
Level = tuple[Decimal, Decimal]
"""One L2 level: (price, quantity) in the venue's human units."""
FIXED_SCALE = 10**18
"""Fixed-point scale of CEX levels on the pricing path: exact for <= 18 decimals."""
RawLevelLike = Sequence[str] | Sequence[Decimal]
"""One level as a venue sent it (price, size[, venue extras]) or as (price, qty) Decimals."""
FixedLevel = tuple[int, int]
"""One L2 level as (price_e18, size_e18): the venue's price and size times `FIXED_SCALE`."""


@fast_init  # built once per frame: slot stores, not object.__setattr__
@dataclass(frozen=True, slots=True)
class RawFrame:
    """One input as received: a WS frame, a REST body or an account's raw bytes.

    `source` is the venue id (`binance`, `binance-usdm`, `okx`, `bybit`, `orca`, `raydium_clmm`,
    `phoenix`, `openbook`); `stream` the venue stream name, REST endpoint or account pubkey;
    `kind` one of `ws`, `rest`, `account`. `ts_event_ns` is unknown before parsing (0).
    """

    ts_recv_ns: int
    source: str
    stream: str
    kind: str
    payload: bytes
    slot: int | None = None
    ts_event_ns: int = 0
    ts_ingest_ns: int = 0
    """Local monotonic ns when the frame entered the graph (latency bookkeeping; not captured)."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full L2 book replacing whatever was held (REST snapshot or WS snapshot action)."""

    venue: str
    symbol: str
    market: MarketKind
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    update_id: int
    ts_event_ns: int
    ts_recv_ns: int


@fast_init  # built once per frame: slot stores, not object.__setattr__
@dataclass(frozen=True, slots=True, eq=False)
class BookDelta:
    """Changed levels (quantity 0 removes the level) between two update ids, both inclusive.

    Why raw levels: a depth frame's levels are validated and applied to the book as venue
    strings; building two `Decimal`s per level for an event nobody on the hot path reads cost
    ~30 % of a Binance frame. `raw_bids` / `raw_asks` hold the frame's levels as sent (price
    and size first; extra venue fields ignored), `bids` / `asks` give them as Decimals on
    demand, and equality compares those values.
    """

    venue: str
    symbol: str
    market: MarketKind
    raw_bids: tuple[RawLevelLike, ...]
    raw_asks: tuple[RawLevelLike, ...]
    first_update_id: int
    last_update_id: int
    ts_event_ns: int
    ts_recv_ns: int

    @property
    def bids(self) -> tuple[Level, ...]:
        """Changed bid levels as (price, qty) Decimals, in the frame's order."""
        return tuple((Decimal(lv[0]), Decimal(lv[1])) for lv in self.raw_bids)

    @property
    def asks(self) -> tuple[Level, ...]:
        """Changed ask levels as (price, qty) Decimals, in the frame's order."""
        return tuple((Decimal(lv[0]), Decimal(lv[1])) for lv in self.raw_asks)

    def _key(self) -> tuple[object, ...]:
        return (
            self.venue, self.symbol, self.market, self.bids, self.asks, self.first_update_id,
            self.last_update_id, self.ts_event_ns, self.ts_recv_ns,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BookDelta):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, slots=True)
class ResyncRequired:
    """The book of this symbol only can no longer be trusted; the transport must refetch."""

    venue: str
    symbol: str
    market: MarketKind
    reason: str
    ts_event_ns: int
    ts_recv_ns: int


@dataclass(frozen=True, slots=True)
class BestBidOffer:
    """Venue-published top of book (bookTicker / tickers / orderbook.1)."""

    venue: str
    symbol: str
    market: MarketKind
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    update_id: int
    ts_event_ns: int
    ts_recv_ns: int


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade; `side` is the taker's side."""

    venue: str
    symbol: str
    market: MarketKind
    price: Decimal
    qty: Decimal
    side: Side
    trade_id: str
    ts_event_ns: int
    ts_recv_ns: int


@fast_init  # built once per frame: slot stores, not object.__setattr__
@dataclass(frozen=True, slots=True)
class PoolUpdate:
    """A decoded on-chain account update for one DEX market (pool, tick array, book side)."""

    venue: str
    market_id: str
    account: str
    role: str
    decoded: object
    slot: int
    ts_event_ns: int
    ts_recv_ns: int


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """Feed, RPC or engine health: `status` is `up`, `down`, `stale`, `resync`, `lag` or `kill`."""

    source: str
    status: str
    detail: str
    ts_event_ns: int
    ts_recv_ns: int
    value: float = 0.0


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Every cost term of one opportunity, in bps of the quote notional (floats: report only)."""

    fees_cex_bps: float
    fees_dex_bps: float
    gas_bps: float
    slippage_bps: float
    hedge_bps: float
    safety_margin_bps: float

    @property
    def total_bps(self) -> float:
        """Sum of all terms, bps."""
        return (
            self.fees_cex_bps
            + self.fees_dex_bps
            + self.gas_bps
            + self.slippage_bps
            + self.hedge_bps
            + self.safety_margin_bps
        )


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A spread that beats the trigger at `size_base` (base-token base units).

    `buy_quote` is what the buying leg pays and `sell_quote` what the selling leg receives, both in
    quote-token base units (e.g. USDC micro-units) after conversion to the pair's quote currency.
    `spread_bps` is gross (before fees); `net_bps` = spread - costs. Each leg's market currency
    and the exact ratio the decision converted it at (`buy_fx`, `sell_fx`: one market unit is
    num / den pair-quote units; (1, 1) for the pair's own currency) travel with it to the
    intents (operators/fx.py).
    """

    opportunity_id: str
    pair: str
    direction: str
    buy_venue: str
    sell_venue: str
    size_base: int
    buy_quote: int
    sell_quote: int
    spread_bps: float
    costs: CostBreakdown
    threshold_bps: float
    net_bps: float
    expected_pnl_quote: int
    marginal_bps: float
    cu_price_micro_lamports: int
    update_seq: int
    ts_event_ns: int
    ts_recv_ns: int
    ts_detect_ns: int
    stale_venues: tuple[str, ...] = ()
    ts_ingest_ns: int = 0
    """Monotonic ns the triggering frame entered the graph (0 when unknown)."""
    ts_detect_wall_ns: int = 0
    """Monotonic ns the opportunity left the pair engine (tick -> opportunity latency)."""
    buy_quote_currency: str = ""
    """The buy market's quote currency ("": the pair's)."""
    buy_fx: tuple[int, int] = (1, 1)
    """One buy-market quote unit in the pair's quote, exact (num, den), as decided."""
    sell_quote_currency: str = ""
    """The sell market's quote currency ("": the pair's)."""
    sell_fx: tuple[int, int] = (1, 1)
    """One sell-market quote unit in the pair's quote, exact (num, den), as decided."""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One leg the risk guard lets through; `limit_quote` bounds what the leg may pay/receive.

    `limit_quote` is in the market's own quote currency (`quote_currency`: what the venue is
    sent); `predicted_quote` in the pair's. `fx` values one market unit in the pair's quote
    (operators/fx.py).
    """

    intent_id: str
    opportunity_id: str
    venue: str
    market_id: str
    side: Side
    size_base: int
    limit_quote: int
    ts_event_ns: int
    ts_recv_ns: int
    ts_intent_ns: int
    pair: str = ""
    predicted_quote: int = 0
    """What the opportunity priced this leg at for `size_base` (quote base units, the pair's
    quote currency) when the guard decided; 0 for hedges and unwinds (no prediction)."""
    time_in_force: TimeInForce = "ioc"
    """`ioc`: fill what the book holds at the limit, the rest expires; `fok`: all or nothing."""
    quote_currency: str = ""
    """The market's quote currency, in which `limit_quote` is ("": the pair's)."""
    fx: tuple[int, int] = (1, 1)
    """One market quote unit in the pair's quote, exact (num, den): the decision's ratio (a
    hedge or close on a perp in another currency: the opportunity's, else the [fx] constant)."""
    fx_source: str = ""
    """Where a flattening order's `fx` came from (`leg`, `opportunity`, `[fx] constant`); ""
    for a leg (the decision's ratio)."""


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A fill (or reject) of one intent; amounts in base units, `fee_quote` in quote base units.

    `quote_amount` and `fee_quote` are the venue's own, in its market's quote currency
    (`quote_currency`); `fx` (the intent's ratio) values them in the pair's quote, and every
    reader does so through operators/fx.py (`quote_pair`, `cash_pair`).

    An IOC that fills part of its size is reported as `partial` (what filled) followed by
    `cancelled` (the remainder expired, nothing filled), as the venues' own streams say it.
    `predicted_quote` is the decision-time price of `filled_base` (the intent's
    `predicted_quote` pro rata, pair quote), `slippage_ppb` the realised price's distance from
    it (the fill valued in the pair's quote at `fx`) in parts per billion, positive = worse for
    us (integer: it decides the slippage kill);
    `slippage_bps` is its float view for reports. Both 0 when there is no prediction.
    """

    intent_id: str
    opportunity_id: str
    venue: str
    side: Side
    status: Literal["filled", "partial", "rejected", "cancelled"]
    filled_base: int
    quote_amount: int
    fee_quote: int
    reason: str
    ts_event_ns: int
    ts_recv_ns: int
    ts_fill_ns: int
    extra: dict[str, str] = field(default_factory=dict)
    predicted_quote: int = 0
    slippage_ppb: int = 0
    slippage_bps: float = 0.0
    quote_currency: str = ""
    """The market's quote currency of `quote_amount` / `fee_quote` ("": the pair's)."""
    fx: tuple[int, int] = (1, 1)
    """One market quote unit in the pair's quote (num, den): its intent's ratio."""
