"""Threshold and size calibration: a grid of settings replayed over captures, walk-forward.

Each setting of the grid (safety margin, minimum net edge, size cap, priority-fee share,
slippage multiplier) replays every capture through the replay graph (flows/replay.py), one
process per job across the cores. Each capture's market time is cut into `windows` equal
consecutive windows, and a journal row belongs to the window of its market time:

- window 0 is **in-sample**: the engine warms up there (books, realised-slippage history,
  landing statistics) and nothing in it is used for the choice;
- windows 1 .. n-2 are **out-of-sample**: each is scored with a replay that has seen only the
  windows before it (walk-forward: the replay runs forward in time); the choice is the setting
  with the best net PnL summed over them (all captures), settings with a signal storm
  (> 50 signals in a 60 s window) ranked after every other one;
- window n-1 is the **test** window: held out, reported per setting and for the choice, never
  read by the choice (`choose` does not receive it).

With `windows=2` there is no separate test window: window 1 picks and nothing is held out
(the report says so). Every figure is computed per window from the journal: hit rate
(profitable completed arbs over accepted signals), p95 paper slippage (fill vs detected price
per leg), net PnL (quote units; one-legged arbs included at their unwind, an open leg at the
worse quoted price, as the run summary), net bps of traded notional (the ratio the mission's
"bps per day" is; a window is never extrapolated to a day), signals per minute and the worst
60 s window, predicted vs paper slippage per venue.

The slippage multiplier scales `thresholds.slippage_default_bps`, the expected slippage the
engine uses until a venue has `slippage_min_fills` realised fills (the realised p95 then
replaces it and the multiplier no longer acts: scaling that needs an engine change).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from config import Settings, load_settings
from connectors.journal import read_table
from operators.errors import ConfigError
from replay.figures import (
    HIT_RATE_MIN,
    PNL_PER_DAY_MIN_BPS,
    SLIPPAGE_P95_MAX_BPS,
    STORM_MAX_PER_MIN,
    arbs_of,
    max_signals_per_minute,
)
from replay.money import fill_cash, gas_quote, net_base, open_mark

PARAMS: dict[str, tuple[str, str]] = {
    "safety_margin_bps": ("thresholds", "safety_margin_bps"),
    "min_net_bps": ("thresholds", "min_net_bps"),
    "max_notional_usd": ("risk", "max_notional_usd"),
    "priority_share_of_edge": ("gas", "priority_share_of_edge"),
    "slippage_mult": ("thresholds", "slippage_default_bps"),
}
"""Swept parameter -> (config section, key) it sets. `slippage_mult` multiplies the base
config's `slippage_default_bps`; the others replace their key."""
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "safety_margin_bps": (2.0, 5.0, 10.0),
    "min_net_bps": (0.0, 4.0),
}
"""Small: 6 settings, a couple of minutes on the bundled samples with 2 cores."""
WIDE_GRID: dict[str, tuple[float, ...]] = {
    "safety_margin_bps": (0.0, 2.0, 5.0, 10.0, 15.0),
    "min_net_bps": (0.0, 2.0, 4.0, 8.0),
    "max_notional_usd": (1000.0, 2500.0, 5000.0),
    "priority_share_of_edge": (0.05, 0.1, 0.2),
    "slippage_mult": (0.5, 1.0, 2.0),
}
"""`--grid wide`: 540 settings."""


@dataclass(frozen=True)
class Capture:
    """One capture to calibrate on, with the markets file that describes it."""

    path: Path
    markets: Path

    @property
    def name(self) -> str:
        """Short label for reports (the file stem)."""
        return self.path.stem


@dataclass(frozen=True)
class Setting:
    """One point of the grid: parameter name -> value (names of `PARAMS`)."""

    values: tuple[tuple[str, float], ...]

    @property
    def sid(self) -> str:
        """Stable id, e.g. `safety_margin_bps=5,min_net_bps=0` (also a folder name)."""
        return ",".join(f"{k}={v:g}" for k, v in self.values)

    def get(self, name: str) -> float | None:
        """The value of `name` in this setting, or None when it is not swept."""
        return dict(self.values).get(name)


