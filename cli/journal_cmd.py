"""`solarb journal export --csv OUT_DIR [--journal J]`: the journal as CSV files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_journal_export(args: argparse.Namespace) -> int:
    """Export every table of a run (the latest by default) as one CSV each."""
    from config import load_settings
    from connectors.journal import run_dir
    from connectors.journal_export import export_csv

    journal = args.journal or load_settings(args.config, args.markets).engine.journal_dir
    run = run_dir(Path(journal))
    written = export_csv(run, args.csv)
    for name, rows in written.items():
        print(f"{name:<14} {rows:>8} rows -> {Path(args.csv) / (name + '.csv')}")
    print(f"run            {run}")
    return 0


def add_journal_parser(subparsers: Any) -> None:
    """Add `journal export` to `solarb`'s subparsers."""
    j = subparsers.add_parser("journal", help="the journal as data")
    jsub = j.add_subparsers(dest="journal_cmd", required=True)
    e = jsub.add_parser("export", help="one CSV per journal table (spreadsheets)")
    e.add_argument("--csv", required=True, metavar="OUT_DIR", help="folder for the CSV files")
    e.add_argument(
        "--journal",
        help="journal folder (its latest run) or a run folder (default: engine.journal_dir)",
    )
    e.set_defaults(func=cmd_journal_export)
