"""The HTML report of a replay: offline, plots present, figures equal to the journal's."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from bytewax.testing import run_main

from cli.main import main
from config import load_settings
from connectors.journal import read_table
from flows.replay import build_flow
from replay.html_report import COST_PARTS
from replay.report import summarize, write_report
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, write_capture

COLUMNS = [f"cost_{c}" for c, _ in COST_PARTS]
CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
# The two arbs of this session (fills pinned in test_replay_graph.py), quote base units (µUSDC):
# net = sell - sell fee - buy - buy fee - gas, gas = the journal's gas bps x the buy quote,
# valued at the live SOL price of the CEX book (~151.08 and ~149.99 USDC; 60_780 and 60_750
# at the former constant 150 USDC/SOL).
GAS_1, GAS_2 = 61_229, 60_732
PNL_1 = 4_532_316_150 - 4_532_317 - 4_504_572_985 - 0 - GAS_1
PNL_2 = 4_530_613_863 - 0 - 4_499_685_460 - 4_499_686 - GAS_2


class _Page(HTMLParser):
    """Collects script/link sources, JSON figure blocks and table cells by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.figures: dict[str, dict] = {}
        self.tables: list[list[list[str]]] = []
        self.table_ids: list[str | None] = []
        self._fig: str | None = None
        self._buf: list[str] = []
        self._cell: list[str] | None = None
        self.journal = Path()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "link", "img", "iframe"):
            for key in ("src", "href"):
                if a.get(key):
                    self.sources.append(a[key] or "")
        if tag == "script" and a.get("type") == "application/json":
            self._fig, self._buf = (a.get("id") or "")[4:], []
        if tag == "table":
            self.tables.append([])
            self.table_ids.append(a.get("id"))
        if tag == "tr":
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._fig is not None:
            self.figures[self._fig] = json.loads("".join(self._buf))
            self._fig = None
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._fig is not None:
            self._buf.append(data)
        elif self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Page, str]:
    tmp = tmp_path_factory.mktemp("report")
    capture = tmp / "session.parquet"
    write_capture(capture, CFG)
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [capture], tmp / "j", batch_size=1, run_id="r1"))
    s = summarize(tmp / "j", settings)
    md = write_report(s, tmp / "out" / "report.md", tmp / "j", title="small session")
    assert md == tmp / "out" / "report.md"
    assert "| signal storm | <= 50 signals/min | max 2 signals in a 60 s window | pass |" in (
        md.read_text().splitlines()
    )
    text = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    p = _Page()
    p.feed(text)
    p.journal = tmp / "j"
    return p, text


def test_html_report_loads_nothing_from_the_network(page: tuple[_Page, str]) -> None:
    p, text = page
    assert [s for s in p.sources if s.startswith(("http://", "https://", "//"))] == []
    assert "Plotly.newPlot" in text  # plotly.js itself is inlined
    assert len(text) > 1_000_000


def test_html_report_has_the_five_plots_with_the_journal_figures(
    page: tuple[_Page, str],
) -> None:
    p, _ = page
    journal = p.journal
    assert sorted(p.figures) == ["costs", "latency", "pnl", "slippage", "spread"]
    slip = p.figures["slippage"]["data"]
    assert [(t["name"], len(t["y"])) for t in slip] == [("buy legs", 2), ("sell legs", 2)]
    # the first arb's DEX buy: paid 4_504_572_985 for what was detected at 4_505_332_948
    assert slip[0]["y"][0] == (4_504_572_985 - 4_505_332_948) / 4_505_332_948 * 1e4
    pnl = p.figures["pnl"]["data"]
    assert [t["name"] for t in pnl] == ["SOL/USDC (USDC)"]
    # two completed arbs, cumulative, in USDC: the exact integers of the journal / 1e6
    assert pnl[0]["y"] == [PNL_1 / 1e6, (PNL_1 + PNL_2) / 1e6]
    spread = p.figures["spread"]["data"]
    combo = f"SOL/USDC buy binance:SOLUSDC / sell orca:{SAMPLE_POOL}"
    assert [t["name"] for t in spread][:2] == [combo, f"threshold: {combo}"]
    costs = p.figures["costs"]["data"]
    assert [t["name"] for t in costs] == [
        "CEX fee", "DEX fee", "gas", "slippage", "hedge", "safety margin", "spread",
    ]  # fmt: skip
    signals = sorted(
        (o for o in read_table(journal, "opportunities").to_pylist() if o["update_seq"] == 0),
        key=lambda o: o["ts_detect_ns"],
    )
    for trace, col in zip(costs, COLUMNS):
        assert trace["y"] == [o[col] for o in signals]
    assert costs[-1]["y"] == [o["spread_bps"] for o in signals]
    assert len(p.figures["latency"]["data"][0]["x"]) == 6  # 2 signals + 4 updates


def test_html_report_arb_table_shows_human_units_and_exact_net(page: tuple[_Page, str]) -> None:
    p, _ = page
    arbs = next(t for t in p.tables if t and t[0][:2] == ["signal", "pair"])
    rows = arbs[1:]
    assert (PNL_1, PNL_2) == (23_149_619, 26_367_985)
    assert [tuple(r[3:4] + r[5:8] + r[9:]) for r in rows] == [
        ("30.000 SOL", "filled", "150.1524", "0.0000", "filled", "151.0772", "4.5323",
         "0.0612", "completed", "23.1496 USDC", "51.39", "40.72"),
        ("30.000 SOL", "filled", "149.9895", "4.4997", "filled", "151.0205", "0.0000",
         "0.0607", "completed", "26.3680 USDC", "58.60", "47.56"),
    ]  # fmt: skip


def test_html_report_go_no_go_marks_what_cannot_be_computed(page: tuple[_Page, str]) -> None:
    p, _ = page
    gng = p.tables[p.table_ids.index("go-no-go")]
    assert [r[0] for r in gng[1:]] == [
        "hit rate", "p95 slippage", "net PnL per day", "signal storm", "critical incidents",
    ]  # fmt: skip
    assert gng[1][2:] == ["100.0% (2 profitable completed / 2 accepted signals)", "pass"]
    assert gng[2][2].startswith("n/a (realised slippage needs live fills; paper fills vs")
    assert gng[2][3] == "n/a"
    assert gng[3][2].startswith("n/a (the session covers")
    assert gng[4][2:] == ["max 2 signals in a 60 s window", "pass"]
    assert gng[5][2:] == ["0 kill-switch trips", "pass"]


def test_solarb_report_command_rewrites_both_reports_of_a_journal(
    page: tuple[_Page, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p, _ = page
    out = tmp_path / "again.md"
    args = ["--markets", str(SAMPLE_MARKETS), "report", "--journal", str(p.journal)]
    assert main([*args, "--report", str(out)]) == 0
    assert f"report         {out} (+ {out.with_suffix('.html')})" in capsys.readouterr().out
    again = _Page()
    again.feed(out.with_suffix(".html").read_text(encoding="utf-8"))
    assert again.figures["pnl"]["data"][0]["y"] == p.figures["pnl"]["data"][0]["y"]
