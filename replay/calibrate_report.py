"""The outputs of a calibration (replay/calibrate.py): Markdown report, results.json, the
config snippet; the HTML page is replay/calibrate_html.py."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from config import Settings
from replay.calibrate import Calibration, Setting, overrides_of
from replay.calibrate_stats import WindowStats
from replay.figures import (
    HIT_RATE_MIN,
    PNL_PER_DAY_MIN_BPS,
    SLIPPAGE_P95_MAX_BPS,
    STORM_MAX_PER_MIN,
)


def snippet_toml(setting: Setting, base: Settings, note: str) -> str:
    """The chosen setting as a config override snippet (`load_settings(overrides=[...])`)."""
    lines = [f"# {line}" for line in note.splitlines()]
    for section, keys in overrides_of(setting, base).items():
        lines += ["", f"[{section}]"]
        for key, v in keys.items():
            lines.append(f'{key} = "{v}"' if isinstance(v, str) else f"{key} = {v!r}")
    return "\n".join(lines) + "\n"


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _usdc(units: int) -> str:
    return f"{units / 1e6:.2f}"


ROW_HEAD = [
    "setting",
    "signals",
    "accepted",
    "completed",
    "one-legged",
    "hit rate",
    "p95 slip bps",
    "net PnL USDC",
    "net bps",
    "signals/min",
    "max/60s",
]


def stats_row(label: str, s: WindowStats) -> list[str]:
    """One table row of figures."""
    return [
        label,
        str(s.signals),
        str(s.accepted),
        str(s.completed),
        str(s.one_legged),
        _pct(s.hit_rate),
        _f(s.p95_slippage_bps),
        _usdc(s.pnl_quote),
        _f(s.net_bps),
        _f(s.signals_per_min),
        str(s.max_signals_per_min),
    ]


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def note_of(cal: Calibration) -> str:
    """The comment block of the snippet: where it came from and what it scored."""
    oos = cal.result_of(cal.chosen).span(cal.roles.out_of_sample)
    test = cal.result_of(cal.chosen).span(cal.roles.test) if cal.roles.test else None
    lines = [
        "solarb calibrate: the setting with the best out-of-sample net PnL",
        f"captures: {', '.join(str(c.path) for c in cal.captures)}",
        f"setting: {cal.chosen.sid}",
        f"out-of-sample: net {_usdc(oos.pnl_quote)} USDC, {oos.signals} signals, "
        f"hit rate {_pct(oos.hit_rate)}",
    ]
    if test is not None:
        lines.append(
            f"test (held out): net {_usdc(test.pnl_quote)} USDC, {test.signals} signals, "
            f"hit rate {_pct(test.hit_rate)}"
        )
    lines.append("load with: solarb --override calibrated.toml ... or SOLARB_OVERRIDES=<path>")
    return "\n".join(lines)


def report_lines(cal: Calibration) -> list[str]:
    """The Markdown report."""
    r = cal.roles
    lines = [
        "# solarb calibrate",
        "",
        f"Captures: {', '.join(f'`{c.path}`' for c in cal.captures)}.",
        f"{len(cal.results)} settings, {r.windows} windows of market time per capture: "
        f"window {r.in_sample} in-sample (warm-up), windows {r.out_of_sample} out-of-sample "
        "(the choice), "
        + (
            f"window {r.test} test (held out, never used for the choice)."
            if r.test
            else "no test window (2 windows: nothing is held out)."
        ),
        f"Wall time {cal.wall_s:.0f} s.",
        "",
        f"**Chosen: `{cal.chosen.sid}`** (best out-of-sample net PnL; `calibrated.toml`).",
        "",
        "## Out-of-sample (the choice)",
        "",
    ]
    rows = [stats_row(x.setting.sid, x.span(r.out_of_sample)) for x in cal.results]
    lines += _md_table(ROW_HEAD, rows)
    if r.test:
        lines += ["", "## Test window (held out)", ""]
        rows = [stats_row(x.setting.sid, x.span(r.test)) for x in cal.results]
        lines += _md_table(ROW_HEAD, rows)
    lines += ["", "## In-sample (warm-up)", ""]
    rows = [stats_row(x.setting.sid, x.span(r.in_sample)) for x in cal.results]
    lines += _md_table(ROW_HEAD, rows)
    chosen = cal.result_of(cal.chosen)
    judged = chosen.span(r.test or r.out_of_sample)
    lines += [
        "",
        f"## Go / no-go of the chosen setting ({'test' if r.test else 'out-of-sample'} windows)",
        "",
    ]
    verdict = {True: "pass", False: "FAIL", None: "n/a"}
    gng = judged.go_no_go()
    lines += _md_table(
        ["criterion", "target", "figure", "verdict"],
        [
            ["hit rate", f">= {HIT_RATE_MIN:.0%}", _pct(judged.hit_rate), verdict[gng["hit rate"]]],
            [
                "p95 slippage (paper)",
                f"<= {SLIPPAGE_P95_MAX_BPS:g} bps",
                _f(judged.p95_slippage_bps),
                verdict[gng["p95 slippage"]],
            ],
            [
                "net PnL",
                f">= {PNL_PER_DAY_MIN_BPS:g} bps/day",
                f"{_f(judged.net_bps)} bps of notional",
                verdict[gng["net PnL"]],
            ],
            [
                "signal storm",
                f"<= {STORM_MAX_PER_MIN}/min",
                f"max {judged.max_signals_per_min} in 60 s",
                verdict[gng["no storm"]],
            ],
        ],
    )
    lines += ["", "## Predicted vs paper slippage per venue (chosen setting, all windows)", ""]
    allw = chosen.span(range(r.windows))
    lines += _md_table(
        ["venue", "predicted bps (cost model, both legs)", "paper fill vs detected bps"],
        [[v, _f(p), _f(q)] for v, (p, q) in allw.venue_slippage().items()],
    )
    lines += [
        "",
        "Paper slippage is the paper venue's fill against the detected price, not live "
        "realised slippage. Net bps is PnL over traded notional in the window (not "
        "extrapolated to a day).",
        "",
    ]
    return lines


def write_outputs(cal: Calibration, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html, calibrated.toml and results.json into `out_dir`."""
    from replay.calibrate_html import render_calibration_html

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out_dir / "report.md",
        "html": out_dir / "report.html",
        "snippet": out_dir / "calibrated.toml",
        "results": out_dir / "results.json",
    }
    paths["report"].write_text("\n".join(report_lines(cal)), encoding="utf-8")
    paths["snippet"].write_text(snippet_toml(cal.chosen, cal.base, note_of(cal)), encoding="utf-8")
    doc = {
        "chosen": cal.chosen.sid,
        "windows": asdict(cal.roles),
        "captures": [str(c.path) for c in cal.captures],
        "settings": [
            {
                "setting": dict(x.setting.values),
                "windows": [w.as_json() for w in x.windows],
                "by_capture": {k: [w.as_json() for w in v] for k, v in x.by_capture.items()},
            }
            for x in cal.results
        ],
    }
    paths["results"].write_text(json.dumps(doc, indent=1), encoding="utf-8")
    paths["html"].write_text(render_calibration_html(cal), encoding="utf-8")
    return paths
