"""Live inputs of the paper, live and record flows: CEX book feeds and one Solana account feed.

    CexFeedSource per (venue, market) ───┐
                                         ├─► merge ─► account watcher ─► branch ─► RawFrames
    AccountFeedSource (every DEX market) ┘            (op.inspect)              └─► HealthEvents

- One `CexFeedSource` per configured CEX (venue, spot|perp) with every symbol of that venue in
  it (one WS connection each), URLs from `[venues.<name>]`.
- One `AccountFeedSource` for every configured DEX market: a CLMM pool account plus its tick
  arrays; a Phoenix market account; an OpenBook v2 market plus its bids/asks BookSides.
  When a market lists `tick_arrays` in markets.toml those are watched from the start. Otherwise
  the watcher (an `op.inspect` right after the inputs, so on the worker that owns the account
  partition) decodes each pool account as it arrives, asks a throwaway `ClmmPoolState` which
  tick-array starts the graph's pool state will want around the current tick, derives their
  addresses (`orca.tick_array_address` / `raydium_clmm.tick_array_address`) and calls
  `source.want(...)` for the ones not yet watched. Raydium pools also get their AmmConfig and
  tick-array bitmap extension this way, and OpenBook markets their `bids`/`asks` accounts. An
  array that does not exist on-chain simply never arrives (no liquidity there).
- Live sources never end by themselves. Every source is wrapped in `BoundedSource`: each
  partition ends after `Bounds.max_frames` RawFrames or `Bounds.seconds` after it was built
  (whichever comes first; neither = run until stopped). `LiveHandles.request_stop()` ends them
  all at their next poll (the CLI wires it to Ctrl-C) so sinks still close and write their
  files. `LiveHandles.close()` stops every partition's threads, for `finally` blocks: Bytewax
  only calls `close()` itself on a clean end.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from config import MarketSettings, Settings
from connectors import venues
from connectors.cex.sources import CexFeedSource
from connectors.cex.transport import TransportConfig
from connectors.solana.sources import AccountFeedSource
from operators.errors import ConfigError, DecodeError
from operators.events import HealthEvent, RawFrame

Item = RawFrame | HealthEvent

@dataclass(frozen=True, slots=True)
class Bounds:
    """When a live run ends: after `max_frames` RawFrames per source partition, or `seconds`."""

    max_frames: int | None = None
    seconds: float | None = None

    @property
    def bounded(self) -> bool:
        """Whether the run ends on its own."""
        return self.max_frames is not None or self.seconds is not None

    def __str__(self) -> str:
        parts = [f"{self.max_frames} frames per feed"] if self.max_frames is not None else []
        parts += [f"{self.seconds:g} s"] if self.seconds is not None else []
        return " or ".join(parts) or "until stopped"


UNBOUNDED = Bounds()


class _BoundedPartition(StatefulSourcePartition[Item, None]):
    """A live partition that ends (StopIteration) at its frame budget or deadline."""

    def __init__(
        self,
        name: str,
        inner: StatefulSourcePartition[Item, Any],
        bounds: Bounds,
        stop: threading.Event,
    ) -> None:
        self.name = name
        self.stop = stop
        self.inner = inner
        self.frames_left = bounds.max_frames
        self.deadline_mono = None if bounds.seconds is None else time.monotonic() + bounds.seconds
        self.frames = 0
        self.closed = False
        self._lock = threading.Lock()

    def _over(self) -> bool:
        if self.stop.is_set():
            return True
        if self.frames_left is not None and self.frames_left <= 0:
            return True
        return self.deadline_mono is not None and time.monotonic() >= self.deadline_mono

    def next_batch(self) -> list[Item]:
        if self._over():
            self.close()
            raise StopIteration
        batch = list(self.inner.next_batch())
        if self.frames_left is not None:
            kept: list[Item] = []
            for item in batch:
                if isinstance(item, RawFrame):
                    if self.frames_left <= 0:
                        break  # the rest of the batch is past the budget: never emitted
                    self.frames_left -= 1
                kept.append(item)
            batch = kept
        self.frames += sum(1 for x in batch if isinstance(x, RawFrame))
        return batch

    def next_awake(self) -> datetime | None:
        inner = self.inner.next_awake()
        if self.deadline_mono is None:
            return inner
        deadline = datetime.now(UTC) + timedelta(
            seconds=max(0.0, self.deadline_mono - time.monotonic())
        )
        return deadline if inner is not None and inner > deadline else inner

    def snapshot(self) -> None:
        return None  # a live feed resumes by reconnecting, never by replaying

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.inner.close()


class BoundedSource(FixedPartitionedSource[Item, None]):
    """Wrap a live source so its partitions end at `bounds`; built partitions go to `registry`."""

    def __init__(
        self,
        inner: FixedPartitionedSource[Item, Any],
        bounds: Bounds,
        registry: list[_BoundedPartition],
        stop: threading.Event,
    ) -> None:
        self.inner = inner
        self.bounds = bounds
        self.registry = registry
        self.stop = stop

    def list_parts(self) -> list[str]:
        return self.inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _BoundedPartition:
        part = _BoundedPartition(
            for_part, self.inner.build_part(step_id, for_part, None), self.bounds, self.stop
        )
        self.registry.append(part)
        return part


def wanted_pool_accounts(
    venue: str, pool_address: str, payload: bytes, with_tick_arrays: bool = True
) -> list[str]:
    """Accounts a DEX market needs besides itself, from its raw pool/market account bytes.

    The venue's adapter says which: CLMM tick arrays around the current tick (when derived),
    Raydium's AmmConfig and bitmap extension, OpenBook's `bids` and `asks` BookSides.
    """
    a = venues.dex(venue)
    return a.wanted_accounts(pool_address, a.decode_main(payload), with_tick_arrays)


@dataclass
class TickArrayWatcher:
    """`op.inspect` hook: when a pool account arrives, subscribe the accounts it needs."""

    source: AccountFeedSource
    pools: dict[str, tuple[str, bool]]
    """Pool address -> (venue, derive tick arrays?)."""
    watched: dict[str, set[str]]
    requests: int = 0
    decode_errors: int = 0
    """Pool accounts we could not decode; the graph's market state reports each one itself."""

    def __call__(self, step_id: str, item: Item) -> None:
        """Inspect one input item; only pool account frames matter."""
        if not isinstance(item, RawFrame) or item.kind != "account":
            return
        market, _, account = item.stream.partition(":")
        entry = self.pools.get(market)
        if entry is None or account != market:
            return
        venue, derive = entry
        try:
            wanted = wanted_pool_accounts(venue, market, item.payload, derive)
        except DecodeError:
            self.decode_errors += 1
            return
        held = self.watched[market]
        new = [a for a in wanted if a not in held]
        if new:
            held.update(new)
            self.requests += 1
            self.source.want(market, new)


