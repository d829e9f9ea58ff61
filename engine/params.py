"""Build the engine's plain parameter dataclasses (spread, costs, risk) from `Settings`.

Operators never import config: this module is the one place where TOML-shaped settings become
integers in base units, ns and bps for `operators.spread.PairEngine`.

Every bps, percent and rate threshold is converted here, once, to integer ppb: the parameter
dataclasses keep the configured float (for reports) and work out its ppb when built
(`operators.fixedpoint.to_ppb`: the decimal the TOML wrote, scaled, nearest, ties to even);
decisions read only the ppb.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from config import PairSettings, Settings
from connectors import venues
from connectors.solana.sources import FEED_SOURCE
from operators.costs import CostParams, GasParams
from operators.errors import ConfigError
from operators.fill_risk import FillRiskParams
from operators.fixedpoint import bps_to_ppb
from operators.fx import constant_fx
from operators.legs import FlattenFx
from operators.risk import (
    RiskParams,
    quote_to_usd_micro_ratio,
    usd_micro,
    usd_to_quote_units,
)
from operators.signals import HysteresisParams
from operators.spread import SpreadParams

__all__ = [
    "cex_stale_after_ms",
    "cost_params_from_settings",
    "feed_of_sources",
    "reference_params",
    "risk_params",
    "spread_params_from_settings",
]

NS_PER_MS = 1_000_000


def _base_units(pair: PairSettings, amount: Decimal, what: str) -> int:
    scaled = amount.scaleb(pair.base_decimals)
    if scaled != scaled.to_integral_value():
        raise ConfigError(
            f"pair {pair.name}: {what} {amount} is finer than one base unit "
            f"({pair.base_decimals} decimals)"
        )
    return int(scaled)


def cost_params_from_settings(settings: Settings) -> CostParams:
    """CostParams from [venues], [thresholds], [gas] and `sol_price_quote`."""
    t, g = settings.thresholds, settings.gas
    venues = settings.venues.items()
    return CostParams(
        cex_taker_fee_bps={n: v.taker_fee_bps for n, v in venues if v.kind == "cex"},
        dex_taker_fee_bps={n: v.taker_fee_bps for n, v in venues if v.kind == "clob"},
        gas=GasParams(
            signatures=g.signatures,
            base_fee_lamports=g.base_fee_lamports,
            cu_limit=g.cu_limit,
            cu_price_floor_micro_lamports=g.cu_price_floor_micro_lamports,
            cu_price_cap_micro_lamports=g.cu_price_cap_micro_lamports,
            priority_share_of_edge=g.priority_share_of_edge,
            landing_target_rate=g.landing_target_rate,
            landing_min_samples=g.landing_min_samples,
            landing_window=g.landing_window,
        ),
        sol_price_quote=settings.sol_price_quote,
        slippage_default_bps=t.slippage_default_bps,
        slippage_min_fills=t.slippage_min_fills,
        slippage_window_fills=t.slippage_window_fills,
        hedge_fee_bps=t.hedge_fee_bps,
        funding_bps_per_hour=t.funding_bps_per_hour,
        expected_hold_s=t.expected_hold_s,
        safety_margin_bps=t.safety_margin_bps,
    )


def spread_params_from_settings(settings: Settings, pair_name: str) -> SpreadParams:
    """SpreadParams of one pair: sizes in base units, caps in pair-quote base units, ns times.

    The per-trade notional cap is `risk.max_notional_usd` valued like the risk guard does (the
    pair's quote currency at its [fx] rate), so the engine never sizes beyond what risk
    accepts. CEX lot sizes come from each market's `lot_size`; CLOB lots come from the market
    account (the view) at run time.
    """
    pair = settings.pair(pair_name)
    t = settings.thresholds
    lots = {
        m.market_id: _base_units(pair, m.lot_size, f"market {m.market_id} lot_size")
        for m in pair.markets
        if m.lot_size is not None and settings.venues[m.venue].kind == "cex"
    }
    if any(v <= 0 for v in lots.values()):
        raise ConfigError(f"pair {pair.name}: every lot_size must be positive")
    if pair.quote not in settings.fx:
        raise ConfigError(f"pair {pair.name}: pair quote {pair.quote!r} has no [fx] rate")
    usd_rate = settings.fx[pair.quote]
    refs = reference_params(settings, pair)
    return SpreadParams(
        pair=pair.name,
        base_decimals=pair.base_decimals,
        quote_decimals=pair.quote_decimals,
        quote_currency=pair.quote,
        costs=cost_params_from_settings(settings),
        max_trade_base=_base_units(pair, pair.max_trade_base, "max_trade_base"),
        max_notional_quote=usd_to_quote_units(
            settings.risk.max_notional_usd, pair.quote_decimals, usd_rate
        ),
        fx=dict(settings.fx),
        size_steps=pair.size_steps,
        lot_size_base=lots,
        min_notional={
            m.market_id: int((m.min_notional.scaleb(pair.quote_decimals)).to_integral_value(
                rounding=ROUND_CEILING
            ))
            for m in pair.markets
            if m.min_notional is not None
        },
        stale_after_ns=settings.engine.stale_after_ms * NS_PER_MS,
        cex_stale_after_ns={
            m.market_id: cex_stale_after_ms(settings, m.venue, m.market) * NS_PER_MS
            for m in pair.markets
            if venues.is_cex(m.venue)
        },
        base_currency=pair.base,
        reference_markets=refs.markets,
        sol_from_books=refs.sol_from_books,
        fx_from_books=refs.fx_from_books,
        reference_notes=refs.notes,
        feed_of={
            mid: feed
            for mid, feed in feed_of_sources(settings).items()
            if mid in {m.market_id for m in pair.markets}
        },
        dex_feed=FEED_SOURCE,
        max_slot_lag=settings.risk.max_slot_lag,
        min_net_bps=t.min_net_bps,
        hysteresis=HysteresisParams(
            debounce_ns=t.debounce_ms * NS_PER_MS,
            rearm_below_bps=t.rearm_below_bps,
            update_min_edge_change_bps=t.update_min_edge_change_bps,
            update_min_size_change_pct=t.update_min_size_change_pct,
        ),
    )


@dataclass(frozen=True)
class ReferencePlan:
    """Where one pair's reference prices come from (see `reference_params`)."""

    markets: dict[str, str]
    """Reference-only book market id -> its base currency."""
    sol_from_books: bool
    fx_from_books: frozenset[str]
    notes: tuple[str, ...]
    """Constants used instead of books, one sentence each (journaled at start)."""


def reference_params(settings: Settings, pair: PairSettings) -> ReferencePlan:
    """The pair's reference prices: SOL (gas) and each non-pair quote currency, from books
    unless `[reference]` says `constant`; a pair lacking a book it needs is refused unless
    `reference.constant_fallback` is set, and every constant used is noted for the journal."""
    ref = settings.reference
    markets: dict[str, str] = {}
    for m in pair.markets:
        if not m.reference:
            continue
        if not venues.is_cex(m.venue) or not m.base_currency:
            raise ConfigError(
                f"pair {pair.name}: reference market {m.market_id} must be a CEX book with a "
                "base_currency"
            )
        markets[m.market_id] = m.base_currency
    notes: list[str] = []
    quote = pair.quote

    def fallback(what: str) -> None:
        if not ref.constant_fallback:
            raise ConfigError(
                f"pair {pair.name}: no book prices {what}; add a reference market "
                "(reference = true, base_currency) or set reference.constant_fallback = true"
            )

    sol_books = pair.base == "SOL" or "SOL" in markets.values()
    sol_from_books = ref.sol == "books" and sol_books
    if ref.sol == "constant":
        notes.append(f"SOL priced at the constant sol_price_quote {settings.sol_price_quote} "
                     f"{quote} (reference.sol = constant)")
    elif not sol_books:
        fallback("SOL (gas)")
        notes.append(f"no SOL book: SOL priced at the constant sol_price_quote "
                     f"{settings.sol_price_quote} {quote} (reference.constant_fallback)")
    currencies = {m.quote_currency for m in pair.markets} - {quote}
    live: set[str] = set()
    for c in sorted(currencies):
        priced = any(
            {b, m.quote_currency} == {c, quote}
            for m in pair.markets
            if m.reference
            for b in (m.base_currency,)
        )
        if ref.fx == "books" and priced:
            live.add(c)
            continue
        if ref.fx == "books":
            fallback(f"{c} in {quote}")
        why = "reference.constant_fallback" if ref.fx == "books" else "reference.fx = constant"
        notes.append(f"{c} valued at the constant [fx] {settings.fx[c]} {quote} ({why})")
    return ReferencePlan(markets, sol_from_books, frozenset(live), tuple(notes))


def cex_stale_after_ms(settings: Settings, venue: str, market: str) -> int:
    """Staleness budget (ms) of a CEX venue's feed and books: `[venues.<venue>] stale_after_ms`
    when set, else the adapter's (derived from its book stream's cadence)."""
    configured = settings.venues[venue].stale_after_ms
    if configured is not None:
        return configured
    adapter = venues.cex(venue)
    return venues.cex(adapter.source_for(market)).stale_after_ms


def feed_of_sources(settings: Settings) -> dict[str, str]:
    """Health source -> the feed it speaks for, for the risk guard: the Solana account feed and
    each configured CEX connection (venue id as its transport reports it) speak for themselves;
    every market id speaks for the feed carrying it."""
    out = {FEED_SOURCE: FEED_SOURCE}
    for pair in settings.pairs:
        for m in pair.markets:
            if venues.is_cex(m.venue):
                feed = venues.cex(m.venue).source_for(m.market)
                out[feed] = feed
            else:
                feed = FEED_SOURCE
            out[m.market_id] = feed
    return out


def risk_params(settings: Settings) -> RiskParams:
    """Risk rails from config: caps in micro-USD, and each pair's quote -> micro-USD rate.

    A pair's quote currency is valued at its [fx] rate (one unit of USDC = one USD), so the
    shared caps hold across pairs quoted in different currencies and decimals.
    """
    r = settings.risk
    rates = {}
    for pair in settings.pairs:
        if pair.quote not in settings.fx:
            raise ConfigError(f"pair {pair.name}: pair quote {pair.quote!r} has no [fx] rate")
        rates[pair.name] = quote_to_usd_micro_ratio(pair.quote_decimals, settings.fx[pair.quote])
    return RiskParams(
        max_notional_usd_micro=usd_micro(r.max_notional_usd),
        max_notional_per_minute_usd_micro=usd_micro(r.max_notional_per_minute_usd),
        max_exposure_usd_micro=usd_micro(r.max_exposure_usd),
        max_open_orders=r.max_open_orders,
        kill_switch=r.kill_switch,
        feed_down_kill_ns=r.ws_down_kill_ms * 1_000_000,
        max_slot_lag=r.max_slot_lag,
        quote_usd_micro=rates,
        limit_slippage_bps=r.limit_slippage_bps,
        rearm_auto=r.rearm == "auto",
        rearm_after_ns=r.rearm_after_ms * NS_PER_MS,
        feed_of=feed_of_sources(settings),
        max_spread_bps=r.max_spread_bps,
        max_clock_drift_ns=r.max_clock_drift_ms * NS_PER_MS,
        give_up_ppb=bps_to_ppb(r.give_up_bps),
        reports_settle_ns=r.reports_settle_ms * NS_PER_MS,
        unreported_leg_ns=r.unreported_leg_ms * NS_PER_MS,
        dex_unreported_leg_ns=(dex_send_bound_ms(settings) + r.unreported_leg_ms) * NS_PER_MS,
        dex_markets=frozenset(
            m.market_id for p in settings.pairs for m in p.markets if not venues.is_cex(m.venue)
        ),
        dex_first=settings.engine.leg_order == "dex_first",
        venue_of=report_venue_of(settings),
        max_daily_loss_usd_micro=usd_micro(r.max_daily_loss_usd),
    )


def dex_send_bound_ms(settings: Settings) -> int:
    """How long a sent DEX leg may stay unreported (ms): the sender's confirmation bound plus
    its read-back of a landed transaction (engine/exec_step.dex_sent_timeout_ns, in ms)."""
    d = settings.dex_execution
    return d.confirm_timeout_ms + 5 * d.rebroadcast_ms


def report_venue_of(settings: Settings) -> dict[str, str]:
    """Market id -> the venue id its execution reports name: a CEX market's order transport
    (`binance`, `binance-usdm`), a DEX market's venue (`orca`)."""
    out: dict[str, str] = {}
    for p in settings.pairs:
        for m in (*p.markets, *p.hedges):
            cex = venues.is_cex(m.venue)
            out[m.market_id] = venues.cex(m.venue).source_for(m.market) if cex else m.venue
    return out


def fill_risk_params(settings: Settings) -> FillRiskParams:
    """Fill-risk thresholds from `[risk]` (micro-USD, ppb), each pair's quote -> micro-USD."""
    r = settings.risk
    return FillRiskParams(
        max_daily_loss_usd_micro=usd_micro(r.max_daily_loss_usd),
        max_slippage_p95_ppb=bps_to_ppb(r.max_slippage_p95_bps),
        slippage_window=r.slippage_kill_window_fills,
        slippage_min_fills=r.slippage_kill_min_fills,
        max_dex_failures=r.max_dex_failures,
        dex_failure_window_ns=r.dex_failure_window_ms * NS_PER_MS,
        max_exposure_usd_micro=usd_micro(r.max_exposure_usd),
        quote_usd_micro=risk_params(settings).quote_usd_micro,
    )


def flatten_fx(settings: Settings, pair: str) -> FlattenFx:
    """The currencies of a pair's hedge markets and the `[fx]` constant of each currency its
    markets are quoted in (in the pair's quote): how its hedge / unwind orders are valued."""
    p = settings.pair(pair)
    markets = [*p.markets, *p.hedges]
    return FlattenFx(
        p.quote,
        {h.market_id: h.quote_currency for h in p.hedges},
        {
            m.quote_currency: constant_fx(settings.fx, m.quote_currency, p.quote)
            for m in markets
            if m.quote_currency != p.quote
        },
    )


def hedge_markets(pair: PairSettings) -> dict[str, tuple[str, str]]:
    """Spot CEX market id -> (hedge venue, hedge market id): the perp of `[[pairs.hedges]]` on
    the same exchange (its own venue id, or the id the spot venue names for its perps, e.g.
    `binance` -> `binance-usdm`). A hedge no spot market of the pair can use is a config error."""
    out: dict[str, tuple[str, str]] = {}
    for h in pair.hedges:
        if not venues.is_cex(h.venue):
            raise ConfigError(f"pair {pair.name}: hedge market {h.market_id} is not on a CEX")
        served = [
            m.market_id
            for m in pair.markets
            if venues.is_cex(m.venue) and not m.reference and m.market == "spot"
            and h.venue in (m.venue, venues.cex(m.venue).source_for("perp"))
        ]  # fmt: skip
        if not served:
            raise ConfigError(
                f"pair {pair.name}: hedge market {h.market_id} has no spot market of its "
                "exchange in the pair to hedge"
            )
        for mid in served:
            if mid in out:
                raise ConfigError(
                    f"pair {pair.name}: {mid} has two hedge markets ({out[mid][1]}, {h.market_id})"
                )
            out[mid] = (h.market_id, h.market_id)
    return out
