"""The journal as data: DuckDB reads every table of a replay, and its counts equal the report's."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from bytewax.testing import run_main

from cli.main import main
from config import load_settings
from connectors.journal import TABLES
from connectors.journal_export import table_names
from flows.replay import build_flow
from replay.figures import arbs_of
from replay.report import Summary, summarize
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    tmp = tmp_path_factory.mktemp("duck")
    capture = tmp / "session.parquet"
    write_capture(capture, CFG)
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    run_main(build_flow(settings, [capture], tmp / "j", batch_size=1, run_id="r1"))
    return tmp / "j" / "r1", summarize(tmp / "j", settings)


def _q(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def test_duckdb_reads_every_journal_table_with_unique_row_ids(
    run: tuple[Path, Summary],
) -> None:
    root, _ = run
    names = table_names(root)
    # a replay journals every kind it has records of (no orders: execution is paper)
    assert names == ["counters", "decisions", "fills", "health", "intents", "legs", "opportunities"]
    assert set(names) <= set(TABLES.values())
    for name in names:
        ((rows, ids),) = _q(
            f"SELECT count(*), count(DISTINCT row_id) FROM read_parquet('{root / name}/*.parquet')"
        )
        assert rows == ids > 0, name


def test_duckdb_counts_reconcile_with_the_report(run: tuple[Path, Summary]) -> None:
    root, s = run
    opp = f"read_parquet('{root}/opportunities/*.parquet')"
    dec = f"read_parquet('{root}/decisions/*.parquet')"
    fills = f"read_parquet('{root}/fills/*.parquet')"
    counters = f"read_parquet('{root}/counters/*.parquet')"
    assert _q(
        f"SELECT count(*) FILTER (update_seq = 0), count(*) FILTER (update_seq > 0) FROM {opp}"
    ) == [(s.signals, s.signal_updates)]
    assert (s.signals, s.signal_updates) == (2, 4)
    assert _q(f"SELECT count(*) FILTER (accepted) FROM {dec}") == [(s.accepted,)] == [(2,)]
    assert _q(f"SELECT count(*) FILTER (status = 'filled') FROM {fills}") == [(s.legs_filled,)]
    assert _q(
        f"SELECT sum(value) FROM {counters} WHERE step = 'market_state' AND name = 'frames'"
    ) == [(s.frames,)]
    # completed arbs and their net, after fees and gas as the journal has them, in µUSDC
    ((done, net),) = _q(
        f"""
        WITH legs AS (
          SELECT opportunity_id,
                 sum(CASE WHEN side = 'sell' THEN quote_amount - fee_quote
                          ELSE -(quote_amount + fee_quote) END) AS net_ex_gas,
                 count(*) FILTER (status = 'filled') AS filled
          FROM {fills} GROUP BY opportunity_id)
        SELECT count(*), sum(net_ex_gas - round(o.cost_gas_bps * o.buy_quote / 1e4))::BIGINT
        FROM legs JOIN {opp} o USING (opportunity_id)
        WHERE o.update_seq = 0 AND filled = 2
        """
    )
    assert (done, net) == (s.arbs_completed, s.pnl_quote) == (2, 23_149_619 + 26_367_985)


def test_report_arbs_equal_the_sql_view_of_the_journal(run: tuple[Path, Summary]) -> None:
    root, s = run
    rel = {
        name: duckdb.sql(f"SELECT * FROM read_parquet('{root / name}/*.parquet')")
        for name in ("opportunities", "decisions", "fills")
    }
    rows = {k: [dict(zip(v.columns, r)) for r in v.fetchall()] for k, v in rel.items()}
    arbs = arbs_of(rows["opportunities"], rows["decisions"], rows["fills"])
    assert [a.outcome for a in arbs] == ["completed", "completed"]
    assert sum(a.net_quote or 0 for a in arbs) == s.pnl_quote


def test_journal_export_writes_one_csv_per_table_with_every_row(
    run: tuple[Path, Summary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = run
    assert main(["journal", "export", "--csv", str(tmp_path / "csv"), "--journal", str(root)]) == 0
    out = tmp_path / "csv"
    assert sorted(p.name for p in out.iterdir()) == [
        f"{n}.csv"
        for n in ("counters", "decisions", "fills", "health", "intents", "legs", "opportunities")
    ]
    for name in table_names(root):
        assert _q(f"SELECT count(*) FROM read_csv('{out / name}.csv')") == _q(
            f"SELECT count(*) FROM read_parquet('{root / name}/*.parquet')"
        )
    assert "fills" in capsys.readouterr().out
