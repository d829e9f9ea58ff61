"""Sinks every flow shares, built from settings."""

from __future__ import annotations

from pathlib import Path

from config import Settings
from connectors.journal import JournalSink


def journal_sink(
    settings: Settings, journal_dir: Path, run_id: str | None, *, rotate_daily: bool = False
) -> JournalSink:
    """The journal sink of a run, flushing as often as `[engine]` says; live runs rotate their
    part files per UTC day (docs/journal.md)."""
    e = settings.engine
    return JournalSink(
        journal_dir,
        run_id,
        flush_rows=e.journal_flush_rows,
        flush_ms=e.journal_flush_ms,
        rotate_daily=rotate_daily,
    )
