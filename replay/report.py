"""Run summary and report from a journal: what a user reads after a replay or paper session."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from config import Settings
from connectors.journal import read_table, run_dir
from operators.errors import ConfigError
from operators.legs import leg_intent_id
from replay.money import (
    fee_value,
    fill_cash,
    gas_quote,
    is_flattening,
    is_hedge,
    moved,
    net_base,
    open_mark,
    quote_value,
)
from replay.outcomes import outcome_table

UNROUTED_WARN_SHARE = 0.5
"""Above this share of frames matching no market, the summary warns (a wrong markets file)."""


@dataclass(frozen=True, slots=True)
class PairUnits:
    """How to show a pair's amounts to a person: symbols and decimals of base and quote."""

    base: str
    quote: str
    base_decimals: int
    quote_decimals: int


def pair_units(settings: Settings) -> dict[str, PairUnits]:
    """Units of every configured pair."""
    return {
        p.name: PairUnits(p.base, p.quote, p.base_decimals, p.quote_decimals)
        for p in settings.pairs
    }


@dataclass
class Summary:
    """The figures of one run. Money per pair in that pair's quote base units (integers); bps as
    floats, for reading only."""

    markets: list[str]
    frames: int
    frames_by_market: dict[str, int]
    signals: int
    signal_updates: int
    accepted: int
    rejected_by_rail: dict[str, int]
    legs_filled: int
    legs_rejected: int
    flattening_filled: int
    """Hedge / unwind orders filled to close one-legged arbs (not arb legs)."""
    arbs_completed: int
    arbs_one_legged: int
    pnl_by_pair: dict[str, int]
    notional_by_pair: dict[str, int]
    pairs: dict[str, PairUnits]
    latency_us: dict[str, float] = field(default_factory=dict)
    resyncs: int = 0
    unrouted_by_source: dict[str, int] = field(default_factory=dict)
    hedge_fees_by_pair: dict[str, int] = field(default_factory=dict)
    """Fees of the perp hedge fills (hedges and their closes), in the pair's quote base units;
    already inside `pnl_by_pair` (every fill's cash is net of its fee)."""
    mode: Literal["paper", "live"] = "paper"
    """Whose fills these are: the paper venue's (paper, replay) or the venues' (live)."""

    @property
    def unrouted(self) -> int:
        """Frames that matched no configured market (dropped by the router)."""
        return sum(self.unrouted_by_source.values())

    @property
    def unrouted_warning(self) -> str | None:
        """A warning when most frames matched no market, else None."""
        total = self.frames + self.unrouted
        if not total or self.unrouted / total <= UNROUTED_WARN_SHARE:
            return None
        return (
            f"{self.unrouted:,} of {total:,} frames matched no configured market — "
            "did you pass the capture's markets file (--markets)?"
        )

    @property
    def pnl_quote(self) -> int:
        """Net PnL summed over pairs (quote base units; meaningful when pairs share a quote)."""
        return sum(self.pnl_by_pair.values())

    @property
    def notional_quote(self) -> int:
        """Traded notional summed over pairs (quote base units, as `pnl_quote`)."""
        return sum(self.notional_by_pair.values())

    def pnl_bps(self, pair: str) -> float:
        """Net PnL of `pair` over its traded notional, bps."""
        n = self.notional_by_pair.get(pair, 0)
        return self.pnl_by_pair.get(pair, 0) / n * 1e4 if n else 0.0


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(root, name)
    return [] if t is None else t.to_pylist()


