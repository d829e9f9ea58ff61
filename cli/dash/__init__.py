"""`solarb dash`: the terminal dashboard over a journal (a running engine's, or a finished run's).

`tail` reads new journal part files, `state` folds rows into figures (pure), `view` turns them
into text, `app` lays them out with Textual; `shot` renders the README's screenshot.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from operators.errors import ConfigError


def cmd_dash(args: argparse.Namespace) -> int:
    """Run the dashboard until `q`."""
    from cli.dash.app import DashApp
    from cli.dash.tail import JournalTail
    from config import load_settings
    from replay.report import pair_units

    if args.refresh <= 0:
        raise ConfigError(f"--refresh must be > 0 seconds, got {args.refresh}")
    settings = load_settings(args.config, args.markets)
    journal = Path(args.journal or settings.engine.journal_dir)
    # a missing or unreadable journal is one error line, before the terminal switches screens
    JournalTail(journal).poll()
    DashApp(journal, pair_units(settings), refresh_s=args.refresh).run()
    return 0


def add_dash_parser(sub: Any) -> None:
    """Add `solarb dash` to the subcommands."""
    d = sub.add_parser(
        "dash", help="terminal dashboard over the journal (beside paper / live, or a replay)"
    )
    d.add_argument("--journal", help="journal folder (its latest run) or a run folder")
    d.add_argument(
        "--refresh", type=float, default=1.0, help="seconds between journal polls (default 1)"
    )
    d.set_defaults(func=cmd_dash)
