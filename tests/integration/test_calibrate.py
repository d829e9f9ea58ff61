"""`solarb calibrate` (replay/calibrate.py): grid x captures in processes, walk-forward choice.

One real calibration on a short market-simulator session (2 settings, 2 processes, ~15 s) is
shared by the tests that read its outputs; the walk-forward rule is checked with a stand-in
runner whose per-window figures are set by hand, so the test window can be made to disagree.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
from bytewax.testing import run_main

from cli.main import main
from config import load_settings
from flows.replay import build_flow
from operators.errors import ConfigError
from replay.calibrate import (
    Calibration,
    Capture,
    Job,
    Roles,
    Setting,
    WindowStats,
    apply_setting,
    calibrate,
    journal_windows,
    parse_grid,
    settings_of,
    window_bounds,
)
from replay.calibrate_report import write_outputs
from replay.report import summarize
from sim.market import MarketConfig, write_market_capture
from sim.simulate import SAMPLE_MARKETS

GRID = {"safety_margin_bps": (2.0, 12.0)}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """A 3-minute market-simulator session with the sample's markets (seed 1, twice the
    default dislocation rate: 3 signals, one of them one-legged, with the default config)."""
    path = tmp_path_factory.mktemp("cap") / "short.parquet"
    cfg = replace(MarketConfig(), seed=1, duration_s=180, dislocations_per_min=8.0)
    write_market_capture(path, cfg)
    return Capture(path, SAMPLE_MARKETS)


@pytest.fixture(scope="module")
def calibrated(
    capture: Capture, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Calibration, dict[str, Path]]:
    """The real calibration (replays in 2 spawned processes) and its written outputs."""
    out = tmp_path_factory.mktemp("cal")
    cal = calibrate([capture], GRID, out, windows=3, processes=2)
    return cal, write_outputs(cal, out)


def test_calibrate_writes_report_html_results_and_a_snippet_that_loads(
    calibrated: tuple[Calibration, dict[str, Path]],
) -> None:
    cal, paths = calibrated
    assert {p.name for p in paths.values()} == {
        "report.md",
        "report.html",
        "calibrated.toml",
        "results.json",
    }
    chosen = dict(cal.chosen.values)
    loaded = load_settings(markets_path=SAMPLE_MARKETS, env={}, overrides=[paths["snippet"]])
    assert loaded.thresholds.safety_margin_bps == chosen["safety_margin_bps"]
    base = load_settings(markets_path=SAMPLE_MARKETS, env={})
    # only the swept key moves: everything else is the base config's
    assert loaded.model_copy(update={"thresholds": base.thresholds}) == base
    # the same snippet through the environment, as `solarb paper` / `live` would read it
    via_env = load_settings(
        markets_path=SAMPLE_MARKETS, env={"SOLARB_OVERRIDES": str(paths["snippet"])}
    )
    assert via_env == loaded
    doc = json.loads(paths["results"].read_text())
    assert doc["chosen"] == cal.chosen.sid
    assert [s["setting"] for s in doc["settings"]] == [dict(s.values) for s in settings_of(GRID)]
    page = paths["html"].read_text()
    assert page.count('id="fig-heat-') == 2  # out-of-sample and test heatmaps
    assert '"name":"chosen"' in page.replace(" ", "")
    assert "<script src=" not in page  # plotly inlined: opens offline
    md = paths["report"].read_text()
    assert f"**Chosen: `{cal.chosen.sid}`**" in md
    assert "## Go / no-go of the chosen setting (test windows)" in md


def test_calibration_choice_is_the_out_of_sample_best(
    calibrated: tuple[Calibration, dict[str, Path]],
) -> None:
    cal, _ = calibrated
    oos = {r.setting: r.span(cal.roles.out_of_sample) for r in cal.results}
    best = max(oos.values(), key=lambda s: s.pnl_quote).pnl_quote
    assert oos[cal.chosen].pnl_quote == best
    assert not oos[cal.chosen].storm


def test_window_figures_add_up_to_the_run_summary(capture: Capture, tmp_path: Path) -> None:
    # every signal and every unit of PnL lands in exactly one window
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [capture.path], tmp_path, run_id="r"))
    from replay.calibrate_stats import capture_span

    wins = journal_windows(tmp_path / "r", window_bounds(*capture_span(capture.path), 4))
    total = WindowStats()
    for w in wins:
        total.add(w)
    s = summarize(tmp_path / "r", settings)
    assert total.signals == s.signals > 0
    assert total.pnl_quote == s.pnl_quote
    assert total.completed + total.one_legged == s.arbs_completed + s.arbs_one_legged
    assert round(total.minutes, 6) == round(sum(w.minutes for w in wins), 6) > 2.9


def _fake_runner(table: dict[str, list[int]]):  # type: ignore[no-untyped-def]
    """A runner whose per-window net PnL per setting is given (quote units)."""

    def run(job: Job) -> list[WindowStats]:
        return [
            WindowStats(minutes=1.0, signals=1, accepted=1, pnl_quote=p)
            for p in table[job.setting.sid]
        ]

    return run


def test_walk_forward_never_reads_the_test_window_for_the_choice(
    capture: Capture, tmp_path: Path
) -> None:
    grid = {"safety_margin_bps": (1.0, 2.0, 3.0)}
    a, b, c = (s.sid for s in settings_of(grid))
    # windows: in-sample, out-of-sample, out-of-sample, test
    table = {a: [900, 10, 10, 5000], b: [0, 30, 5, -100], c: [0, 20, 20, 0]}
    cal = calibrate([capture], grid, tmp_path, windows=4, runner=_fake_runner(table))
    assert cal.roles == Roles(4) and cal.roles.out_of_sample == [1, 2]
    assert cal.chosen.sid == c  # 40 out of sample beats 35 and 20
    # the test window (and the in-sample one) can say anything: the choice stays
    for changed in ({a: [0, 10, 10, 10**9]}, {b: [10**9, 30, 5, 10**9]}):
        again = calibrate(
            [capture], grid, tmp_path, windows=4, runner=_fake_runner({**table, **changed})
        )
        assert again.chosen.sid == c
    # an out-of-sample change moves it
    moved = calibrate(
        [capture], grid, tmp_path, windows=4, runner=_fake_runner({**table, b: [0, 30, 11, 0]})
    )
    assert moved.chosen.sid == b


def test_a_storming_setting_is_chosen_only_when_every_setting_storms(
    capture: Capture, tmp_path: Path
) -> None:
    grid = {"min_net_bps": (0.0, 5.0)}
    quiet, loud = (s.sid for s in settings_of(grid))

    def run(job: Job) -> list[WindowStats]:
        storm = 60 if job.setting.sid == loud else 3
        pnl = 1000 if job.setting.sid == loud else 1
        return [WindowStats(1.0, 1, 1, pnl_quote=pnl, max_signals_per_min=storm) for _ in range(3)]

    cal = calibrate([capture], grid, tmp_path, runner=run)
    assert cal.chosen.sid == quiet


def test_grid_specs_and_settings() -> None:
    assert parse_grid([]) == {"safety_margin_bps": (2.0, 5.0, 10.0), "min_net_bps": (0.0, 4.0)}
    g = parse_grid(["slippage_mult=0.5,2", "max_notional_usd=1000"])
    assert g["slippage_mult"] == (0.5, 2.0) and g["max_notional_usd"] == (1000.0,)
    assert len(settings_of(parse_grid(["wide"]))) == 5 * 4 * 3 * 3 * 3
    for bad in ("nope=1", "min_net_bps", "min_net_bps=x", "min_net_bps=-1", "min_net_bps=nan"):
        with pytest.raises(ConfigError, match="--grid"):
            parse_grid([bad])
    base = load_settings(markets_path=SAMPLE_MARKETS, env={})
    s = Setting(
        (
            ("slippage_mult", 2.0),
            ("max_notional_usd", 1500.0),
            ("priority_share_of_edge", 0.2),
        )
    )
    out = apply_setting(base, s)
    assert out.thresholds.slippage_default_bps == 2 * base.thresholds.slippage_default_bps
    assert str(out.risk.max_notional_usd) == "1500"
    assert out.gas.priority_share_of_edge == 0.2


def test_windows_cover_the_span_without_gaps() -> None:
    b = window_bounds(100, 1099, 3)
    assert b[0][0] == 100 and b[-1][1] == 1100
    assert all(hi == lo for (_, hi), (lo, _) in itertools.pairwise(b))
    with pytest.raises(ConfigError, match="at least 2 windows"):
        window_bounds(0, 10, 1)


def test_cli_calibrate_on_a_capture(
    capture: Capture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal"
    rc = main(
        [
            "--markets",
            str(SAMPLE_MARKETS),
            "calibrate",
            str(capture.path),
            "--grid",
            "safety_margin_bps=5",
            "--grid",
            "min_net_bps=0",
            "--processes",
            "1",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "[1/1] safety_margin_bps=5,min_net_bps=0 on short" in text
    assert "chosen         safety_margin_bps=5,min_net_bps=0" in text
    assert (out / "calibrated.toml").is_file()
    assert main(["calibrate", str(capture.path), "--out", str(out)]) == 2  # no --markets
