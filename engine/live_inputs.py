"""Live inputs of the paper, live and record flows, wired from the settings.

    CexFeedSource per (venue, market) ───┐
                                         ├─► merge ─► account watcher ─► branch ─► RawFrames
    AccountFeedSource (every DEX market) ┤            (op.inspect)              └─► HealthEvents
    ControlSource (paper/live only)      ┘

- With `control`, one `ControlSource` (connectors/control.py) turns `solarb kill` / `arm` into
  `HealthEvent`s for the risk guard; it ends once every feed partition has (or on stop).

- One `CexFeedSource` per configured CEX (venue, spot|perp) with every symbol of that venue on
  one WS connection, URLs from `[venues.<name>]` (the adapter maps the URL per market).
- One `AccountFeedSource` for every configured DEX market: its main account plus what its
  adapter says it needs (connectors/solana/watcher.py subscribes those as they become known).
- Every source is wrapped in `connectors.bounded.BoundedSource` (frames / seconds / stop).
  `LiveHandles.request_stop()` ends them all at their next poll (the CLI wires it to Ctrl-C)
  so sinks still close and write their files; `LiveHandles.close()` stops every partition's
  threads, for `finally` blocks: Bytewax only calls `close()` itself on a clean end.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from config import MarketSettings, Settings
from connectors import venues
from connectors.bounded import UNBOUNDED, BoundedPartition, BoundedSource, Bounds
from connectors.cex.sources import CexFeedSource
from connectors.cex.transport import TransportConfig
from connectors.control import ControlSource, is_tick
from connectors.secrets import resolve_rpc, resolve_url
from connectors.solana.sources import AccountFeedSource
from connectors.solana.watcher import TickArrayWatcher, wanted_pool_accounts
from engine.router import hedge_feeds
from operators.errors import ConfigError
from operators.events import HealthEvent, RawFrame

Item = RawFrame | HealthEvent

__all__ = [
    "UNBOUNDED",
    "Bounds",
    "LiveHandles",
    "LiveInputs",
    "TickArrayWatcher",
    "account_source",
    "bounds_from_env",
    "cex_sources",
    "dex_watch_lists",
    "live_inputs",
    "market_ids",
    "wanted_pool_accounts",
]

@dataclass
class LiveHandles:
    """What a caller holds after wiring the live inputs: sources, watcher and `close()`."""

    cex: list[CexFeedSource] = field(default_factory=list)
    accounts: AccountFeedSource | None = None
    watcher: TickArrayWatcher | None = None
    partitions: list[BoundedPartition] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    """Set it (`request_stop()`) to end every partition at its next poll: a clean end."""

    def request_stop(self) -> None:
        """Ask every live partition to end at its next poll, so sinks close normally."""
        self.stop_event.set()

    def frames(self) -> dict[str, int]:
        """RawFrames emitted so far per partition name."""
        return {p.name: p.frames for p in self.partitions}

    closers: list[Callable[[], None]] = field(default_factory=list)
    """More to stop in `close()` (the live execution gateway), after the partitions."""

    def feeds_over(self) -> bool:
        """Whether a stop was asked or every feed partition has ended."""
        parts = self.partitions
        return self.stop_event.is_set() or (bool(parts) and all(p.closed for p in parts))

    def close(self) -> None:
        """Stop every partition's transport threads (idempotent; safe after a clean end)."""
        for p in self.partitions:
            p.close()
        for close in self.closers:
            close()


@dataclass(frozen=True)
class LiveInputs:
    """The split live streams (frames for the graph, health for the risk guard) and handles."""

    raw: Stream[RawFrame]
    health: Stream[HealthEvent]
    handles: LiveHandles
    guard_health: Stream[HealthEvent] | None = None
    """`health` plus the control source's clock ticks: for the risk guard, not the journal
    (None without `control`: then `health` is all the guard needs)."""
    every: Stream[Item] | None = None
    """Frames and health / control events in the one order they enter the graph (what
    `--record` writes: engine/recording.py)."""


def _markets(settings: Settings) -> list[MarketSettings]:
    """Every enabled market to subscribe: the pairs' markets and the hedge perps' books."""
    out = []
    for pair in settings.pairs:
        for m in pair.markets:
            if settings.venues[m.venue].enabled:
                out.append(m)
    return out + [ref.market for ref in hedge_feeds(settings)]


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
                venues.cex(venue).ws_url(resolve_url(v.ws_url), market),
                resolve_url(v.rest_url),
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
    rpc = resolve_rpc(settings.rpc)  # endpoint URLs may be keychain references (keys inside)
    source = AccountFeedSource(rpc, accounts, venues=venue_of, rpc_kwargs=kwargs,
                               stale_after_ms=rpc.stale_after_ms)
    watcher = TickArrayWatcher(source, pools, {k: set(v) for k, v in accounts.items()})
    return source, watcher


def live_inputs(
    flow: Dataflow,
    settings: Settings,
    *,
    bounds: Bounds = UNBOUNDED,
    transport_config: TransportConfig | None = None,
    rpc_kwargs: Mapping[str, Any] | None = None,
    control: bool = False,
    control_signal: bool = False,
) -> LiveInputs:
    """Add every live input of `settings` to `flow`; return the frame and health streams.

    `control` adds the manual kill / arm source (`engine.control_dir`); `control_signal` also
    has it handle SIGUSR1 (main thread only: the CLI's runs).
    """
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
    if control:
        parts, stop = handles.partitions, handles.stop_event

        def feeds_over() -> bool:
            return stop.is_set() or (bool(parts) and all(p.closed for p in parts))

        e = settings.engine
        ctl = ControlSource(
            Path(e.control_dir),
            e.control_poll_ms / 1000,
            feeds_over,
            install_signal=control_signal,
        )
        streams.append(cast(Stream[Item], op.input("control", flow, ctl)))
    merged = streams[0] if len(streams) == 1 else op.merge("live_in", *streams)
    split = op.branch("frames_or_health", merged, _is_frame)
    every = cast(Stream[HealthEvent], split.falses)  # a live source emits nothing else
    if not control:
        return LiveInputs(raw=split.trues, health=every, handles=handles, every=merged)
    health = op.filter("health_without_ticks", every, lambda ev: not is_tick(ev))
    return LiveInputs(
        raw=split.trues, health=health, handles=handles, guard_health=every, every=merged
    )


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
