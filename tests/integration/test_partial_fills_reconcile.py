"""Partial fills (an IOC's `partial` + its expired `cancelled` remainder) keep every journal
reader's money equal: the summary, the outcomes table, the HTML report's arbs and a plain sum
over the fill rows, on the 7-venue sample (4 IOC legs end partial there). The dashboard counts
the same arbs; its PnL values gas on an opportunity's latest update row rather than its signal
row (as on main before partial fills), which this sample's updates make differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from bytewax.testing import run_main

from cli.dash.state import DashFold
from cli.dash.tail import JournalTail
from config import load_settings
from connectors.journal import read_rows, run_dir
from flows.replay import build_flow
from replay.figures import arbs_of
from replay.money import fill_cash, gas_quote, moved
from replay.outcomes import outcomes
from replay.report import Summary, summarize
from sim.market import write_market_capture
from sim.simulate import SAMPLE_MARKETS_ALL
from tests.integration.test_replay_all_venues import CFG, RISK_ENV


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    tmp = tmp_path_factory.mktemp("partial")
    capture = tmp / "all.parquet"
    write_market_capture(capture, CFG)
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env=RISK_ENV)
    run_main(build_flow(settings, [capture], tmp / "j", batch_size=1000))  # type: ignore[no-untyped-call]
    return tmp / "j", summarize(tmp / "j", settings)


def test_every_reader_counts_the_same_money_with_partial_fills(
    run: tuple[Path, Summary],
) -> None:
    journal, s = run
    fills = read_rows(journal, "fills")
    opps = [o for o in read_rows(journal, "opportunities") if o["update_seq"] == 0]
    assert sum(f["status"] == "partial" for f in fills) == 6
    # by hand: every row that moved money, minus the gas of each opportunity that traded
    traded = {f["opportunity_id"] for f in fills if moved(f)}
    by_hand = sum(fill_cash(f) for f in fills if moved(f)) - sum(
        gas_quote(o) for o in opps if o["opportunity_id"] in traded
    )
    assert s.pnl_by_pair["SOL/USDC"] == by_hand
    assert sum(o.net_quote or 0 for o in outcomes(journal)) == by_hand
    assert all(o.net_quote is not None for o in outcomes(journal) if o.kind != "no fill")
    arbs = arbs_of(opps, read_rows(journal, "decisions"), fills)
    assert sum(a.net_quote or 0 for a in arbs) == by_hand
    fold = DashFold()
    for table, rows in JournalTail(run_dir(journal)).poll().rows.items():
        fold.add(table, rows)
    (p,) = fold.state().pairs
    assert p.completed == s.arbs_completed
    # a leg is its intent: a partial and its expired remainder are one filled leg
    assert (s.legs_filled, s.legs_rejected, s.flattening_filled) == (72, 18, 21)
    assert (s.arbs_completed, s.arbs_one_legged) == (27, 18)
