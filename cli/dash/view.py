"""`DashState` as the text the dashboard shows: human units (SOL, USDC, bps, µs), no widgets.

Kept apart from the Textual app so the exact strings are testable without a terminal and the
app is only layout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from cli.dash.state import DashState, FeedLine, PairFigures, SignalLine, SpreadLine
from replay.report import PairUnits

SLIPPAGE_NA = "n/a: no leg filled yet"
OPEN_LEGS_NA = "n/a: no legs table in this journal"
UNITS_UNKNOWN = "pair not in the markets config: amounts in base units; pass the run's --markets"
SPREADS_CAPTION = (
    "per pair: latest journaled spread per direction and venue combination "
    "(the engine journals a spread only while it beats the trigger)"
)
FEEDS_CAPTION = (
    "feeds: sync and freshness (age of the latest health event; live feeds send `up` "
    "heartbeats; frames and resyncs when a run ends)"
)
SPREAD_COLUMNS = ("direction", "buy", "sell", "spread bps", "trigger bps", "net bps", "size", "age")
FEED_COLUMNS = (
    "source", "status", "in sync", "last event", "age", "events", "not up", "frames", "resyncs",
    "detail",
)
SIGNAL_COLUMNS = (
    "time (UTC)",
    "pair",
    "direction",
    "buy",
    "sell",
    "size",
    "net bps",
    "risk",
    "fills",
)


def amount(units: int, decimals: int, places: int) -> str:
    """Integer base units as a signed decimal rounded half-up to `places` (integer maths)."""
    sign = "-" if units < 0 else ""
    scale = 10 ** max(decimals - places, 0)
    q = (abs(units) * 10 ** max(places - decimals, 0) + scale // 2) // scale
    whole, frac = divmod(q, 10**places)
    return f"{sign}{whole:,}.{frac:0{places}d}" if places else f"{sign}{whole:,}"


def signed(text: str) -> str:
    """A figure with an explicit + when positive."""
    return text if text.startswith("-") or text.strip("0.,") == "" else "+" + text


def utc(ts_ns: int) -> str:
    """Nanoseconds since the epoch as HH:MM:SS.mmm UTC."""
    s, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.gmtime(s)) + f".{ns // 1_000_000:03d}"


def utc_full(ts_ns: int) -> str:
    """Nanoseconds since the epoch as YYYY-MM-DD HH:MM:SS UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ns // 1_000_000_000)) + " UTC"


def age(ns: int) -> str:
    """A duration in the unit a person reads best."""
    if ns < 0:
        return "0 ms"
    if ns < 1_000_000_000:
        return f"{ns // 1_000_000} ms"
    if ns < 120_000_000_000:
        return f"{ns / 1e9:.1f} s"
    if ns < 7_200_000_000_000:
        return f"{ns // 60_000_000_000} min"
    return f"{ns // 3_600_000_000_000} h"


def venue(market_id: str) -> str:
    """A market id short enough for a column: on-chain addresses keep their ends."""
    kind, _, name = market_id.partition(":")
    return f"{kind}:{name[:4]}…{name[-4:]}" if len(name) > 16 else market_id


def size(units: int, u: PairUnits | None) -> str:
    """A base amount in the base token (raw base units when the pair is not configured)."""
    return f"{amount(units, u.base_decimals, 3)} {u.base}" if u else f"{units} base units"


def quote(units: int, u: PairUnits | None, places: int = 2) -> str:
    """A quote amount in the quote token (raw units when the pair is not configured)."""
    return f"{signed(amount(units, u.quote_decimals, places))} {u.quote}" if u else f"{units}"


def kill_line(s: DashState) -> str:
    """The kill-switch banner."""
    k = s.kill
    counts = f"{k.trips} trips, {k.rearms} re-arms, {k.rejected} signals rejected by it"
    if k.killed:
        return f"KILL SWITCH: KILLED since {utc(k.since_ns)} ({k.reason}) | {counts}"
    if k.trips or k.rejected:
        return f"kill switch: armed (re-armed {utc(k.since_ns)}) | {counts}"
    return f"kill switch: armed | {counts}"


