"""Run summary and report from a journal: what a user reads after a replay or paper session."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from connectors.journal import read_table, run_dir

UNROUTED_WARN_SHARE = 0.5
"""Above this share of frames matching no market, the summary warns (a wrong markets file)."""


@dataclass
class Summary:
    """The figures of one run. Money in the pair's quote base units; bps as floats (report only)."""

    markets: list[str]
    frames: int
    frames_by_market: dict[str, int]
    signals: int
    signal_updates: int
    accepted: int
    rejected_by_rail: dict[str, int]
    legs_filled: int
    legs_rejected: int
    arbs_completed: int
    arbs_one_legged: int
    pnl_quote: int
    notional_quote: int
    latency_us: dict[str, float] = field(default_factory=dict)
    quote_decimals: int = 6
    resyncs: int = 0
    unrouted_by_source: dict[str, int] = field(default_factory=dict)

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
    def pnl_bps(self) -> float:
        """Net PnL over traded notional, bps."""
        return self.pnl_quote / self.notional_quote * 1e4 if self.notional_quote else 0.0


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(root, name)
    return [] if t is None else t.to_pylist()


def summarize(journal: str | Path, markets: list[str], quote_decimals: int = 6) -> Summary:
    """Compute the run summary from the journal tables (of its latest run, or of a run folder)."""
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
    opp_by_id = {o["opportunity_id"]: o for o in opps}
    pnl = notional = done = one_leg = 0
    for oid, legs in by_opp.items():
        ok = [x for x in legs if x["status"] == "filled"]
        if len(ok) == 2:
            buy = next(x for x in ok if x["side"] == "buy")
            sell = next(x for x in ok if x["side"] == "sell")
            o = opp_by_id.get(oid)
            gas = 0
            if o is not None:
                gas = round(o["cost_gas_bps"] * o["buy_quote"] / 1e4)
            pnl += sell["quote_amount"] - sell["fee_quote"] - buy["quote_amount"] - buy["fee_quote"]
            pnl -= gas
            notional += buy["quote_amount"]
            done += 1
        elif len(ok) == 1:
            one_leg += 1
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
        legs_filled=sum(1 for f in fills if f["status"] == "filled"),
        legs_rejected=sum(1 for f in fills if f["status"] != "filled"),
        arbs_completed=done,
        arbs_one_legged=one_leg,
        pnl_quote=pnl,
        notional_quote=notional,
        latency_us=latency,
        quote_decimals=quote_decimals,
        resyncs=resyncs,
        unrouted_by_source=unrouted,
    )


def _money(units: int, decimals: int) -> str:
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


def summary_lines(s: Summary, quote: str = "USDC") -> list[str]:
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
        f"paper fills    {s.legs_filled} legs filled, {s.legs_rejected} rejected; "
        f"{s.arbs_completed} arbs completed, {s.arbs_one_legged} one-legged",
        f"net PnL        {_money(s.pnl_quote, s.quote_decimals)} {quote} on "
        f"{_money(s.notional_quote, s.quote_decimals)} {quote} = {s.pnl_bps:.2f} bps",
        f"latency        {lat_txt}",
    ]
    warning = s.unrouted_warning
    return [*lines, f"WARNING        {warning}"] if warning else lines


def write_report(s: Summary, path: str | Path, journal: str | Path, title: str) -> Path:
    """Write the markdown report of a run."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    opps = _rows(run_dir(journal), "opportunities")
    lines = [f"# solarb report: {title}", "", "```", *summary_lines(s), "```", ""]
    if opps:
        lines += [
            "## Signals",
            "",
            "| id | direction | size (base units) | spread bps | costs bps | net bps | "
            "expected PnL (quote units) | cu price |",
            "|---|---|---|---|---|---|---|---|",
        ]
        signals = sorted(
            (o for o in opps if o["update_seq"] == 0), key=lambda o: o["ts_detect_ns"]
        )
        for o in signals:
            oid = o["opportunity_id"].replace("|", "\\|")
            lines.append(
                f"| {oid} | {o['direction']} | {o['size_base']} | "
                f"{o['spread_bps']:.2f} | {o['cost_total_bps']:.2f} | {o['net_bps']:.2f} | "
                f"{o['expected_pnl_quote']} | {o['cu_price_micro_lamports']} |"
            )
        lines.append("")
    lines += [
        f"Journal: `{run_dir(journal)}` (Parquet: opportunities, decisions, intents, fills, "
        "health, counters).",
        "",
    ]
    p.write_text("\n".join(lines))
    return p
