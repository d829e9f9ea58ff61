"""The journal for spreadsheet users: one CSV per table of a run.

Every table folder of the run is exported, including tables this module does not know by name
(a newer build's `kills`, say), with the columns exactly as the Parquet parts have them (units
in the column names; docs/journal.md). Rows are deduplicated by `row_id` as every reader does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.journal import read_table, run_dir
from operators.errors import ConfigError


def table_names(run: Path) -> list[str]:
    """The tables a run folder holds (folders with at least one Parquet part), sorted."""
    if not run.is_dir():
        raise ConfigError(f"{run}: no such journal run folder")
    return sorted(
        d.name
        for d in run.iterdir()
        if d.is_dir() and (any(d.glob("*.parquet")) or any(d.glob("day=*/*.parquet")))
    )


def export_csv(journal: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write `<out_dir>/<table>.csv` for every table of the run (the latest, given a journal
    folder); rows written per table."""
    run = run_dir(journal)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name in table_names(run):
        table = read_table(run, name)
        if table is None:
            continue
        final = out / f"{name}.csv"
        tmp = out / f".{name}.csv.tmp"
        try:
            pacsv.write_csv(table, tmp)
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"{final}: cannot write CSV: {exc}") from exc
        os.replace(tmp, final)  # a spreadsheet never opens half a file
        written[name] = table.num_rows
    return written
