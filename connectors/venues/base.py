"""What a venue adapter is: every fact solarb needs about one venue, in one object.

A venue is one module in `connectors/venues/` that builds one adapter and the registry
(`connectors/venues/__init__.py`) maps its id to it. Nothing else in the code base branches on a
venue's name: the engine, transports and live inputs ask the adapter.

- `CexAdapter`: the venue's sans-I/O book codec (`BookSync`, stream names, subscribe message,
  snapshot path), its transport rules (resync mode, pings, snapshot depth, the book stream's
  cadence and so its staleness budget), REST facts (weight budget and weights, server-time
  endpoint) and URL rules.
- `ClmmAdapter` / `ClobAdapter`: the account decoders by discriminator and the role each account
  plays, the accounts a market needs besides its main one, and (CLOB) the market checks.

Adapters pickle by id (`__reduce__`), so state holding one can be snapshotted by Bytewax.
Execution joins the adapters as it lands: a DEX adapter's `plan_swap` builds its swap instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from connectors.cex.common import WireFrame
from connectors.solana.swap_plan import SwapPlan, SwapRequest
from operators.events import MarketKind

if TYPE_CHECKING:
    from connectors.cex.orders.codec import OrderCodec

VenueKind = Literal["cex", "clmm", "clob"]
ResyncMode = Literal["rest", "resubscribe"]
AccountRole = Literal[
    "pool", "tick_array", "amm_config", "bitmap_extension", "market", "book_side"
]

STALE_CADENCES = 10
"""A CEX feed is stale after this many book-stream periods without market data: a liquid book
changes every period, so ten silent periods in a row mean the stream (or the socket) has stopped,
not that the market went quiet."""
STALE_FLOOR_MS = 1000
"""Lower bound of a staleness budget: client GC pauses, TCP retransmits (200-300 ms) and venue
push batching make shorter silences routine on a healthy feed, and a false stale costs a missed
opportunity plus a kill-switch timer. 1 s still flags a stall long before a 2 s-old book is
priced."""


class BookSyncLike(Protocol):
    """What the graph and the transport need of a venue `BookSync` (connectors/cex/<venue>.py)."""

    @property
    def in_sync(self) -> bool: ...

    @property
    def needs_snapshot(self) -> bool: ...

    @property
    def book(self) -> Any: ...

    def on_snapshot(self, payload: bytes, ts_recv_ns: int) -> list[Any]: ...

    def on_frame(self, payload: bytes, ts_recv_ns: int) -> list[Any]: ...

    def on_wire(self, wire: WireFrame, ts_recv_ns: int) -> list[Any]: ...


def _lookup(venue_id: str) -> Any:
    from connectors.venues import adapter  # the registry imports the adapters: import late

    return adapter(venue_id)


class _ById:
    """Pickle an adapter as a registry lookup by id: adapters hold modules and functions."""

    id: str

    def __reduce__(self) -> tuple[Callable[[str], Any], tuple[str]]:
        return _lookup, (self.id,)


@dataclass(frozen=True, eq=False)
class CexAdapter(_ById):
    """One CEX venue id as frames carry it (`RawFrame.source`), e.g. `binance-usdm`."""

    id: str
    book_sync: Callable[[str, MarketKind], BookSyncLike]
    """`(symbol, market) -> BookSync`: the venue's sans-I/O book synchroniser."""
    decode_frame: Callable[[bytes, str], WireFrame]
    """`(payload, venue id) -> WireFrame`: the frame's envelope read once (kind, stream, body);
    the symbol's `BookSync.on_wire` decodes the body. `FeedError` when it is not a frame."""
    stream_symbol: Callable[[str], str | None]
    """Venue symbol (upper case) of a WS stream name or REST snapshot path; None if neither."""
    subscribe_message: Callable[[Sequence[str], MarketKind], bytes]
    """`(symbols, market) -> bytes`: the WS subscribe request for book, ticker and trades."""
    snapshot_path: Callable[[str, MarketKind, int], str]
    """`(symbol, market, limit) -> path`: REST depth snapshot path (no host)."""
    resync: ResyncMode
    """`rest` (fetch a REST snapshot) or `resubscribe` (WS snapshot on a fresh subscription)."""
    client_ping: bytes | None
    """Application-level ping text we send, or None when WS ping frames do the job."""
    ping_interval_s: float
    snapshot_limit: int
    rest_budget: tuple[int, float]
    """(weight limit, window seconds) of the public market-data REST endpoints."""
    server_time_path: str
    parse_server_time_ms: Callable[[bytes], int]
    """Server time in ms from the time endpoint's body; `FeedError` on a bad body."""
    depth_weight: Callable[[int], int] = lambda _limit: 1
    """REST weight of a depth snapshot of `limit` levels."""
    numbered_ping: Callable[[int], bytes] | None = None
    """The n-th application ping when the venue wants each one numbered (Bybit `req_id`)."""
    used_weight_header: str | None = None
    """Response header reporting the weight used in the window, when the venue sends one."""
    book_cadence_ms: int = 100
    """Period of the subscribed book stream (ms): it pushes at most this often while the book
    changes (Binance `depth@100ms`, OKX `books`: 100 ms; Bybit `orderbook.50`: 20 ms)."""
    market_sources: dict[str, str] = field(default_factory=dict)
    """Market kind -> venue id when another id serves it (Binance perps: `binance-usdm`)."""
    ws_url_rule: Callable[[str, str], str] = lambda url, _market: url
    """`(configured ws url, market) -> url` for venues serving markets on sibling paths."""
    orders: OrderCodec | None = None
    """The venue's sans-I/O order codec (connectors/cex/orders/<venue>.py), None if it has none."""

    kind: VenueKind = "cex"

    def source_for(self, market: str) -> str:
        """The venue id frames of `market` (spot|perp) carry."""
        return self.market_sources.get(market, self.id)

    def ws_url(self, configured: str, market: str) -> str:
        """The WS URL of `market` from the configured one."""
        return self.ws_url_rule(configured, market)

    @property
    def stale_after_ms(self) -> int:
        """Staleness budget (ms): no market data for this long flags the feed and its books
        stale; `STALE_CADENCES` stream periods, never under `STALE_FLOOR_MS`. Config may override
        it per venue (`[venues.<id>] stale_after_ms`)."""
        return max(STALE_FLOOR_MS, STALE_CADENCES * self.book_cadence_ms)


