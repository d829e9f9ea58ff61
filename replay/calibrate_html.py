"""The HTML page of a calibration: heatmaps of net PnL over two parameters, the chosen point,
the go/no-go table and the per-setting figures. Same machinery as the run report
(`replay/html_report.py`: plotly inlined once, figures as JSON blocks, opens offline)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from replay.calibrate_report import ROW_HEAD, report_lines, stats_row
from replay.html_report import _CSS, _LOADER, _fig_block, _table

if TYPE_CHECKING:
    from replay.calibrate import Calibration


def _axes(cal: Calibration) -> tuple[str, str | None]:
    """The two parameters to plot: the swept ones with most values (a single one: 1-D)."""
    names = [n for n, _ in cal.results[0].setting.values]
    counts = {n: len({r.setting.get(n) for r in cal.results}) for n in names}
    swept = sorted((n for n in names if counts[n] > 1), key=lambda n: -counts[n])
    if not swept:
        return names[0], None
    return swept[0], swept[1] if len(swept) > 1 else None


def heatmap(cal: Calibration, windows: list[int], title: str) -> go.Figure:
    """Net PnL (USDC) over the two plotted parameters; other parameters at the chosen values
    (or their best over the rest when the chosen values do not pin one cell)."""
    x_name, y_name = _axes(cal)
    xs = sorted({r.setting.get(x_name) or 0.0 for r in cal.results})
    ys = sorted({r.setting.get(y_name) or 0.0 for r in cal.results}) if y_name else [0.0]
    others = {n: v for n, v in cal.chosen.values if n not in (x_name, y_name)}
    z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for r in cal.results:
        if any(r.setting.get(n) != v for n, v in others.items()):
            continue
        xi = xs.index(r.setting.get(x_name) or 0.0)
        yi = ys.index(r.setting.get(y_name) or 0.0) if y_name else 0
        z[yi][xi] = r.span(windows).pnl_quote / 1e6
    fig = go.Figure(
        go.Heatmap(x=xs, y=ys, z=z, colorscale="RdYlGn", zmid=0, colorbar={"title": "USDC"})
    )
    cx = cal.chosen.get(x_name) or 0.0
    cy = (cal.chosen.get(y_name) or 0.0) if y_name else 0.0
    fig.add_trace(
        go.Scatter(
            x=[cx],
            y=[cy],
            mode="markers",
            marker={"symbol": "x", "size": 16, "color": "black"},
            name="chosen",
        )
    )
    fixed = ", ".join(f"{n}={v:g}" for n, v in others.items())
    fig.update_layout(
        title=f"{title}: net PnL (USDC)" + (f" at {fixed}" if fixed else ""),
        xaxis_title=x_name,
        yaxis_title=y_name or "",
    )
    return fig


def render_calibration_html(cal: Calibration) -> str:
    """The whole calibration page (self-contained)."""
    r = cal.roles
    md = "\n".join(report_lines(cal))
    figs = [_fig_block("heat-oos", heatmap(cal, r.out_of_sample, "Out-of-sample windows"))]
    if r.test:
        figs.append(_fig_block("heat-test", heatmap(cal, r.test, "Test window (held out)")))
    tables = [
        "<h2>Out-of-sample figures per setting</h2>",
        _table(
            ROW_HEAD,
            [stats_row(x.setting.sid, x.span(r.out_of_sample)) for x in cal.results],
            numeric=set(range(1, len(ROW_HEAD))),
        ),
    ]
    if r.test:
        tables += [
            "<h2>Test window per setting (held out)</h2>",
            _table(
                ROW_HEAD,
                [stats_row(x.setting.sid, x.span(r.test)) for x in cal.results],
                numeric=set(range(1, len(ROW_HEAD))),
            ),
        ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>solarb calibrate</title>",
        f"<style>{_CSS}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        "<h1>solarb calibrate</h1>",
        f"<p>Chosen: <code>{html.escape(cal.chosen.sid)}</code></p>",
        *figs,
        *tables,
        "<h2>Report (go / no-go, slippage per venue)</h2>",
        f'<pre id="report">{html.escape(md)}</pre>',
        f"<script>{_LOADER}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)
