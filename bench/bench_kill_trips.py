"""Kill switch trips: fault -> trip on loopback at the default config, per trip cause.

Each fault of `sim/fault_trips.FAULTS` is injected into a fresh paper run on loopback several
times; the figure is `tripped_ns` of the first `kills` row minus the injection's wall time.
Writes bench/results/kill_trips.json and prints the README table (`python -m bench kill_trips`).
Targets: 1.5 s for a feed fault, 200 ms for the rest.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sim.fault_trips import FAULTS, Trip, markdown, measure, summary

RUNS = 3
OUT = Path(__file__).resolve().parent / "results" / "kill_trips.json"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure every fault `RUNS` times (once with `quick`); the bench harness's rows."""
    runs = 1 if quick else RUNS
    trips: dict[str, list[Trip]] = {}
    for name, fault in FAULTS.items():
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as d:
                trips.setdefault(name, []).append(measure(fault, Path(d)))
    rows = summary(trips)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "reasons": {
        n: [t.reason for t in ts] for n, ts in trips.items()}}, indent=1))
    print(markdown(rows))
    return [
        {"name": f"kill trip {r['fault']} p50", "value": r["p50_ms"], "unit": "ms",
         "target": f"< {r['target_ms']} (max {r['max_ms']})"}
        for r in rows
    ]
