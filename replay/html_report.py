"""The HTML report of a run: figures, go/no-go, per-arb table and plots, in human units.

Plots use plotly: it is well kept, its charts are interactive (hover shows a signal's exact
figures, zoom on a busy minute), and `plotly.offline.get_plotlyjs()` gives its JavaScript to
inline once, so the file opens offline with no CDN. Each figure's data sits in the page as a
`<script type="application/json" id="fig-...">` block drawn by one small loader, which also
lets a test read the plotted figures back. Floats appear only here, for reading; the journal
keeps the exact integers.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from connectors.journal import read_table, run_dir
from replay.figures import (
    KILL_SOURCE,
    Arb,
    Criterion,
    Leg,
    arbs_of,
    go_no_go,
    realised_slippages,
)
from replay.report import PairUnits, Summary, summary_lines

COST_PARTS = (
    ("fees_cex_bps", "CEX fee"),
    ("fees_dex_bps", "DEX fee"),
    ("gas_bps", "gas"),
    ("slippage_bps", "slippage"),
    ("hedge_bps", "hedge"),
    ("safety_margin_bps", "safety margin"),
)
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#176b2c;font-weight:600}.fail{color:#a31515;font-weight:600}.na{color:#777}
pre{background:#f7f7f7;padding:1em}.plot{height:420px}
"""
_LOADER = """
for (const el of document.querySelectorAll('script[type="application/json"][id^="fig-"]')) {
  const fig = JSON.parse(el.textContent);
  Plotly.newPlot(el.id.slice(4), fig.data, fig.layout, {responsive: true, displaylogo: false});
}
"""


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(root, name)
    return [] if t is None else t.to_pylist()


def human(units: int, decimals: int, places: int) -> str:
    """Base units as a decimal amount with `places` decimals, rounded half-even (for reading)."""
    scaled = round(units * 10**places / 10**decimals)
    sign = "-" if scaled < 0 else ""
    q, r = divmod(abs(scaled), 10**places)
    return f"{sign}{q}.{r:0{places}d}" if places else f"{sign}{q}"


def leg_price(leg: Leg, u: PairUnits) -> float:
    """A leg's average price, quote per base (float, for reading)."""
    quote: float = leg.quote_amount / float(10**u.quote_decimals)
    base: float = leg.filled_base / float(10**u.base_decimals)
    return quote / base


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    num = numeric or set()
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in num else f"<td>{_e(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _leg_cells(leg: Leg | None, u: PairUnits) -> list[str]:
    if leg is None:
        return ["-", "no report", "-", "-"]
    if not leg.filled_base:
        return [leg.venue, f"{leg.status} ({leg.reason})" if leg.reason else leg.status, "-", "-"]
    return [
        leg.venue,
        leg.status,
        f"{leg_price(leg, u):.4f}",
        human(leg.fee_quote, u.quote_decimals, 4),
    ]


def arb_rows(arbs: list[Arb], units: dict[str, PairUnits]) -> list[list[str]]:
    """The per-arb table's cells: amounts in the pair's units, prices quote per base."""
    out = []
    for a in arbs:
        u = units[a.pair]
        net, bps = a.net_quote, a.net_bps
        out.append(
            [
                a.opportunity_id,
                a.pair,
                a.direction,
                f"{human(a.size_base, u.base_decimals, 3)} {u.base}",
                *_leg_cells(a.buy, u),
                *_leg_cells(a.sell, u),
                human(a.gas_quote, u.quote_decimals, 4),
                a.outcome,
                f"{human(net, u.quote_decimals, 4)} {u.quote}" if net is not None else "n/a",
                f"{bps:.2f}" if bps is not None else "n/a",
                f"{a.predicted_net_bps:.2f}",
            ]
        )
    return out


ARB_HEAD = [
    "signal",
    "pair",
    "direction",
    "size",
    "buy venue",
    "buy status",
    "buy price (quote/base)",
    "buy fee (quote)",
    "sell venue",
    "sell status",
    "sell price (quote/base)",
    "sell fee (quote)",
    "gas (quote)",
    "outcome",
    "net",
    "net bps",
    "predicted net bps",
]