def summarize(journal: str | Path, settings: Settings) -> Summary:
    """Compute the run summary from the journal tables (of its latest run, or of a run folder),
    for the markets and pairs of `settings`."""
    markets = [m.market_id for p in settings.pairs for m in p.markets]
    units = pair_units(settings)
    root = run_dir(journal)
    opps = _rows(root, "opportunities")
    decisions = _rows(root, "decisions")
    fills = _rows(root, "fills")
    counters = _rows(root, "counters")
    frames_by_market = {
        c["key"]: int(c["value"])
        for c in counters
        if c["step"] == "market_state" and c["name"] == "frames"
    }
    resyncs = sum(
        int(c["value"]) for c in counters if c["step"] == "market_state" and c["name"] == "resyncs"
    )
    unrouted = {
        c["key"]: int(c["value"])
        for c in counters
        if c["step"] == "route" and c["name"] == "unrouted_frames"
    }
    rejected: dict[str, int] = {}
    for d in decisions:
        if not d["accepted"]:
            rejected[d["rail"]] = rejected.get(d["rail"], 0) + 1
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for f in fills:
        by_opp.setdefault(f["opportunity_id"], []).append(f)
    # the signal row is the one the risk guard accepted and the legs were sized on (its later
    # updates are rejected as `signal_update`), so gas is valued on it
    opp_by_id = {o["opportunity_id"]: o for o in opps if o["update_seq"] == 0}
    unknown = sorted({o["pair"] for o in opps} - set(units))
    if unknown:
        raise ConfigError(
            f"journal {root}: pairs {unknown} are not in the markets config "
            "(pass the run's markets file with --markets)"
        )
    pnl = {name: 0 for name in units}
    notional = {name: 0 for name in units}
    hedge_fees: dict[str, int] = {}
    done = one_leg = 0
    for oid, fills_of in by_opp.items():
        ok = [x for x in fills_of if moved(x)]
        if not ok:
            continue
        o = opp_by_id.get(oid)
        if o is None:
            raise ConfigError(f"journal: fills of {oid} but no such opportunity")
        pair = o["pair"]
        legs_ok = [x for x in ok if not is_flattening(x)]
        # every fill counts: legs, and the hedge / unwind that flattened a one-legged trade;
        # base still open (no unwind filled yet) is marked at the worse quoted price
        cash = sum(fill_cash(x) for x in ok) + open_mark(net_base(ok), o)
        pnl[pair] = pnl.get(pair, 0) + cash - gas_quote(o)
        on_perp = [x for x in ok if is_hedge(x)]
        if on_perp:
            hedge_fees[pair] = hedge_fees.get(pair, 0) + sum(fee_value(x) for x in on_perp)
        if len({x["side"] for x in legs_ok}) == 2:
            notional[pair] = notional.get(pair, 0) + next(
                quote_value(x) for x in legs_ok if x["side"] == "buy"
            )
            done += 1
        else:
            notional[pair] = notional.get(pair, 0) + sum(quote_value(x) for x in legs_ok)
            one_leg += 1
    # a leg is its intent: an IOC's partial and its expired remainder are one leg, filled, and
    # so are the slices of a sliced CEX leg (`<leg>#slice<k>`)
    leg_ids = {leg_intent_id(f["intent_id"]) for f in fills if not is_flattening(f)}
    filled_legs = {
        leg_intent_id(f["intent_id"]) for f in fills if moved(f) and not is_flattening(f)
    }
    lat = [
        (o["ts_detect_wall_ns"] - o["ts_ingest_ns"]) / 1e3
        for o in opps
        if o.get("ts_ingest_ns") and o.get("ts_detect_wall_ns")
    ]
    latency = {}
    if lat:
        arr = np.array(lat)
        latency = {
            "p50": float(np.percentile(arr, 50)),
            "p99": float(np.percentile(arr, 99)),
            "max": float(arr.max()),
            "n": float(len(arr)),
        }
    return Summary(
        markets=markets,
        frames=sum(frames_by_market.values()),
        frames_by_market=frames_by_market,
        signals=sum(1 for o in opps if o["update_seq"] == 0),
        signal_updates=sum(1 for o in opps if o["update_seq"] != 0),
        accepted=sum(1 for d in decisions if d["accepted"]),
        rejected_by_rail=rejected,
        legs_filled=len(filled_legs),
        legs_rejected=len(leg_ids - filled_legs),
        flattening_filled=sum(1 for f in fills if moved(f) and is_flattening(f)),
        arbs_completed=done,
        arbs_one_legged=one_leg,
        pnl_by_pair=pnl,
        notional_by_pair=notional,
        pairs=units,
        latency_us=latency,
        resyncs=resyncs,
        unrouted_by_source=unrouted,
        hedge_fees_by_pair=hedge_fees,
    )


def _money(units: int, decimals: int) -> str:
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


def _human(units: int, decimals: int, places: int) -> str:
    """Base units as a decimal amount rounded to `places` (for reading; exact figures stay in
    the journal)."""
    scaled = round(units * 10**places / 10**decimals)
    return _money(scaled, places) if places else str(scaled)


