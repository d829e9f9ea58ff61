"""A replay built without snapshots (`build_flow(snapshots=False)`: `solarb replay` without
`--recovery-dir`, calibration, benchmarks) journals what a replay with snapshots journals, and a
recovery store it was (wrongly) run with is refused at the resume, by name, never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from config import load_settings
from flows.replay import build_flow
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture
from tests.integration.test_recovery import journal_rows

CFG = SimConfig(duration_s=30, jumps=((20, 70),))


def test_a_replay_without_snapshots_journals_the_rows_of_a_replay_with_them(
    tmp_path: Path,
) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, CFG)
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [cap], tmp_path / "with", batch_size=50))
    run_main(build_flow(settings, [cap], tmp_path / "without", batch_size=50, snapshots=False))
    with_rows = journal_rows(tmp_path / "with")
    assert len(with_rows["decisions"]) == 3  # the jump is decided: the comparison has rows
    assert journal_rows(tmp_path / "without") == with_rows


def test_a_recovery_store_written_by_a_flow_without_snapshots_is_refused_at_resume(
    tmp_path: Path,
) -> None:
    cap = tmp_path / "c.parquet"
    write_capture(cap, CFG)
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)  # type: ignore[no-untyped-call]
    config = RecoveryConfig(str(recovery))  # type: ignore[no-untyped-call]
    flow = build_flow(settings, [cap], tmp_path / "j", snapshots=False)
    run_main(flow, recovery_config=config)  # type: ignore[no-untyped-call]
    again = build_flow(settings, [cap], tmp_path / "j", snapshots=False)
    with pytest.raises(Exception, match="built without snapshots") as err:
        run_main(again, recovery_config=config)  # type: ignore[no-untyped-call]
    assert "fresh --recovery-dir" in str(err.value)
