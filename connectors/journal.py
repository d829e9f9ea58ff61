"""The journal: every decision of a run as Parquet tables (one per record kind), a folder per run.

Layout (see docs/journal.md):

    <journal_dir>/latest                         text file: the run id of the newest run
    <journal_dir>/<run-id>/<table>/w<worker>-<part>.parquet

Tables: `opportunities`, `decisions`, `intents`, `fills`, `health`, `counters`, `orders`,
`transactions`. Each row keeps
the record's per-stage timestamps (`ts_event_ns`, `ts_recv_ns`, `ts_ingest_ns`,
`ts_detect_wall_ns`, `ts_intent_ns`, `ts_fill_ns`), so latency is measurable at every stage, and
a deterministic `row_id` derived from the record's identity. Nested cost breakdowns are
flattened to `cost_*` columns.

Durability: rows are written in bounded batches, a new part file whenever `flush_rows` rows are
pending or the oldest pending row is `flush_ms` old (`engine.journal_flush_rows` / `_ms`), and
each part file appears atomically (written aside, then renamed), so a crash loses at most the
last batch and never leaves a half-written file. Each run writes only into its own folder, so
runs never mix and nothing of an earlier run is deleted. The sink is idempotent on resume: at
open it reads the row ids already in the run folder and skips any row whose id is there (Bytewax
recovery replays the batches after its last snapshot). Readers dedupe by `row_id` as well.

Daily rotation (paper and live runs, `rotate_daily=True`): a run that lives across UTC midnight
keeps one run folder (one run id, one `latest`), and its part files go into one sub-folder per
UTC day of arrival, `<table>/day=YYYY-MM-DD/w<worker>-<part>.parquet`. The run stays one unit
(resume, dedupe and the report read it whole), a day is one folder to archive or drop, and the
`day=` spelling is Hive partitioning, so DuckDB and Polars read the day as a column. A row's day
is the UTC wall-clock day when the sink received it, so a batch pending across midnight splits.
Replays do not rotate: their rows carry market time, and their wall time means nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.order_journal import OrderRecord
from connectors.redact import redact_text
from connectors.solana.tx_outcome import TxRecord
from operators.errors import ConfigError
from operators.events import CostBreakdown, ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.legs import LegTransition
from operators.risk import KillEffect, KillRecord, RiskDecision

TABLES: dict[type, str] = {
    Opportunity: "opportunities",
    RiskDecision: "decisions",
    OrderIntent: "intents",
    ExecutionReport: "fills",
    HealthEvent: "health",
}
LATEST = "latest"
"""Name of the pointer file in the journal folder: it holds the id of the newest run."""
ROW_ID = "row_id"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


@dataclasses.dataclass(frozen=True, slots=True)
class CounterRecord:
    """A named counter reported by a stateful step at the end of a run."""

    step: str
    key: str
    name: str
    value: int


TABLES[CounterRecord] = "counters"
TABLES[OrderRecord] = "orders"
TABLES[LegTransition] = "legs"
TABLES[TxRecord] = "transactions"
TABLES[KillRecord] = "kills"
TABLES[KillEffect] = "kill_effects"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def row_id(record: Any) -> str:
    """Deterministic id of a journal record, from its identity (same record -> same id)."""
    if isinstance(record, Opportunity):
        return f"opp:{record.opportunity_id}#{record.update_seq}"
    if isinstance(record, RiskDecision):
        # an opportunity and each of its updates gets one decision; their receive times differ
        return f"decision:{record.opportunity_id}@{record.ts_recv_ns}"
    if isinstance(record, OrderIntent):
        # an accepted update re-uses the opportunity's intent ids, so the intent time is part
        return f"intent:{record.intent_id}@{record.ts_intent_ns}"
    if isinstance(record, ExecutionReport):
        return f"fill:{record.intent_id}@{record.ts_recv_ns}>{record.ts_fill_ns}:{record.status}"
    if isinstance(record, HealthEvent):
        return (
            f"health:{record.source}|{record.status}|{record.ts_event_ns}|{record.ts_recv_ns}|"
            f"{_digest(record.detail)}"
        )
    if isinstance(record, CounterRecord):
        return f"counter:{record.step}|{record.key}|{record.name}"
    if isinstance(record, LegTransition):
        return f"leg:{record.opportunity_id}|{record.from_state}>{record.to_state}@{record.ts_ns}"
    if isinstance(record, OrderRecord):
        # one row per request sent: a re-send of the same client id is a new request
        return f"order:{record.venue}|{record.client_order_id}@{record.ts_sent_ns}"
    if isinstance(record, TxRecord):
        # one row per signed transaction sent: its signature is its identity
        return f"tx:{record.signature}"
    if isinstance(record, KillRecord):
        # a fill-risk kill names its pair: two pairs may trip the same cause at one instant
        scope = f"|{record.scope}" if record.scope else ""
        return f"kill:{record.cause}@{record.tripped_ns}{scope}"
    if isinstance(record, KillEffect):
        # one row per pair per trip of the guard
        return f"kill_effect:{record.cause}@{record.tripped_ns}|{record.scope}"
    raise ConfigError(f"journal: no row id for a {type(record).__name__}")


def flatten(record: Any) -> dict[str, Any]:
    """One journal row from a record dataclass (nested dataclasses become prefixed columns)."""
    row: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            for k, sub in flatten(v).items():
                row[f"cost_{k}" if f.name == "costs" else f"{f.name}_{k}"] = sub
            if isinstance(v, CostBreakdown):
                row["cost_total_bps"] = v.total_bps
        elif isinstance(v, Decimal):
            row[f.name] = str(v)
        elif isinstance(v, tuple):
            row[f.name] = ",".join(str(x) for x in v)
        elif isinstance(v, dict):
            row[f.name] = json.dumps(v, sort_keys=True)
        elif f.type in ("float", float) and isinstance(v, int) and not isinstance(v, bool):
            # a float field handed an int must not type the column int64 in one part and
            # double in the next: parts of one run could then not be read together
            row[f.name] = float(v)
        elif isinstance(v, str) and f.name in ("detail", "reason", "error"):
            # free text may quote an endpoint URL; its key must not reach the journal
            row[f.name] = redact_text(v)
        else:
            row[f.name] = v
    return row


def journal_row(record: Any) -> dict[str, Any]:
    """The row written for `record`: its `row_id` first, then its flattened fields."""
    return {ROW_ID: row_id(record), **flatten(record)}


def new_run_id() -> str:
    """A fresh run id: UTC start time plus a random suffix (sorts by start time)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """`run_id` if it is a plain folder name; ConfigError otherwise."""
    if not _RUN_ID.match(run_id) or run_id == LATEST:
        raise ConfigError(
            f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (at most 128), not {LATEST!r}"
        )
    return run_id