def pair_line(p: PairFigures, u: PairUnits | None) -> str:
    """One pair's headline, two lines: signals and hit rate; PnL (quote and bps) and volume."""
    hit = (
        f"{p.hits}/{p.accepted} = {p.hit_rate * 100:.1f} %" if p.hit_rate is not None else "n/a"
    )
    bps = f"{p.pnl_bps:+.2f} bps" if p.pnl_bps is not None else "n/a"
    notional = quote(p.notional_quote, u).lstrip("+")
    return (
        f"{p.pair}  signals {p.signals} (accepted {p.accepted})  hit rate {hit}  "
        f"arbs {p.completed} completed, {p.one_legged} one-legged\n"
        f"  PnL {quote(p.pnl_quote, u)} on {notional} = {bps}  volume {size(p.volume_base, u)}"
        + ("" if u else f"  ({UNITS_UNKNOWN})")
    )


def spread_row(x: SpreadLine, u: PairUnits | None) -> tuple[str, ...]:
    """One venue combination's latest spread."""
    return (
        x.direction,
        venue(x.buy_venue),
        venue(x.sell_venue),
        f"{x.spread_bps:.2f}",
        f"{x.threshold_bps:.2f}",
        f"{x.net_bps:+.2f}",
        size(x.size_base, u),
        age(x.age_ns),
    )


def feed_row(f: FeedLine) -> tuple[str, ...]:
    """One health source's latest state ("-" where the journal has no figure yet)."""
    sync = {True: "yes", False: "NO", None: "-"}[f.in_sync]
    return (
        venue(f.source),
        f.status or "-",
        sync,
        "-" if f.ts_recv_ns is None else utc(f.ts_recv_ns),
        "-" if f.age_ns is None else age(f.age_ns),
        str(f.events),
        str(f.not_up_events),
        "-" if f.frames is None else f"{f.frames:,}",
        "-" if f.resyncs is None else str(f.resyncs),
        f.detail,
    )


def signal_row(x: SignalLine, u: PairUnits | None) -> tuple[str, ...]:
    """One recent signal and its outcome."""
    if x.pnl_quote is not None:
        fills = f"{x.legs_filled}/2 filled, {quote(x.pnl_quote, u)}"
    elif x.legs_reported:
        fills = f"{x.legs_filled}/2 filled"
    else:
        fills = "-"
    return (
        utc(x.ts_detect_ns),
        x.pair,
        x.direction,
        venue(x.buy_venue),
        venue(x.sell_venue),
        size(x.size_base, u),
        f"{x.net_bps:+.2f}",
        x.decision,
        fills,
    )


def figures_lines(s: DashState) -> list[str]:
    """Latency, slippage and open legs, one line each."""
    lat = s.latency
    lat_txt = (
        f"p50 {lat.p50_us:,.0f} µs  p90 {lat.p90_us:,.0f} µs  p99 {lat.p99_us:,.0f} µs  "
        f"max {lat.max_us:,.0f} µs  ({lat.n} samples)"
        if lat
        else "n/a (no opportunity yet)"
    )
    slip = (
        f"{s.slippage_p95_bps:.2f} bps (fills vs decision-time price)"
        if s.slippage_p95_bps is not None
        else SLIPPAGE_NA
    )
    return [
        f"tick -> opportunity  {lat_txt}",
        f"p95 slippage         {slip}",
        f"open legs            {open_legs_text(s)}",
    ]


def open_legs_text(s: DashState) -> str:
    """Open legs per state (from the legs table), and the ones a person must close."""
    if s.open_legs is None:
        return f"{OPEN_LEGS_NA} (paper intents awaiting a fill: {s.awaiting_fill})"
    n = sum(s.open_legs.values())
    states = ", ".join(f"{k} {v}" for k, v in s.open_legs.items())
    stuck = f"; {s.stuck_legs} UNWIND TIMED OUT, close by hand" if s.stuck_legs else ""
    return f"{n}" + (f" ({states})" if states else "") + stuck


def header_line(s: DashState, run: str, clock: str) -> str:
    """Run, clock and how much of the journal was read."""
    when = utc_full(s.clock_ns) if s.clock_ns else "no event yet"
    return f"run {run}  |  {clock} clock {when}  |  {s.rows:,} journal rows"


def units_of(units: Mapping[str, PairUnits], pair: str) -> PairUnits | None:
    """The configured units of `pair`, None when the markets config does not have it."""
    return units.get(pair)
