"""A small replayed journal for the dashboard tests (the capture of `test_replay_graph.py`)."""

from __future__ import annotations

from pathlib import Path

from bytewax.testing import run_main

from config import Settings, load_settings
from flows.replay import build_flow
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

# 60 s of market: a +70 bps jump (DEX cheap), a +12 bps wiggle (under the trigger), a -80 bps
# jump (DEX rich): two signals, both filled.
CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
RUN_ID = "dash-run"


def sample_settings(flush_rows: int = 1000) -> Settings:
    """The sample's markets; `flush_rows` 1 writes a part file per row and table."""
    env = {"SOLARB__ENGINE__JOURNAL_FLUSH_ROWS": str(flush_rows)}
    return load_settings(markets_path=SAMPLE_MARKETS, env=env)


def replay_journal(folder: Path, flush_rows: int = 1000, batch_size: int = 1000) -> Path:
    """Generate the capture, replay it into `folder/journal`, return the journal folder.

    `flush_rows` 1 with `batch_size` 1 writes a part file per row, as a slow live run would."""
    capture = folder / "session.parquet"
    write_capture(capture, CFG)
    journal = folder / "journal"
    settings = sample_settings(flush_rows)
    run_main(build_flow(settings, [capture], journal, batch_size=batch_size, run_id=RUN_ID))
    return journal