def _fig_spread(opps: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    combos: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in sorted(opps, key=lambda o: o["ts_detect_ns"]):
        combos[f"{o['pair']} buy {o['buy_venue']} / sell {o['sell_venue']}"].append(o)
    for name, rows in sorted(combos.items()):
        t = [_iso(o["ts_detect_ns"]) for o in rows]
        fig.add_trace(
            go.Scatter(x=t, y=[o["spread_bps"] for o in rows], mode="markers+lines", name=name)
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=[o["threshold_bps"] for o in rows],
                mode="lines",
                line={"dash": "dash"},
                name=f"threshold: {name}",
            )
        )
    fig.update_layout(
        title="Spread at each journaled signal and update, per venue combination (bps)",
        xaxis_title="market time (UTC)",
        yaxis_title="spread (bps)",
    )
    return fig


def _fig_costs(signals: list[dict[str, Any]]) -> go.Figure:
    fig = go.Figure()
    ids = [o["opportunity_id"] for o in signals]
    for col, label in COST_PARTS:
        fig.add_trace(go.Bar(x=ids, y=[o[f"cost_{col}"] for o in signals], name=label))
    fig.add_trace(
        go.Scatter(x=ids, y=[o["spread_bps"] for o in signals], mode="markers", name="spread")
    )
    fig.update_layout(barmode="stack", title="Cost breakdown per signal (bps)", yaxis_title="bps")
    return fig


def _fig_pnl(arbs: list[Arb], units: dict[str, PairUnits]) -> go.Figure:
    fig = go.Figure()
    for pair in sorted({a.pair for a in arbs}):
        u = units[pair]
        total, xs, ys = 0, [], []
        for a in sorted((a for a in arbs if a.pair == pair), key=lambda a: a.ts_ns):
            if a.net_quote is None:
                continue
            total += a.net_quote
            xs.append(_iso(a.ts_ns))
            ys.append(total / 10**u.quote_decimals)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{pair} ({u.quote})"))
    fig.update_layout(
        title="Cumulative net PnL of completed arbs (after fees and gas; one-legged excluded)",
        xaxis_title="market time of the last fill (UTC)",
        yaxis_title="net PnL (quote)",
    )
    return fig


def _fig_slippage(arbs: list[Arb], signals: list[dict[str, Any]]) -> go.Figure:
    predicted = {o["opportunity_id"]: o["cost_slippage_bps"] for o in signals}
    fig = go.Figure()
    for side in ("buy", "sell"):
        legs = [(a, getattr(a, side)) for a in arbs]
        pts = [(a, leg.slippage_bps) for a, leg in legs if leg is not None]
        pts = [(a, s) for a, s in pts if s is not None]
        fig.add_trace(
            go.Scatter(
                x=[predicted.get(a.opportunity_id, 0.0) for a, _ in pts],
                y=[s for _, s in pts],
                mode="markers",
                name=f"{side} legs",
                text=[a.opportunity_id for a, _ in pts],
            )
        )
    fig.update_layout(
        title="Slippage per leg: predicted (cost model) vs paper fill vs detected price (bps); "
        "realised slippage needs live fills",
        xaxis_title="predicted slippage (bps)",
        yaxis_title="paper fill slippage (bps, positive = worse)",
    )
    return fig


def _fig_latency(lat_ms: list[float]) -> go.Figure:
    fig = go.Figure(go.Histogram(x=lat_ms, name="tick -> opportunity", nbinsx=40))
    fig.update_layout(
        title="Tick -> opportunity latency (ms, wall clock inside the engine)",
        xaxis_title="ms",
        yaxis_title="opportunities",
    )
    return fig


def _iso(ts_ns: int) -> str:
    return str(np.datetime64(ts_ns, "ns").astype("datetime64[ms]"))


def _fig_block(name: str, fig: go.Figure) -> str:
    # `</` cannot appear inside a script block; JSON's `<\/` reads back as the same string
    payload = json.dumps(fig.to_plotly_json(), default=_jsonable).replace("</", "<\\/")
    return (
        f'<div class="plot" id="{name}"></div>\n'
        f'<script type="application/json" id="fig-{name}">{payload}</script>'
    )


