"""Build the engine's plain parameter dataclasses (spread, costs, risk) from `Settings`.

Operators never import config: this module is the one place where TOML-shaped settings become
integers in base units, ns and bps for `operators.spread.PairEngine`.

Every bps, percent and rate threshold is converted here, once, to integer ppb: the parameter
dataclasses keep the configured float (for reports) and work out its ppb when built
(`operators.fixedpoint.to_ppb`: the decimal the TOML wrote, scaled, nearest, ties to even);
decisions read only the ppb.
"""

from __future__ import annotations

from decimal import Decimal

from config import PairSettings, Settings
from connectors import venues
from connectors.solana.sources import FEED_SOURCE
from operators.costs import CostParams, GasParams
from operators.errors import ConfigError
from operators.fill_risk import FillRiskParams
from operators.fixedpoint import bps_to_ppb
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
        stale_after_ns=settings.engine.stale_after_ms * NS_PER_MS,
        cex_stale_after_ns={
            m.market_id: cex_stale_after_ms(settings, m.venue, m.market) * NS_PER_MS
            for m in pair.markets
            if venues.is_cex(m.venue)
        },
        min_net_bps=t.min_net_bps,
        hysteresis=HysteresisParams(
            debounce_ns=t.debounce_ms * NS_PER_MS,
            rearm_below_bps=t.rearm_below_bps,
            update_min_edge_change_bps=t.update_min_edge_change_bps,
            update_min_size_change_pct=t.update_min_size_change_pct,
        ),
    )


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
    )


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