def run_dir(journal: str | Path) -> Path:
    """The run folder to read: the one `journal/latest` names, else `journal` itself."""
    root = Path(journal)
    pointer = root / LATEST
    if not pointer.is_file():
        return root  # a run folder given directly (or a journal from before run folders)
    run_id = pointer.read_text(encoding="utf-8").strip()
    folder = root / check_run_id(run_id)
    if not folder.is_dir():
        raise ConfigError(f"{pointer}: names run {run_id!r}, but {folder} does not exist")
    return folder


def _point_latest(root: Path, run_id: str, worker: int) -> None:
    # written aside and renamed, so a reader never sees a half-written pointer
    tmp = root / f".{LATEST}.{worker}.{os.getpid()}.tmp"
    tmp.write_text(run_id + "\n", encoding="utf-8")
    os.replace(tmp, root / LATEST)


DAY_NS = 86_400_000_000_000
DAY_PREFIX = "day="


def day_folder(wall_ns: int) -> str:
    """The rotation sub-folder of a UTC wall-clock time (ns): `day=YYYY-MM-DD`."""
    return DAY_PREFIX + time.strftime("%Y-%m-%d", time.gmtime(wall_ns // 1_000_000_000))


def _part_order(path: Path) -> tuple[str, str, int, str]:
    # day folders in date order (flat tables have none), then numeric part order: a long run
    # passes w0-99999 and w0-100000 must come after it
    day = path.parent.name if path.parent.name.startswith(DAY_PREFIX) else ""
    worker, _, part = path.stem.partition("-")
    return (day, worker, int(part), "") if part.isdigit() else (day, worker, -1, path.name)


def _parts(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [*folder.glob("*.parquet"), *folder.glob(f"{DAY_PREFIX}*/*.parquet")]
    return sorted(found, key=_part_order)


def _read_part(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{path}: unreadable journal part: {exc}") from exc


def written_ids(run: Path) -> set[str]:
    """Every row id already in the run folder `run` (all tables, all workers)."""
    ids: set[str] = set()
    for name in set(TABLES.values()):
        for part in _parts(run / name):
            t = _read_part(part)
            if ROW_ID in t.column_names:
                ids.update(t.column(ROW_ID).to_pylist())
    return ids


class _JournalPartition(StatelessSinkPartition[Any]):
    def __init__(
        self,
        run: Path,
        worker: int,
        flush_rows: int,
        flush_ns: int,
        clock: Callable[[], int],
        seen: set[str],
        wall_clock: Callable[[], int] | None = None,
    ) -> None:
        self._run = run
        self._wall = wall_clock
        self._worker = worker
        self._flush_rows = flush_rows
        self._flush_ns = flush_ns
        self._clock = clock
        self._rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._pending = 0
        self._oldest_ns = 0
        self._seen = seen
        self.duplicates = 0
        """Rows skipped because their id was already written (a replayed batch on resume)."""
        prefix = f"w{worker}-"
        self._next_part: dict[str, int] = {}
        for name in set(TABLES.values()):
            taken = [
                int(p.stem[len(prefix) :])
                for p in _parts(run / name)
                if p.stem.startswith(prefix) and p.stem[len(prefix) :].isdigit()
            ]
            self._next_part[name] = max(taken, default=-1) + 1

    def write_batch(self, items: list[Any]) -> None:
        seen = self._seen
        for item in items:
            name = TABLES.get(type(item))
            if name is None:
                continue
            row = journal_row(item)
            rid = row[ROW_ID]
            if rid in seen:
                self.duplicates += 1
                continue
            seen.add(rid)
            day = day_folder(self._wall()) if self._wall is not None else ""
            self._rows.setdefault((name, day), []).append(row)
            if self._pending == 0:
                self._oldest_ns = self._clock()
            self._pending += 1
        if self._pending and (
            self._pending >= self._flush_rows or self._clock() - self._oldest_ns >= self._flush_ns
        ):
            self.flush()

    def flush(self) -> None:
        """Write every pending row: one new part file per table that has rows."""
        for (name, day), rows in self._rows.items():
            if not rows:
                continue
            part = self._next_part[name]
            self._next_part[name] = part + 1
            folder = self._run / name / day if day else self._run / name
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"w{self._worker}-{part:05d}.parquet"
            tmp = folder / f".{final.name}.tmp"
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            os.replace(tmp, final)
        self._rows = {}
        self._pending = 0

    def close(self) -> None:
        self.flush()


class JournalSink(DynamicSink[Any]):
    """Write journal records under `root/<run_id>/<table>/w<worker>-<part>.parquet`."""

    def __init__(
        self,
        root: str | Path,
        run_id: str | None = None,
        *,
        flush_rows: int = 1000,
        flush_ms: int = 1000,
        clock: Callable[[], int] = time.monotonic_ns,
        rotate_daily: bool = False,
        wall_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if flush_rows < 1 or flush_ms < 0:
            raise ConfigError(
                f"journal flush needs rows >= 1 and ms >= 0, got {flush_rows}, {flush_ms}"
            )
        self.root = Path(root)
        self.run_id = check_run_id(run_id) if run_id else new_run_id()
        self.flush_rows = flush_rows
        self.flush_ms = flush_ms
        self.clock = clock
        self.rotate_daily = rotate_daily
        """Part files go into `day=YYYY-MM-DD` sub-folders by UTC arrival day (`wall_clock`)."""
        self.wall_clock = wall_clock
        # read now, while the flow is built, so an unreadable folder fails before the run starts
        # (an error inside Bytewax's run comes wrapped in a panic); shared by this process's
        # workers, so a row replayed on another worker after a resume is skipped too
        self._seen = written_ids(self.run_path)

    @property
    def run_path(self) -> Path:
        """This run's folder: `root/<run_id>`."""
        return self.root / self.run_id

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _JournalPartition:
        """One partition per worker; the run folder and the `latest` pointer exist from here on."""
        self.run_path.mkdir(parents=True, exist_ok=True)
        _point_latest(self.root, self.run_id, worker_index)
        return _JournalPartition(
            self.run_path,
            worker_index,
            self.flush_rows,
            self.flush_ms * 1_000_000,
            self.clock,
            self._seen,
            self.wall_clock if self.rotate_daily else None,
        )


def read_rows(journal: str | Path, name: str) -> list[dict[str, Any]]:
    """One journal table of a run as rows (`read_table`'s, as dicts); empty if it has none."""
    table = read_table(journal, name)
    return [] if table is None else table.to_pylist()


def read_table(journal: str | Path, name: str) -> pa.Table | None:
    """One journal table of a run (all parts, deduplicated by row id), or None if it has none.

    `journal` is a journal folder (its `latest` run is read) or a run folder.
    """
    files = _parts(run_dir(journal) / name)
    if not files:
        return None
    table = pa.concat_tables([_read_part(f) for f in files], promote_options="default")
    if ROW_ID not in table.column_names:
        return table
    # a second line of defense behind the sink: keep the first row of every id
    ids = table.column(ROW_ID).to_pylist()
    first: dict[str, int] = {}
    for i, rid in enumerate(ids):
        first.setdefault(rid, i)
    if len(first) == len(ids):
        return table
    return table.take(sorted(first.values()))