def parse_grid(specs: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """`--grid` values: `wide`, or `NAME=V1,V2,...` (merged over the default grid)."""
    grid = dict(DEFAULT_GRID)
    for spec in specs:
        if spec == "wide":
            grid.update(WIDE_GRID)
            continue
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or name not in PARAMS:
            raise ConfigError(
                f"--grid {spec!r}: expected `wide` or NAME=V1,V2 with NAME one of "
                f"{', '.join(PARAMS)}"
            )
        try:
            vals = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ConfigError(f"--grid {spec!r}: values must be numbers") from None
        if not vals or any(not math.isfinite(v) or v < 0 for v in vals):
            raise ConfigError(f"--grid {spec!r}: give one or more finite values >= 0")
        grid[name] = vals
    return grid


def settings_of(grid: Mapping[str, Sequence[float]]) -> list[Setting]:
    """Every combination of the grid, in a fixed order (the order breaks ties)."""
    names = [n for n in PARAMS if n in grid]
    return [
        Setting(tuple(zip(names, combo, strict=True)))
        for combo in itertools.product(*(grid[n] for n in names))
    ]


def overrides_of(setting: Setting, base: Settings) -> dict[str, dict[str, Any]]:
    """The config tables `setting` changes, as TOML-ready values."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in setting.values:
        section, key = PARAMS[name]
        v: Any = value
        if name == "slippage_mult":
            v = round(base.thresholds.slippage_default_bps * value, 6)
        elif name == "max_notional_usd":
            v = format(Decimal(repr(value)).normalize(), "f")
        out.setdefault(section, {})[key] = v
    return out


def apply_setting(base: Settings, setting: Setting) -> Settings:
    """`base` with the setting's values (validated by the config schema)."""
    data = base.model_dump()
    for section, keys in overrides_of(setting, base).items():
        data[section].update(keys)
    return Settings.model_validate(data)


def snippet_toml(setting: Setting, base: Settings, note: str) -> str:
    """The chosen setting as a config override snippet (`load_settings(overrides=[...])`)."""
    lines = [f"# {line}" for line in note.splitlines()]
    for section, keys in overrides_of(setting, base).items():
        lines += ["", f"[{section}]"]
        for key, v in keys.items():
            lines.append(f'{key} = "{v}"' if isinstance(v, str) else f"{key} = {v!r}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- per-window figures


@dataclass
class WindowStats:
    """What one setting did in one window (of one or several captures); sums add up."""

    minutes: float = 0.0
    signals: int = 0
    accepted: int = 0
    completed: int = 0
    one_legged: int = 0
    wins: int = 0
    pnl_quote: int = 0
    notional_quote: int = 0
    max_signals_per_min: int = 0
    slippage_bps: list[float] = field(default_factory=list)
    predicted_by_venue: dict[str, list[float]] = field(default_factory=dict)
    """Per venue: the cost model's slippage (bps, both legs) of each signal it traded in."""
    paper_by_venue: dict[str, list[float]] = field(default_factory=dict)
    """Per venue: each full leg's paper fill vs detected price, bps (positive = worse)."""

    def add(self, o: WindowStats) -> None:
        """Fold `o` into this one (counts and money add; the storm figure is the worst)."""
        self.minutes += o.minutes
        for name in ("signals", "accepted", "completed", "one_legged", "wins"):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        self.pnl_quote += o.pnl_quote
        self.notional_quote += o.notional_quote
        self.max_signals_per_min = max(self.max_signals_per_min, o.max_signals_per_min)
        self.slippage_bps += o.slippage_bps
        for mine, theirs in (
            (self.predicted_by_venue, o.predicted_by_venue),
            (self.paper_by_venue, o.paper_by_venue),
        ):
            for v, xs in theirs.items():
                mine.setdefault(v, []).extend(xs)

    @property
    def hit_rate(self) -> float | None:
        """Profitable completed arbs over accepted signals; None with none accepted."""
        return self.wins / self.accepted if self.accepted else None

    @property
    def p95_slippage_bps(self) -> float | None:
        """95th percentile of paper leg slippage, bps; None with no full leg."""
        return float(np.percentile(self.slippage_bps, 95)) if self.slippage_bps else None

    @property
    def net_bps(self) -> float | None:
        """Net PnL over traded notional, bps (the mission's per-day figure is this ratio)."""
        return self.pnl_quote / self.notional_quote * 1e4 if self.notional_quote else None

    @property
    def signals_per_min(self) -> float:
        """Signals per minute of market time."""
        return self.signals / self.minutes if self.minutes else 0.0

    @property
    def storm(self) -> bool:
        """More than the mission's 50 signals in some 60 s window."""
        return self.max_signals_per_min > STORM_MAX_PER_MIN

    def venue_slippage(self) -> dict[str, tuple[float | None, float | None]]:
        """Per venue: (mean predicted, mean paper) slippage, bps."""
        venues = sorted(set(self.predicted_by_venue) | set(self.paper_by_venue))

        def mean(xs: list[float] | None) -> float | None:
            return float(np.mean(xs)) if xs else None

        return {
            v: (mean(self.predicted_by_venue.get(v)), mean(self.paper_by_venue.get(v)))
            for v in venues
        }

    def go_no_go(self) -> dict[str, bool | None]:
        """The mission's paper criteria on this window's figures (None: no figure)."""
        hr, p95, net = self.hit_rate, self.p95_slippage_bps, self.net_bps
        return {
            "hit rate": None if hr is None else hr >= HIT_RATE_MIN,
            "p95 slippage": None if p95 is None else p95 <= SLIPPAGE_P95_MAX_BPS,
            "net PnL": None if net is None else net >= PNL_PER_DAY_MIN_BPS,
            "no storm": not self.storm,
        }

    def as_json(self) -> dict[str, Any]:
        """Derived figures for results.json."""
        return {
            "minutes": round(self.minutes, 3),
            "signals": self.signals,
            "accepted": self.accepted,
            "completed": self.completed,
            "one_legged": self.one_legged,
            "hit_rate": self.hit_rate,
            "p95_slippage_bps": self.p95_slippage_bps,
            "pnl_quote": self.pnl_quote,
            "notional_quote": self.notional_quote,
            "net_bps": self.net_bps,
            "signals_per_min": self.signals_per_min,
            "max_signals_per_min": self.max_signals_per_min,
            "venue_slippage_bps": self.venue_slippage(),
        }


def window_bounds(start_ns: int, end_ns: int, windows: int) -> list[tuple[int, int]]:
    """`windows` consecutive [lo, hi) spans of equal length covering [start_ns, end_ns]."""
    if windows < 2:
        raise ConfigError(f"calibrate: need at least 2 windows, got {windows}")
    span = max(end_ns - start_ns + 1, windows)
    edges = [start_ns + span * i // windows for i in range(windows + 1)]
    return list(itertools.pairwise(edges))


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    t = read_table(root, name)
    return [] if t is None else t.to_pylist()


def journal_windows(journal: Path, bounds: list[tuple[int, int]]) -> list[WindowStats]:
    """The figures of one replay journal, per window of market time (signal detection time)."""
    opps, decisions, fills = (_rows(journal, n) for n in ("opportunities", "decisions", "fills"))
    first = {o["opportunity_id"]: o for o in opps if o["update_seq"] == 0}

    def window_of(ts_ns: int) -> int | None:
        for i, (lo, hi) in enumerate(bounds):
            if lo <= ts_ns < hi:
                return i
        return None

    out = [WindowStats(minutes=(hi - lo) / 60e9) for lo, hi in bounds]
    sig_ts: list[list[int]] = [[] for _ in bounds]
    for o in first.values():
        w = window_of(o["ts_detect_ns"])
        if w is not None:
            out[w].signals += 1
            sig_ts[w].append(o["ts_detect_ns"])
    for w, ts in enumerate(sig_ts):
        out[w].max_signals_per_min = max_signals_per_minute(ts)
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for f in fills:
        by_opp.setdefault(f["opportunity_id"], []).append(f)
    for a in arbs_of(opps, decisions, fills):
        o = first[a.opportunity_id]
        w = window_of(o["ts_detect_ns"])
        if w is None:
            continue
        s = out[w]
        s.accepted += 1
        ok = [x for x in by_opp.get(a.opportunity_id, []) if x["status"] == "filled"]
        if ok:  # the run summary's rule: every fill, an open leg at the worse quoted price, gas
            s.pnl_quote += sum(fill_cash(x) for x in ok) + open_mark(net_base(ok), o)
            s.pnl_quote -= gas_quote(o)
        if a.outcome == "completed" and a.buy is not None:
            s.completed += 1
            s.wins += (a.net_quote or 0) > 0
            s.notional_quote += a.buy.quote_amount
        elif a.outcome.startswith("one-legged"):
            s.one_legged += 1
            s.notional_quote += sum(x.quote_amount for x in (a.buy, a.sell) if x and x.filled)
        for leg in (a.buy, a.sell):
            if leg is None:
                continue
            s.predicted_by_venue.setdefault(leg.venue, []).append(o["cost_slippage_bps"])
            slip = leg.slippage_bps
            if slip is not None:
                s.slippage_bps.append(slip)
                s.paper_by_venue.setdefault(leg.venue, []).append(slip)
    return out


def capture_span(path: Path) -> tuple[int, int]:
    """First and last receive time of a capture, ns."""
    col = pq.read_table(path, columns=["ts_recv_ns"]).column("ts_recv_ns")
    if len(col) == 0:
        raise ConfigError(f"{path}: empty capture: nothing to calibrate on")
    lo, hi = col.to_numpy().min(), col.to_numpy().max()
    return int(lo), int(hi)


# ---------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class Job:
    """One replay: a setting on a capture, its journal under `journal_root`."""

    setting: Setting
    capture: Capture
    config: Path | None
    overrides: tuple[Path, ...]
    journal_root: Path
    bounds: tuple[tuple[int, int], ...]


def run_job(job: Job) -> list[WindowStats]:
    """Replay one capture under one setting (in a worker process); its per-window figures."""
    from bytewax.testing import run_main

    from flows.replay import build_flow

    base = load_settings(job.config, job.capture.markets, overrides=job.overrides)
    settings = apply_setting(base, job.setting)
    run_id = "run"
    root = job.journal_root / job.setting.sid.replace("=", "_") / job.capture.name
    if (root / run_id).exists():
        import shutil

        shutil.rmtree(root / run_id)  # a rerun into the same --out starts clean
    flow = build_flow(settings, [job.capture.path], root, run_id=run_id)
    run_main(flow)  # type: ignore[no-untyped-call]
    return journal_windows(root / run_id, list(job.bounds))


Runner = Callable[[Job], list[WindowStats]]


@dataclass
class Result:
    """One setting's figures: per window summed over captures, and per capture and window."""

    setting: Setting
    windows: list[WindowStats]
    by_capture: dict[str, list[WindowStats]] = field(default_factory=dict)

    def span(self, idx: Iterable[int]) -> WindowStats:
        """The figures of windows `idx` together."""
        out = WindowStats()
        for i in idx:
            out.add(self.windows[i])
        return out


@dataclass(frozen=True)
class Roles:
    """Which windows are in-sample, out-of-sample (choice) and test (held out)."""

    windows: int

    @property
    def in_sample(self) -> list[int]:
        """The warm-up window."""
        return [0]

    @property
    def out_of_sample(self) -> list[int]:
        """The windows the choice is made on."""
        return list(range(1, max(2, self.windows - 1)))

    @property
    def test(self) -> list[int]:
        """The held-out window (none with 2 windows)."""
        return [self.windows - 1] if self.windows > 2 else []


def choose(scores: Sequence[tuple[Setting, WindowStats]]) -> Setting:
    """The setting with the best out-of-sample net PnL (quote units; ties: fewer signals, then
    grid order); a setting that storms ranks after every one that does not.

    Given only the out-of-sample figures, so the test window cannot enter the choice."""
    if not scores:
        raise ConfigError("calibrate: no setting to choose from")
    best = min(
        range(len(scores)),
        key=lambda i: (scores[i][1].storm, -scores[i][1].pnl_quote, scores[i][1].signals, i),
    )
    return scores[best][0]


@dataclass
class Calibration:
    """Everything a calibration run found."""

    results: list[Result]
    roles: Roles
    chosen: Setting
    captures: list[Capture]
    base: Settings
    wall_s: float

    def result_of(self, setting: Setting) -> Result:
        """The result row of `setting`."""
        return next(r for r in self.results if r.setting == setting)


def calibrate(
    captures: Sequence[Capture],
    grid: Mapping[str, Sequence[float]],
    out_dir: Path,
    *,
    config: Path | None = None,
    overrides: Sequence[Path] = (),
    windows: int = 3,
    processes: int | None = None,
    progress: Callable[[str], object] | None = None,
    runner: Runner | None = None,
) -> Calibration:
    """Replay every setting of `grid` over `captures` (in parallel), choose one, write nothing
    yet (`write_outputs` does). `runner` replaces the per-job replay (tests)."""
    if not captures:
        raise ConfigError("calibrate: no capture")
    t0 = time.perf_counter()
    base = load_settings(config, captures[0].markets, overrides=overrides)
    grid_settings = settings_of(grid)
    for s in grid_settings:
        apply_setting(base, s)  # a value the schema refuses fails before any replay
    bounds = {c.path: tuple(window_bounds(*capture_span(c.path), windows)) for c in captures}
    jobs = [
        Job(s, c, config, tuple(overrides), out_dir / "runs", bounds[c.path])
        for s in grid_settings
        for c in captures
    ]
    say = progress or (lambda _m: None)
    say(
        f"solarb calibrate: {len(grid_settings)} settings x {len(captures)} captures = "
        f"{len(jobs)} replays"
    )
    per_job: dict[int, list[WindowStats]] = {}
    if runner is not None:
        for i, j in enumerate(jobs):
            per_job[i] = runner(j)
            say(f"  [{len(per_job)}/{len(jobs)}] {j.setting.sid} on {j.capture.name}")
    else:
        n = processes or min(len(jobs), os.cpu_count() or 1)
        # spawn: a fresh interpreter per worker, no Bytewax/thread state inherited by fork
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_job, j): i for i, j in enumerate(jobs)}
            for fut in as_completed(futures):
                i = futures[fut]
                per_job[i] = fut.result()
                j = jobs[i]
                el = time.perf_counter() - t0
                say(
                    f"  [{len(per_job)}/{len(jobs)}] {j.setting.sid} on {j.capture.name} "
                    f"({el:.0f} s)"
                )
    results: list[Result] = []
    for s in grid_settings:
        res = Result(s, [WindowStats() for _ in range(windows)])
        for i, j in enumerate(jobs):
            if j.setting != s:
                continue
            res.by_capture[j.capture.name] = per_job[i]
            for w, ws in enumerate(per_job[i]):
                res.windows[w].add(ws)
        results.append(res)
    roles = Roles(windows)
    chosen = choose([(r.setting, r.span(roles.out_of_sample)) for r in results])
    return Calibration(results, roles, chosen, list(captures), base, time.perf_counter() - t0)


# ---------------------------------------------------------------- outputs


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
