"""The frame router: raw frame -> configured market id -> its pair.

A market is a key: `venue:symbol` for CEX books, `venue:address` for DEX pools and markets. CEX
frames are routed by the stream's symbol (the venue adapter reads its stream names), account
frames by `pool:account` stream names. Frames of no configured market are counted, never
guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config import MarketSettings, PairSettings, Settings
from connectors import venues
from connectors.capture import capture_streams
from engine.placement import balanced_workers, placed_key, placed_part_names
from operators.errors import ConfigError
from operators.events import RawFrame


@dataclass(frozen=True, slots=True)
class MarketRef:
    """A configured market and the pair it belongs to."""

    market: MarketSettings
    pair: PairSettings


def hedge_feeds(settings: Settings) -> list[MarketRef]:
    """The `[[pairs.hedges]]` perps whose books the feeds subscribe and the router routes to
    their pair (for the paper venue's hedge fills; never priced by the spread engine).

    A perp's frames and feed health carry the venue id its transport reports
    (`CexAdapter.source_for`): Binance perps come as `binance-usdm`, apart from the spot.
    Where that id is also a spot feed of the pairs (OKX, Bybit: one venue id for both), the
    perp's health could not be told from the spot's (and Bybit's perp frames not even by
    symbol), so such a hedge is not subscribed: a paper hedge there fails for want of a book.
    """
    spot_feeds = {
        venues.cex(m.venue).source_for(m.market)
        for p in settings.pairs
        for m in p.markets
        if venues.is_cex(m.venue)
    }
    out = []
    for pair in settings.pairs:
        for h in pair.hedges:
            enabled = settings.venues[h.venue].enabled
            if enabled and venues.cex(h.venue).source_for(h.market) not in spot_feeds:
                out.append(MarketRef(h, pair))
    return out


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
        self.hedges: frozenset[str] = frozenset()
        """Market ids of the hedge perps routed here: books for the paper venue, never legs."""
        for ref in hedge_feeds(settings):
            h = ref.market
            self.by_id[h.market_id] = ref
            self._cex[(venues.cex(h.venue).source_for(h.market), h.symbol.upper())] = h.market_id
            self.hedges |= {h.market_id}
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

    def pairs_of_stream(self, stream: str) -> set[str]:
        """Every configured pair a capture stream name may belong to (the name alone, without
        its source: a CEX stream is matched by every CEX adapter's stream names)."""
        out = {
            ref.pair.name
            for (_venue, address), mid in self._dex.items()
            if stream.split(":", 1)[0] == address
            for ref in (self.by_id[mid],)
        }
        for (venue, symbol), mid in self._cex.items():
            sym = venues.cex(venue).stream_symbol(stream)
            if sym is not None and sym.upper() == symbol:
                out.add(self.by_id[mid].pair.name)
        return out


UNROUTED_GROUP = "unrouted"
"""Replay partition group of the streams of no configured pair."""


def pair_partitions(settings: Settings, streams: Iterable[str]) -> dict[str, str]:
    """Replay partition of each capture stream: one group per pair, so each pair's frames keep
    their receive order through the pair step while pairs spread over workers.

    Pairs that share a stream name (the name alone can be ambiguous across venues) are merged
    into one group; streams of no configured pair share the group `unrouted`.
    """
    return _pair_groups(settings, streams)[0]


def _pair_groups(
    settings: Settings, streams: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(stream -> group, pair -> group) of `pair_partitions`."""
    router = Router(settings)
    parent = {p.name: p.name for p in settings.pairs}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    first: dict[str, str | None] = {}
    for stream in streams:
        pairs = sorted(router.pairs_of_stream(stream))
        for other in pairs[1:]:  # ambiguous: these pairs must share a partition
            parent[find(other)] = find(pairs[0])
        first[stream] = pairs[0] if pairs else None
    by_stream = {s: UNROUTED_GROUP if p is None else find(p) for s, p in first.items()}
    return by_stream, {p: find(p) for p in parent}


@dataclass(frozen=True)
class ReplayPartitioning:
    """How a replay splits its capture: `part_of` names each stream's partition (None: one per
    stream), `idle` lists partitions that read nothing (they only keep the placement aligned)."""

    part_of: Callable[[str], str] | None
    idle: tuple[str, ...] = ()
    pair_keys: Mapping[str, str] = field(default_factory=dict)
    """Pair -> the key its keyed steps run under (absent: the pair's name): with several
    workers, a key Bytewax runs on the worker that reads the pair's partition."""


def replay_partitioning(
    settings: Settings, captures: list[Path], partition: str, workers: int = 1
) -> ReplayPartitioning:
    """`all`: one partition (one worker reads it all); `pair`: one per pair (pairs spread over
    workers and processes); `stream`: one per stream.

    With `pair` and several workers (`workers`: all processes' workers together), pairs are
    spread over the workers by their number of markets (`placement.balanced_workers`, not by
    where a hash of their names would fall), each pair's partition is named so that Bytewax
    hands it to its worker, and `pair_keys` gives the key its keyed steps run under there
    (`engine/placement.py`): that worker reads, routes and prices the pair's frames itself and
    no frame crosses to another worker. Streams of no pair go with the first worker's groups.
    """
    if workers < 1:
        raise ConfigError(f"replay workers must be >= 1, got {workers}")
    if partition == "all":
        return ReplayPartitioning(lambda _s: "all")
    if partition == "pair":
        groups, group_of_pair = _pair_groups(
            settings, (s for c in captures for s in capture_streams(c))
        )
        if workers == 1:
            return ReplayPartitioning(groups.__getitem__)
        # pairs spread by cost (a pair's markets: books or pools to keep, legs to price), and
        # each pair's keyed steps run under a key Bytewax places on its partition's worker
        read = set(groups.values())
        costs: dict[str, int] = {}
        for p in settings.pairs:
            g = group_of_pair[p.name]
            if g in read:
                costs[g] = costs.get(g, 0) + len(p.markets)
        worker_of = balanced_workers(costs, workers)
        keys = {p: placed_key(p, worker_of[g], workers)
                for p, g in group_of_pair.items() if g in worker_of}  # fmt: skip
        if UNROUTED_GROUP in read:
            worker_of[UNROUTED_GROUP] = 0
        names, idle = placed_part_names(worker_of, workers)
        placed = {s: names[g] for s, g in groups.items()}
        return ReplayPartitioning(placed.__getitem__, tuple(idle), keys)
    if partition == "stream":
        return ReplayPartitioning(None)
    raise ConfigError(f"replay partition must be all, pair or stream, not {partition!r}")
