"""`solarb dash` headless under Textual's pilot, over a replayed journal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from textual.widgets import DataTable, Static

from cli.dash.app import DashApp
from cli.dash.shot import shoot
from cli.main import build_parser, main
from operators.risk import KILL_SOURCE
from replay.report import pair_units
from sim.simulate import write_capture
from tests.integration.dash_support import CFG, RUN_ID, replay_journal, sample_settings

KILL_TS = 1767225650000000000


@pytest.fixture(scope="module")
def source_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replay_journal(tmp_path_factory.mktemp("dash-app"))


@pytest.fixture
def journal(source_journal: Path, tmp_path: Path) -> Path:
    root = tmp_path / "journal"
    shutil.copytree(source_journal, root)
    return root


def _app(journal: Path, refresh_s: float = 60.0) -> DashApp:
    units = pair_units(sample_settings())
    return DashApp(journal, units, refresh_s=refresh_s, wall_clock=False)


def _text(app: DashApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def _rows(app: DashApp, selector: str) -> list[list[str]]:
    table = app.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_dashboard_mounts_and_shows_the_pair_and_its_figures(journal: Path) -> None:
    app = _app(journal)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        assert _text(app, "#header") == (
            f"run {RUN_ID}  |  journal clock 2026-01-01 00:00:47 UTC  |  47 journal rows"
        )
        assert _text(app, "#kill") == (
            "kill switch: armed | 0 trips, 0 re-arms, 0 signals rejected by it"
        )
        assert _text(app, "#pair-SOL-USDC") == (
            "SOL/USDC  signals 2 (accepted 2)  hit rate 2/2 = 100.0 %  "
            "arbs 2 completed, 0 one-legged\n"
            "  PnL +49.52 USDC on 9,004.26 USDC = +54.99 bps  volume 60.000 SOL"
        )
        assert _rows(app, "#spreads-SOL-USDC") == [
            ["buy_cex_sell_dex", "binance:SOLUSDC", "orca:DpLa…ogRc", "76.16", "24.17",
             "+51.99", "30.000 SOL", "0 ms"],
            ["buy_dex_sell_cex", "orca:DpLa…ogRc", "binance:SOLUSDC", "68.59", "24.21",
             "+44.38", "30.000 SOL", "24.5 s"],
        ]  # fmt: skip
        assert _rows(app, "#feeds") == [
            ["binance:SOLUSDC", "-", "-", "-", "-", "0", "0", "601", "0", ""],
            # a pool counts decode errors, not resyncs
            ["orca:DpLa…ogRc", "up", "yes", "00:00:00.000", "47.1 s", "1", "0", "86", "-",
             "in sync at slot 300000000"],
        ]  # fmt: skip
        assert _rows(app, "#signals") == [
            ["00:00:45.001", "SOL/USDC", "buy_cex_sell_dex", "binance:SOLUSDC", "orca:DpLa…ogRc",
             "30.000 SOL", "+47.56", "accepted", "2/2 filled, +26.37 USDC"],
            ["00:00:20.406", "SOL/USDC", "buy_dex_sell_cex", "orca:DpLa…ogRc", "binance:SOLUSDC",
             "30.000 SOL", "+40.72", "accepted", "2/2 filled, +23.15 USDC"],
        ]  # fmt: skip
        figures = _text(app, "#figures").splitlines()
        assert figures[0].startswith("tick -> opportunity  p50 ")
        assert figures[0].endswith("(6 samples)")
        assert figures[1].startswith("p95 slippage         ")
        assert figures[1].endswith(" bps (fills vs decision-time price)")
        assert figures[2:] == ["open legs            0"]


async def test_dashboard_refreshes_when_a_new_part_file_appears(journal: Path) -> None:
    app = _app(journal, refresh_s=0.05)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        polls = app.polls
        row = {
            "row_id": f"health:{KILL_SOURCE}|kill|{KILL_TS}",
            "source": KILL_SOURCE,
            "status": "kill",
            "detail": "feed binance down 1600 ms",
            "ts_event_ns": KILL_TS,
            "ts_recv_ns": KILL_TS,
            "value": 0.0,
        }
        folder = journal / RUN_ID / "health"
        # as the journal sink does: written aside, renamed into place
        pq.write_table(pa.Table.from_pylist([row]), folder / ".w0-00001.parquet.tmp")
        (folder / ".w0-00001.parquet.tmp").rename(folder / "w0-00001.parquet")
        for _ in range(100):
            await pilot.pause(0.05)
            if "KILLED" in _text(app, "#kill"):
                break
        assert app.polls > polls
        assert _text(app, "#kill") == (
            "KILL SWITCH: KILLED since 00:00:50.000 (feed binance down 1600 ms) | "
            "1 trips, 0 re-arms, 0 signals rejected by it"
        )
        assert app.query_one("#kill", Static).has_class("killed")
        assert _text(app, "#header").endswith("48 journal rows")


async def test_a_new_pair_gets_its_own_section_in_raw_units_when_not_configured(
    journal: Path,
) -> None:
    app = _app(journal, refresh_s=0.05)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        folder = journal / RUN_ID / "opportunities"
        row = pq.read_table(next(folder.glob("*.parquet"))).to_pylist()[0]
        row |= {
            "row_id": "opp:ETH/USDC|x#0",
            "opportunity_id": "ETH/USDC|x",
            "pair": "ETH/USDC",
            "ts_detect_ns": KILL_TS,
        }
        pq.write_table(pa.Table.from_pylist([row]), folder / "w0-00001.parquet")
        for _ in range(100):
            await pilot.pause(0.05)
            if app.query("#pair-ETH-USDC"):
                break
        assert _text(app, "#pair-ETH-USDC") == (
            "ETH/USDC  signals 1 (accepted 0)  hit rate n/a  arbs 0 completed, 0 one-legged\n"
            "  PnL 0 on 0 = n/a  volume 0 base units  (pair not in the markets config: amounts "
            "in base units; pass the run's --markets)"
        )
        assert _rows(app, "#spreads-ETH-USDC") == [
            ["buy_dex_sell_cex", "orca:DpLa…ogRc", "binance:SOLUSDC", "64.92", "24.20",
             "+40.72", "30000000000 base units", "0 ms"],
        ]  # fmt: skip
        assert _rows(app, "#signals")[0][:3] == ["00:00:50.000", "ETH/USDC", "buy_dex_sell_cex"]
        assert _rows(app, "#signals")[0][-2:] == ["pending", "-"]


async def test_an_unreadable_part_is_shown_and_the_figures_stay(journal: Path) -> None:
    app = _app(journal, refresh_s=0.05)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        pair = _text(app, "#pair-SOL-USDC")
        bad = journal / RUN_ID / "health" / "w0-00001.parquet"
        bad.write_bytes(b"not parquet")
        for _ in range(100):
            await pilot.pause(0.05)
            if _text(app, "#header").startswith("journal unreadable"):
                break
        assert _text(app, "#header").startswith(
            f"journal unreadable: {bad}: unreadable journal part: "
        )
        assert _text(app, "#pair-SOL-USDC") == pair
        assert app.is_running


async def test_dashboard_quits_on_q(journal: Path) -> None:
    app = _app(journal)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


def test_dash_without_a_journal_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dash", "--journal", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == f"error: no journal at {tmp_path / 'none'}\n"


def test_screenshot_script_writes_the_dashboard_as_svg(tmp_path: Path) -> None:
    capture = tmp_path / "session.parquet"
    write_capture(capture, CFG)
    svg = shoot(tmp_path / "docs" / "dash.svg", capture=capture).read_text()
    assert svg.startswith("<svg")
    # the pair headline, with the SVG's non-breaking spaces
    assert "SOL/USDC&#160;&#160;signals&#160;2&#160;(accepted&#160;2)" in svg


def test_dash_command_takes_journal_and_refresh() -> None:
    args = build_parser().parse_args(["dash", "--journal", "out/j", "--refresh", "0.5"])
    assert (args.journal, args.refresh, args.func.__name__) == ("out/j", 0.5, "cmd_dash")
