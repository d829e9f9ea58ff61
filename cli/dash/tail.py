"""Incremental journal reader for the dashboard: each poll reads only the part files that
appeared since the last one.

The journal sink writes a part file aside and renames it into place (`connectors/journal.py`),
so a part present under its final name is complete and never changes: remembering the names
already read is enough to read each row once. A table folder whose modification time has not
moved since the last poll holds no new part and is not listed again, so an idle poll costs one
`stat` per table; a folder modified within the last `MTIME_SLACK_NS` is listed anyway, since
two renames inside one tick of the file system's clock leave the same time. When `latest`
names another run (a new `paper` session started beside the dashboard), the tail starts over
on that run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.journal import ROW_ID, TABLES, run_dir
from operators.errors import ConfigError

TABLE_NAMES: tuple[str, ...] = (*TABLES.values(), "counters")
"""Every journal table the dashboard reads."""
MTIME_SLACK_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class NewRows:
    """What one poll found: the run read, whether it is a different run than the last poll's
    (the reader must start over), and the new rows per table (deduplicated by row id)."""

    run: Path
    restarted: bool
    rows: dict[str, list[dict[str, Any]]]
    parts: int

    @property
    def empty(self) -> bool:
        """True when the poll found no new row."""
        return not any(self.rows.values())


def _part_key(name: str) -> tuple[str, int]:
    # w<worker>-<part>: numeric part order, so w0-100000 comes after w0-99999
    worker, _, part = name[: -len(".parquet")].partition("-")
    return (worker, int(part) if part.isdigit() else -1)


@dataclass
class JournalTail:
    """Follows one journal folder (its `latest` run) or one run folder."""

    journal: Path
    run: Path | None = None
    parts_read: int = 0
    _seen_parts: set[str] = field(default_factory=set)
    _seen_ids: set[str] = field(default_factory=set)
    _dir_mtime_ns: dict[str, int] = field(default_factory=dict)

    def _current_run(self) -> Path:
        if not self.journal.is_dir():
            raise ConfigError(f"no journal at {self.journal}")
        return run_dir(self.journal)

    def poll(self) -> NewRows:
        """Read the part files that appeared since the last poll (all of them on the first)."""
        run = self._current_run()
        restarted = run != self.run
        if restarted:
            self.run = run
            self.parts_read = 0
            self._seen_parts.clear()
            self._seen_ids.clear()
            self._dir_mtime_ns.clear()
        out: dict[str, list[dict[str, Any]]] = {}
        parts = 0
        for table in TABLE_NAMES:
            folder = run / table
            try:
                mtime = folder.stat().st_mtime_ns
            except FileNotFoundError:
                continue  # the run has not written this table yet
            if self._dir_mtime_ns.get(table) == mtime and time.time_ns() - mtime > MTIME_SLACK_NS:
                continue
            self._dir_mtime_ns[table] = mtime
            names = sorted(
                (
                    e.name
                    for e in os.scandir(folder)
                    if e.name.endswith(".parquet") and not e.name.startswith(".")
                ),
                key=_part_key,
            )
            rows: list[dict[str, Any]] = []
            for name in names:
                key = f"{table}/{name}"
                if key in self._seen_parts:
                    continue
                rows.extend(self._read_new(folder / name))
                self._seen_parts.add(key)
                parts += 1
            if rows:
                out[table] = rows
        self.parts_read += parts
        return NewRows(run=run, restarted=restarted, rows=out, parts=parts)

    def _read_new(self, path: Path) -> list[dict[str, Any]]:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"{path}: unreadable journal part: {exc}") from exc
        rows: list[dict[str, Any]] = table.to_pylist()
        if ROW_ID not in table.column_names:
            return rows
        # a resumed run may write a row again; like `read_table`, keep the first of each id
        fresh = []
        for r in rows:
            rid = r[ROW_ID]
            if rid not in self._seen_ids:
                self._seen_ids.add(rid)
                fresh.append(r)
        return fresh
