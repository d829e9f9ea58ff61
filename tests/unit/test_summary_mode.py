"""The console summary names whose fills it counts: the paper venue's or the live venues'."""

from __future__ import annotations

from dataclasses import replace

from replay.report import PairUnits, Summary, summary_lines


def _summary() -> Summary:
    return Summary(
        markets=["binance:SOLUSDC"], frames=10, frames_by_market={"binance:SOLUSDC": 10},
        signals=2, signal_updates=0, accepted=2, rejected_by_rail={}, legs_filled=3,
        legs_rejected=1, flattening_filled=1, arbs_completed=1, arbs_one_legged=1,
        pnl_by_pair={"SOL/USDC": 1_500_000}, notional_by_pair={"SOL/USDC": 300_000_000},
        pairs={"SOL/USDC": PairUnits("SOL", "USDC", 9, 6)},
    )  # fmt: skip


def test_paper_summary_says_paper_fills() -> None:
    [line] = [x for x in summary_lines(_summary()) if "legs filled" in x]
    assert line == ("paper fills    3 legs filled, 1 rejected, 1 unwinds/hedges; "
                    "1 arbs completed, 1 one-legged")  # fmt: skip


def test_live_summary_says_live_fills_never_paper() -> None:
    lines = summary_lines(replace(_summary(), mode="live"))
    [line] = [x for x in lines if "legs filled" in x]
    assert line.startswith("live fills     3 legs filled, 1 rejected")
    assert not any("paper" in x for x in lines)


def test_hedge_fees_get_their_own_line_in_human_units() -> None:
    s = replace(_summary(), hedge_fees_by_pair={"SOL/USDC": 2_235_001})
    [line] = [x for x in summary_lines(s) if x.startswith("hedge fees")]
    assert line.startswith("hedge fees     SOL/USDC: 2.235001 USDC (perp hedges and closes, in")
    assert "funding not modelled" in line
