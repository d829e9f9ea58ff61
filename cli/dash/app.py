"""The Textual app of `solarb dash`: layout and refresh only; figures from `state`, text from
`view`.

Every `refresh_s` the app polls the journal tail (new part files only) and, when rows arrived
or the clock moved, redraws. Against a live journal (its newest event within `LIVE_WINDOW_NS`
of the wall clock) ages are measured on the wall clock, so a stalled engine shows its feeds
ageing; over a finished replay they are measured on the journal's own clock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from cli.dash import view
from cli.dash.state import DashFold, DashState
from cli.dash.tail import JournalTail
from operators.errors import SolarbError
from replay.report import PairUnits

LIVE_WINDOW_NS = 600_000_000_000
"""A journal whose newest event is this close to now is a running engine's."""


class DashApp(App[None]):
    """Per pair spreads, PnL and hit rate; feeds; kill switch; latency; recent signals."""

    TITLE = "solarb dash"
    CSS = """
    #header { color: $text-muted; }
    #pairs-anchor { height: 0; }
    #kill { padding: 0 1; background: $success-darken-2; }
    #kill.killed { background: $error; text-style: bold; }
    .pair { text-style: bold; margin-top: 1; }
    .section { text-style: bold; margin-top: 1; color: $accent; }
    DataTable { height: auto; max-height: 14; }
    """
    BINDINGS = [("q", "quit", "quit"), ("r", "poll", "refresh now")]

    def __init__(
        self,
        journal: Path,
        units: Mapping[str, PairUnits],
        refresh_s: float = 1.0,
        wall_clock: bool | None = None,
    ) -> None:
        super().__init__()
        self.tail = JournalTail(Path(journal))
        self.fold = DashFold()
        self.units = dict(units)
        self.refresh_s = refresh_s
        self.wall_clock = wall_clock
        """True / False forces the clock; None picks it from the journal (see module doc)."""
        self.state: DashState = self.fold.state()
        self.polls = 0
        self._pair_widgets: set[str] = set()

    def compose(self) -> ComposeResult:
        """Static layout; the per-pair sections are mounted as pairs appear."""
        yield Static("", id="header")
        yield Static("", id="kill")
        with VerticalScroll(id="body"):
            yield Static(view.SPREADS_CAPTION, classes="section")
            yield Static("", id="pairs-anchor")
            yield Static(view.FEEDS_CAPTION, classes="section")
            yield DataTable(id="feeds", show_cursor=False)
            yield Static("figures", classes="section")
            yield Static("", id="figures")
            yield Static("recent signals", classes="section")
            yield DataTable(id="signals", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, first read, then a poll every `refresh_s`."""
        self.query_one("#feeds", DataTable).add_columns(*view.FEED_COLUMNS)
        self.query_one("#signals", DataTable).add_columns(*view.SIGNAL_COLUMNS)
        self.action_poll()
        self.set_interval(self.refresh_s, self.action_poll)

    def _now_ns(self) -> int | None:
        wall = time.time_ns()
        live = self.wall_clock
        if live is None:
            live = bool(self.fold.clock_ns) and abs(wall - self.fold.clock_ns) < LIVE_WINDOW_NS
        return wall if live else None

    def action_poll(self) -> None:
        """Read the new part files and redraw; a journal error is shown, not fatal (the part
        is read again at the next poll)."""
        if not self.query("#header"):
            return  # the app is closing (its screen is gone): a last timer tick draws nothing
        self.polls += 1
        try:
            new = self.tail.poll()
        except SolarbError as exc:
            self.query_one("#header", Static).update(f"journal unreadable: {exc}")
            return
        if new.restarted:
            self.fold = DashFold()
        for table, rows in new.rows.items():
            self.fold.add(table, rows)
        now = self._now_ns()
        self.state = self.fold.state(now)
        self._draw(new.run.name, "journal" if now is None else "wall")

    def _draw(self, run: str, clock: str) -> None:
        s = self.state
        self.query_one("#header", Static).update(view.header_line(s, run, clock))
        kill = self.query_one("#kill", Static)
        kill.update(view.kill_line(s))
        kill.set_class(s.kill.killed, "killed")
        for p in s.pairs:
            self._draw_pair(p.pair)
        feeds = self.query_one("#feeds", DataTable)
        feeds.clear()
        feeds.add_rows(view.feed_row(f) for f in s.feeds)
        self.query_one("#figures", Static).update("\n".join(view.figures_lines(s)))
        signals = self.query_one("#signals", DataTable)
        signals.clear()
        signals.add_rows(view.signal_row(x, self.units.get(x.pair)) for x in s.recent)

    def _draw_pair(self, pair: str) -> None:
        key = pair_key(pair)
        if pair not in self._pair_widgets:
            self._pair_widgets.add(pair)
            table: DataTable[str] = DataTable(id=f"spreads-{key}", show_cursor=False)
            table.add_columns(*view.SPREAD_COLUMNS)
            anchor = self.query_one("#pairs-anchor", Static)
            body = self.query_one("#body", VerticalScroll)
            body.mount(Static("", id=f"pair-{key}", classes="pair"), before=anchor)
            body.mount(table, before=anchor)
        figures = next(p for p in self.state.pairs if p.pair == pair)
        u = self.units.get(pair)
        self.query_one(f"#pair-{key}", Static).update(view.pair_line(figures, u))
        spreads = self.query_one(f"#spreads-{key}", DataTable)
        spreads.clear()
        spreads.add_rows(view.spread_row(x, u) for x in figures.spreads)


def pair_key(pair: str) -> str:
    """A pair name as a widget id (`SOL/USDC` -> `SOL-USDC`)."""
    return "".join(c if c.isalnum() else "-" for c in pair)
