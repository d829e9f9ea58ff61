"""The journal: every decision of a run, as Parquet tables (one per record kind).

Tables: `opportunities`, `decisions`, `intents`, `fills`, `health`, `counters`. Each row keeps
the record's per-stage timestamps (`ts_event_ns`, `ts_recv_ns`, `ts_ingest_ns`,
`ts_detect_wall_ns`, `ts_intent_ns`, `ts_fill_ns`), so latency is measurable at every stage.
Nested cost breakdowns are flattened to `cost_*` columns. Rows are buffered and written when the
run ends (and every `flush_rows` rows to a new part file, so a long run never holds everything).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.order_journal import OrderRecord
from operators.events import CostBreakdown, ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.risk import RiskDecision

TABLES: dict[type, str] = {
    Opportunity: "opportunities",
    RiskDecision: "decisions",
    OrderIntent: "intents",
    ExecutionReport: "fills",
    HealthEvent: "health",
}


@dataclasses.dataclass(frozen=True, slots=True)
class CounterRecord:
    """A named counter reported by a stateful step at the end of a run."""

    step: str
    key: str
    name: str
    value: int


TABLES[CounterRecord] = "counters"
TABLES[OrderRecord] = "orders"


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
        else:
            row[f.name] = v
    return row


class _JournalPartition(StatelessSinkPartition[Any]):
    def __init__(self, root: Path, worker: int, flush_rows: int) -> None:
        self._root = root
        self._worker = worker
        self._flush_rows = flush_rows
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._parts: dict[str, int] = {}

    def write_batch(self, items: list[Any]) -> None:
        for item in items:
            name = TABLES.get(type(item))
            if name is None:
                continue
            rows = self._rows.setdefault(name, [])
            rows.append(flatten(item))
            if len(rows) >= self._flush_rows:
                self._flush(name)

    def _flush(self, name: str) -> None:
        rows = self._rows.get(name)
        if not rows:
            return
        part = self._parts.get(name, 0)
        self._parts[name] = part + 1
        folder = self._root / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / f"w{self._worker}-{part:05d}.parquet")
        self._rows[name] = []

    def close(self) -> None:
        for name in list(self._rows):
            self._flush(name)


class JournalSink(DynamicSink[Any]):
    """Write journal records under `root/<table>/w<worker>-<part>.parquet`."""

    def __init__(self, root: str | Path, flush_rows: int = 50_000) -> None:
        self.root = Path(root)
        self.flush_rows = flush_rows

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _JournalPartition:
        """One partition per worker; each writes its own part files."""
        self.root.mkdir(parents=True, exist_ok=True)
        return _JournalPartition(self.root, worker_index, self.flush_rows)


def read_table(root: str | Path, name: str) -> pa.Table | None:
    """Read one journal table (all parts), or None if the run wrote none of it."""
    folder = Path(root) / name
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def clear_journal(root: str | Path) -> None:
    """Remove a previous run's tables so a new run never mixes with it."""
    r = Path(root)
    for name in set(TABLES.values()):
        folder = r / name
        if folder.is_dir():
            for f in folder.glob("*.parquet"):
                f.unlink()