def _jsonable(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON: {type(v).__name__}")


def criteria_of(
    opps: list[dict[str, Any]],
    arbs: list[Arb],
    fills: list[dict[str, Any]],
    health: list[dict[str, Any]],
    live: bool = False,
) -> list[Criterion]:
    """The go/no-go table of a run from its journal rows (session span: market-clock times);
    `live`: the fills are the venues' (`is_live_run`), so slippage is judged on them."""
    signals = [o["ts_detect_ns"] for o in opps if o["update_seq"] == 0]
    times = [r["ts_recv_ns"] for r in (*opps, *fills, *health) if r.get("ts_recv_ns")]
    session = (min(times), max(times)) if times else None
    kills = sum(1 for h in health if h["source"] == KILL_SOURCE and h["status"] == "kill")
    return go_no_go(arbs, signals, session, kills, realised_slippages(fills) if live else None)


def is_live_run(root: Path) -> bool:
    """A live trading run: its journal holds the orders or transactions it sent."""
    return bool(_rows(root, "orders") or _rows(root, "transactions"))


def go_no_go_of(journal: str | Path) -> list[Criterion]:
    """The go/no-go table of a run (its folder, or a journal folder's latest run)."""
    root = run_dir(journal)
    opps, fills = _rows(root, "opportunities"), _rows(root, "fills")
    arbs = arbs_of(opps, _rows(root, "decisions"), fills)
    return criteria_of(opps, arbs, fills, _rows(root, "health"), is_live_run(root))


def render_html(s: Summary, journal: str | Path, title: str) -> str:
    """The whole report page of a run (self-contained: plotly.js inlined)."""
    root = run_dir(journal)
    opps = _rows(root, "opportunities")
    decisions = _rows(root, "decisions")
    fills = _rows(root, "fills")
    health = _rows(root, "health")
    signals = sorted((o for o in opps if o["update_seq"] == 0), key=lambda o: o["ts_detect_ns"])
    arbs = arbs_of(opps, decisions, fills)
    criteria = criteria_of(opps, arbs, fills, health, is_live_run(root))
    lat_ms = [
        (o["ts_detect_wall_ns"] - o["ts_ingest_ns"]) / 1e6
        for o in opps
        if o.get("ts_ingest_ns") and o.get("ts_detect_wall_ns")
    ]
    verdict = {True: ("pass", "pass"), False: ("fail", "FAIL"), None: ("na", "n/a")}
    gng = "".join(
        f"<tr><td>{_e(c.name)}</td><td>{_e(c.target)}</td><td>{_e(c.text)}</td>"
        f'<td class="{verdict[c.passed][0]}">{verdict[c.passed][1]}</td></tr>'
        for c in criteria
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>solarb report: {_e(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>solarb report: {_e(title)}</h1>",
        f"<p>Journal: <code>{_e(root)}</code></p>",
        "<h2>Summary</h2>",
        f"<pre>{_e(chr(10).join(summary_lines(s)))}</pre>",
        '<h2>Go / no-go (paper)</h2><table id="go-no-go"><thead><tr><th>criterion</th>'
        f"<th>target</th><th>figure</th><th>verdict</th></tr></thead><tbody>{gng}</tbody></table>",
        "<h2>Arbs</h2>",
        "<p>Every signal the risk guard accepted. Prices are quote per base; fees, gas and net "
        "in the pair's quote currency; net bps over the buy leg's notional. A one-legged "
        "outcome is an open position the journal has no mark for: it has no net and is not in "
        "the PnL.</p>",
        _table(ARB_HEAD, arb_rows(arbs, s.pairs), numeric={3, 6, 7, 10, 11, 12, 14, 15, 16})
        if arbs
        else "<p>No accepted signal.</p>",
        "<h2>Plots</h2>",
        "<p>Only signals and their debounced updates are journaled, so the spread plot shows "
        "spreads at or above the threshold, not every tick.</p>",
        _fig_block("spread", _fig_spread(opps)),
        _fig_block("costs", _fig_costs(signals)),
        _fig_block("pnl", _fig_pnl(arbs, s.pairs)),
        _fig_block("slippage", _fig_slippage(arbs, signals)),
        _fig_block("latency", _fig_latency(lat_ms)),
        f"<script>{_LOADER}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_html_report(s: Summary, path: str | Path, journal: str | Path, title: str) -> Path:
    """Write the HTML report of a run to `path` (its folder is created); the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(s, journal, title), encoding="utf-8")
    return p


def html_path(report_path: str | Path) -> Path:
    """Where the HTML report goes beside the Markdown one: same stem, `.html`."""
    return Path(report_path).with_suffix(".html")
