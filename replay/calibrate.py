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
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from config import Settings, load_settings
from operators.errors import ConfigError
from replay.calibrate_stats import WindowStats, capture_span, journal_windows, window_bounds

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
    # a live session capture is replayed with paper fills: its recorded venue reports answer
    # the session's intents, not this setting's
    flow = build_flow(
        settings, [job.capture.path], root, run_id=run_id, paper_fills=True, snapshots=False
    )
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