@dataclass
class LiveHandles:
    """What a caller holds after wiring the live inputs: sources, watcher and `close()`."""

    cex: list[CexFeedSource] = field(default_factory=list)
    accounts: AccountFeedSource | None = None
    watcher: TickArrayWatcher | None = None
    partitions: list[_BoundedPartition] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    """Set it (`request_stop()`) to end every partition at its next poll: a clean end."""

    def request_stop(self) -> None:
        """Ask every live partition to end at its next poll, so sinks close normally."""
        self.stop_event.set()

    def frames(self) -> dict[str, int]:
        """RawFrames emitted so far per partition name."""
        return {p.name: p.frames for p in self.partitions}

    def close(self) -> None:
        """Stop every partition's transport threads (idempotent; safe after a clean end)."""
        for p in self.partitions:
            p.close()


@dataclass(frozen=True)
class LiveInputs:
    """The split live streams (frames for the graph, health for the risk guard) and handles."""

    raw: Stream[RawFrame]
    health: Stream[HealthEvent]
    handles: LiveHandles


def _markets(settings: Settings) -> list[MarketSettings]:
    out = []
    for pair in settings.pairs:
        for m in pair.markets:
            if settings.venues[m.venue].enabled:
                out.append(m)
    return out


def cex_sources(
    settings: Settings, *, transport_config: TransportConfig | None = None
) -> list[CexFeedSource]:
    """One CexFeedSource per configured CEX (venue, market), every symbol of it on one socket."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in _markets(settings):
        if venues.is_cex(m.venue) and m.symbol not in groups[(m.venue, m.market)]:
            groups[(m.venue, m.market)].append(m.symbol)
    out = []
    for (venue, market), symbols in sorted(groups.items()):
        v = settings.venues[venue]
        if not v.ws_url or not v.rest_url:
            raise ConfigError(f"[venues.{venue}]: ws_url and rest_url are needed for live feeds")
        cfg = transport_config or TransportConfig()
        if v.stale_after_ms is not None and cfg.stale_after_s is None:
            # the configured budget replaces the adapter's; a caller's explicit one is kept
            cfg = replace(cfg, stale_after_s=v.stale_after_ms / 1000.0)
        out.append(
            CexFeedSource(
                venue,
                symbols,
                market,
                venues.cex(venue).ws_url(v.ws_url, market),
                v.rest_url,
                config=cfg,
            )
        )
    return out


def dex_watch_lists(
    settings: Settings,
) -> tuple[dict[str, list[str]], dict[str, str], dict[str, tuple[str, bool]]]:
    """(market -> accounts to watch first, market -> venue, market -> (venue, derive arrays?)).

    The third map lists the markets the watcher must complete once their main account arrives.
    """
    accounts: dict[str, list[str]] = {}
    venue_of: dict[str, str] = {}
    pools: dict[str, tuple[str, bool]] = {}
    for m in _markets(settings):
        if venues.is_cex(m.venue):
            continue
        adapter = venues.dex(m.venue)
        accounts[m.address] = [m.address, *m.tick_arrays]
        venue_of[m.address] = m.venue
        derive = not m.tick_arrays
        if adapter.watch_main(derive):
            pools[m.address] = (m.venue, derive)
    return accounts, venue_of, pools


def account_source(
    settings: Settings, *, rpc_kwargs: Mapping[str, Any] | None = None
) -> tuple[AccountFeedSource, TickArrayWatcher] | None:
    """The Solana account feed of every configured DEX market and its watcher (None if none)."""
    accounts, venue_of, pools = dex_watch_lists(settings)
    if not accounts:
        return None
    kwargs = {"max_slot_lag": settings.risk.max_slot_lag, **(rpc_kwargs or {})}
    source = AccountFeedSource(settings.rpc, accounts, venues=venue_of, rpc_kwargs=kwargs)
    watcher = TickArrayWatcher(source, pools, {k: set(v) for k, v in accounts.items()})
    return source, watcher


def live_inputs(
    flow: Dataflow,
    settings: Settings,
    *,
    bounds: Bounds = UNBOUNDED,
    transport_config: TransportConfig | None = None,
    rpc_kwargs: Mapping[str, Any] | None = None,
) -> LiveInputs:
    """Add every live input of `settings` to `flow`; return the frame and health streams."""
    handles = LiveHandles()
    streams: list[Stream[Item]] = []
    for src in cex_sources(settings, transport_config=transport_config):
        handles.cex.append(src)
        step = f"cex_{src.venue}_{src.market}".replace("-", "_")
        streams.append(
            op.input(step, flow, BoundedSource(src, bounds, handles.partitions, handles.stop_event))
        )
    acc = account_source(settings, rpc_kwargs=rpc_kwargs)
    if acc is not None:
        handles.accounts, handles.watcher = acc
        s = op.input(
            "solana_accounts",
            flow,
            BoundedSource(handles.accounts, bounds, handles.partitions, handles.stop_event),
        )
        streams.append(op.inspect("tick_array_watcher", s, handles.watcher))
    if not streams:
        raise ConfigError("no enabled market in the markets config: nothing to watch")
    merged = streams[0] if len(streams) == 1 else op.merge("live_in", *streams)
    split = op.branch("frames_or_health", merged, _is_frame)
    health = cast(Stream[HealthEvent], split.falses)  # a live source emits nothing else
    return LiveInputs(raw=split.trues, health=health, handles=handles)


def _is_frame(item: Item) -> TypeGuard[RawFrame]:
    return isinstance(item, RawFrame)


def bounds_from_env(env: Mapping[str, str], prefix: str) -> Bounds:
    """`Bounds` from `<prefix>_SECONDS` / `<prefix>_MAX_FRAMES` (e.g. SOLARB_PAPER_SECONDS)."""

    def num(name: str, cast: Callable[[str], Any]) -> Any:
        raw = env.get(f"{prefix}_{name}")
        if not raw:
            return None
        try:
            value = cast(raw)
        except ValueError:
            raise ConfigError(f"environment {prefix}_{name}={raw!r}: not a number") from None
        if value <= 0:
            raise ConfigError(f"environment {prefix}_{name}={raw!r}: must be > 0")
        return value

    return Bounds(max_frames=num("MAX_FRAMES", int), seconds=num("SECONDS", float))


def market_ids(settings: Settings) -> list[str]:
    """Every configured market id, in config order."""
    return [m.market_id for p in settings.pairs for m in p.markets]