def summary_lines(s: Summary) -> list[str]:
    """The console summary, one figure per line."""
    lat = s.latency_us
    lat_txt = (
        f"p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us "
        f"(tick -> opportunity, {int(lat['n'])} samples)"
        if lat
        else "n/a (no opportunities)"
    )
    per_market = ", ".join(f"{k} {v}" for k, v in sorted(s.frames_by_market.items()))
    rej = ", ".join(f"{k} {v}" for k, v in sorted(s.rejected_by_rail.items())) or "none"
    unrouted = ", ".join(f"{k} {v}" for k, v in sorted(s.unrouted_by_source.items()))
    lines = [
        f"markets        {len(s.markets)}: {', '.join(s.markets)}",
        f"frames         {s.frames} ({per_market})",
        f"unrouted       {s.unrouted} frames matched no market"
        + (f" ({unrouted})" if unrouted else ""),
        f"resyncs        {s.resyncs}",
        f"opportunities  {s.signals} signals, {s.signal_updates} updates",
        f"risk guard     {s.accepted} accepted; rejected: {rej}",
        f"{s.mode} fills".ljust(15) + f"{s.legs_filled} legs filled, {s.legs_rejected} rejected"
        + (f", {s.flattening_filled} unwinds/hedges" if s.flattening_filled else "")
        + "; "
        f"{s.arbs_completed} arbs completed, {s.arbs_one_legged} one-legged",
    ]
    for name, u in sorted(s.pairs.items()):
        pnl, notional = s.pnl_by_pair.get(name, 0), s.notional_by_pair.get(name, 0)
        lines.append(
            f"net PnL        {name}: {_money(pnl, u.quote_decimals)} {u.quote} on "
            f"{_money(notional, u.quote_decimals)} {u.quote} = {s.pnl_bps(name):.2f} bps"
            # never overstate: one-legged arbs are in the figure at their unwind (or, while a
            # leg is still open, at the worse of the two quoted prices)
            + (" (one-legged arbs included at their unwind cost)" if s.arbs_one_legged else "")
        )
    for name, fee in sorted(s.hedge_fees_by_pair.items()):
        u = s.pairs[name]
        lines.append(
            f"hedge fees     {name}: {_money(fee, u.quote_decimals)} {u.quote} (perp hedges and "
            "closes, in the PnL; funding not modelled: a hedge is held seconds, not to a funding "
            "time)"
        )
    lines += [
        f"latency        {lat_txt}",
    ]
    warning = s.unrouted_warning
    return [*lines, f"WARNING        {warning}"] if warning else lines


def _price(quote_units: int, base_units: int, u: PairUnits) -> str:
    """Average price of a leg in quote per base, 4 decimals (for reading)."""
    if not base_units:
        return "-"
    scaled = round(quote_units * 10**u.base_decimals * 10**4 / (base_units * 10**u.quote_decimals))
    return f"{_money(scaled, 4)} {u.quote}/{u.base}"


def write_report(s: Summary, path: str | Path, journal: str | Path, title: str) -> Path:
    """Write the markdown report of a run and, beside it, the HTML one (same stem, `.html`;
    `replay/html_report.py`); the Markdown path."""
    from replay.html_report import go_no_go_of, html_path, write_html_report

    p = Path(path)
    if p.suffix == ".html":
        p = p.with_suffix(".md")  # asked for the HTML by name: the Markdown goes beside it
    p.parent.mkdir(parents=True, exist_ok=True)
    write_html_report(s, html_path(p), journal, title)
    opps = _rows(run_dir(journal), "opportunities")
    lines = [f"# solarb report: {title}", "", "```", *summary_lines(s), "```", ""]
    verdict = {True: "pass", False: "FAIL", None: "n/a"}
    lines += [f"## Go / no-go ({s.mode})", "", "| criterion | target | figure | verdict |"]
    lines += ["|---|---|---|---|"]
    lines += [
        f"| {c.name} | {c.target} | {c.text} | {verdict[c.passed]} |" for c in go_no_go_of(journal)
    ]
    lines += ["", f"Plots and the per-arb table: `{html_path(p).name}` beside this file.", ""]
    if opps:
        lines += [
            "## Signals",
            "",
            "| id | pair | direction | size | buy at | sell at | spread bps | costs bps | "
            "net bps | expected PnL | CU price (µlamports) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        signals = sorted(
            (o for o in opps if o["update_seq"] == 0), key=lambda o: o["ts_detect_ns"]
        )
        for o in signals:
            oid = o["opportunity_id"].replace("|", "\\|")
            u = s.pairs[o["pair"]]
            size = o["size_base"]
            lines.append(
                f"| {oid} | {o['pair']} | {o['direction']} | "
                f"{_human(size, u.base_decimals, 3)} {u.base} | "
                f"{_price(o['buy_quote'], size, u)} | {_price(o['sell_quote'], size, u)} | "
                f"{o['spread_bps']:.2f} | {o['cost_total_bps']:.2f} | {o['net_bps']:.2f} | "
                f"{_human(o['expected_pnl_quote'], u.quote_decimals, 2)} {u.quote} | "
                f"{o['cu_price_micro_lamports']} |"
            )
        lines.append("")
    lines += outcome_table(journal, s.pairs)
    lines += [
        f"Journal: `{run_dir(journal)}` (Parquet: opportunities, decisions, intents, fills, "
        "health, counters).",
        "",
    ]
    p.write_text("\n".join(lines))
    return p
