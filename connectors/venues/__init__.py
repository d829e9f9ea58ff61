"""The venue registry: venue id -> its adapter (connectors/venues/<venue>.py).

Adding a venue = one adapter module + one line in `_BUILTIN` (see docs/architecture.md,
"Adding a venue"). Everything else (routing, market state, live feeds, transports) asks the
registry, so no other module branches on a venue's name.
"""

from __future__ import annotations

from connectors.venues import binance, bybit, okx, openbook, orca, phoenix, raydium_clmm
from connectors.venues.base import (
    AccountDecoder,
    Adapter,
    BookSyncLike,
    CexAdapter,
    DexAdapter,
    TokenPair,
    VenueKind,
)
from operators.errors import ConfigError

__all__ = [
    "AccountDecoder",
    "Adapter",
    "BookSyncLike",
    "CexAdapter",
    "DexAdapter",
    "TokenPair",
    "VenueKind",
    "adapter",
    "cex",
    "dex",
    "ids",
    "is_cex",
    "register",
    "unregister",
]

_BUILTIN: tuple[Adapter, ...] = (
    binance.SPOT,
    binance.USDM,
    okx.OKX,
    bybit.BYBIT,
    orca.ORCA,
    raydium_clmm.RAYDIUM_CLMM,
    phoenix.PHOENIX,
    openbook.OPENBOOK,
)
_REGISTRY: dict[str, Adapter] = {a.id: a for a in _BUILTIN}


def register(a: Adapter) -> Adapter:
    """Add a venue adapter (tests, plug-ins); `ConfigError` if the id is taken."""
    if a.id in _REGISTRY:
        raise ConfigError(f"venue {a.id!r} is already registered")
    _REGISTRY[a.id] = a
    return a


def unregister(venue_id: str) -> None:
    """Remove a venue added by `register` (built-in venues stay)."""
    if any(a.id == venue_id for a in _BUILTIN):
        raise ConfigError(f"venue {venue_id!r} is built in and cannot be removed")
    _REGISTRY.pop(venue_id, None)


def ids() -> list[str]:
    """Every registered venue id, sorted."""
    return sorted(_REGISTRY)


def adapter(venue_id: str) -> Adapter:
    """The adapter of `venue_id`; `ConfigError` naming the known venues otherwise."""
    try:
        return _REGISTRY[venue_id]
    except KeyError:
        raise ConfigError(f"unknown venue {venue_id!r} (known: {ids()})") from None


def is_cex(venue_id: str) -> bool:
    """Whether `venue_id` is a registered CEX (health and frames route by this)."""
    a = _REGISTRY.get(venue_id)
    return a is not None and a.kind == "cex"


def cex(venue_id: str) -> CexAdapter:
    """The adapter of a CEX venue id; `ConfigError` if unknown or not a CEX."""
    a = adapter(venue_id)
    if not isinstance(a, CexAdapter):
        raise ConfigError(f"venue {venue_id!r} is a {a.kind} venue, not a CEX")
    return a


def dex(venue_id: str) -> DexAdapter:
    """The adapter of an on-chain venue id; `ConfigError` if unknown or a CEX."""
    a = adapter(venue_id)
    if not isinstance(a, DexAdapter):
        raise ConfigError(f"venue {venue_id!r} is a CEX, not an on-chain venue")
    return a
