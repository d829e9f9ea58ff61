"""The frame router: raw frame -> configured market id -> its pair.

A market is a key: `venue:symbol` for CEX books, `venue:address` for DEX pools and markets. CEX
frames are routed by the stream's symbol (the venue adapter reads its stream names), account
frames by `pool:account` stream names. Frames of no configured market are counted, never
guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import MarketSettings, PairSettings, Settings
from connectors import venues
from operators.events import RawFrame


@dataclass(frozen=True, slots=True)
class MarketRef:
    """A configured market and the pair it belongs to."""

    market: MarketSettings
    pair: PairSettings


class Router:
    """Map raw frames to market ids (and market ids to pairs) from the configured markets."""

    def __init__(self, settings: Settings) -> None:
        self.by_id: dict[str, MarketRef] = {}
        self._cex: dict[tuple[str, str], str] = {}
        self._dex: dict[tuple[str, str], str] = {}
        for pair in settings.pairs:
            for m in pair.markets:
                self.by_id[m.market_id] = MarketRef(m, pair)
                if venues.is_cex(m.venue):
                    self._cex[(m.venue, m.symbol.upper())] = m.market_id
                else:
                    self._dex[(m.venue, m.address)] = m.market_id
        self.unrouted = 0

    def market_of(self, frame: RawFrame) -> str | None:
        """The market id a frame belongs to, or None (counted) when no configured market has it."""
        if frame.kind == "account":
            mid = self._dex.get((frame.source, frame.stream.split(":", 1)[0]))
        elif venues.is_cex(frame.source):
            sym = venues.cex(frame.source).stream_symbol(frame.stream)
            mid = self._cex.get((frame.source, sym.upper())) if sym else None
        else:
            mid = None
        if mid is None:
            self.unrouted += 1
        return mid

    def pair_of(self, market_id: str) -> str:
        """Trading pair of a market id."""
        return self.by_id[market_id].pair.name