@dataclass(frozen=True, slots=True)
class TokenPair:
    """Mints of a pool/market in program order, with decimals where the account holds them."""

    mint_a: str
    mint_b: str
    decimals_a: int | None = None
    decimals_b: int | None = None
    fixed_order: bool = False
    """True for CLOB markets: token A is always the base (`base_is_a` has no meaning)."""


def base_quote_tokens(market: Any) -> TokenPair:
    """The tokens of an on-chain order book market (Phoenix, OpenBook v2): base and quote are
    fixed by the program, each with its decimals in the market account."""
    return TokenPair(
        market.base_mint, market.quote_mint, market.base_decimals, market.quote_decimals, True
    )


@dataclass(frozen=True, slots=True)
class AccountDecoder:
    """One account type of a DEX program: the role it plays and its decoder (bytes -> value)."""

    role: AccountRole
    decode: Callable[[bytes], Any]


@dataclass(frozen=True, eq=False)
class DexAdapter(_ById):
    """One on-chain venue: its program, account decoders and the accounts a market needs."""

    id: str
    kind: VenueKind
    program_id: str
    decoders: dict[bytes, AccountDecoder]
    """Account decoders by the account's first 8 bytes (Anchor discriminator or magic)."""
    decode_main: Callable[[bytes], Any]
    """Decoder of the market's main account (pool / market), the one configured by address."""
    wanted_accounts: Callable[[str, Any, bool], list[str]] = lambda _a, _d, _t: []
    """`(main address, decoded main account, derive tick arrays?) -> accounts` the market needs
    besides its main one (tick arrays around the price, configs, book sides)."""
    watch_main: Callable[[bool], bool] = lambda _derive: False
    """Whether the live account feed must decode the main account to learn what else to watch
    (`derive` = the markets file lists no tick arrays for it)."""
    check_market: Callable[[Any], None] = lambda _decoded: None
    """Raise `DecodeError` when a decoded market account cannot be traded (e.g. zero lots)."""
    tokens: Callable[[Any], TokenPair] | None = None
    """The two tokens of a decoded main account, in the program's order (CLMM: A/B or 0/1;
    CLOB: base/quote), for the start-up check of the markets file against the chain."""
    plan_swap: Callable[[SwapRequest], SwapPlan] | None = None
    """The venue's swap instruction builder (connectors/solana/swap_plan.py): instruction, limit
    fields and token accounts of a request; None while the venue cannot execute."""
    complete_swap: Callable[[SwapRequest, Mapping[str, Any]], SwapRequest] | None = None
    """`(request, decoded wanted accounts by address) -> request` for a venue whose builder needs
    more than the main account (OpenBook: the book side taken, for its makers' accounts); the
    live gateway fetches `wanted_accounts` for it. None: the main account is enough."""

    def decoder_for(self, payload: bytes) -> AccountDecoder | None:
        """The decoder of an account by its first 8 bytes, None when the program has none."""
        return self.decoders.get(bytes(payload[:8]))


Adapter = CexAdapter | DexAdapter
"""Any venue adapter."""
