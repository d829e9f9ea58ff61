"""Score a replay of a simulated session, one-legged outcomes included.

Every filled leg counts. A one-legged arb that the paper venue unwound (operators/legs.py) is
scored at its real unwind fill; one still open (no unwind filled) has its base closed at the
simulator's fair price when the leg filled (what an immediate hedge on the CEX gets), less the
CEX taker fee. That mark ignores the half spread and the book walk of the hedge, a fraction of
a bps at these sizes; docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.journal import read_rows, read_table, run_dir
from replay.money import fill_cash, gas_quote, is_flattening, moved
from sim.market import MarketTruth


@dataclass(frozen=True)
class SessionScore:
    """Outcomes of one replayed session; money in quote base units (USDC micro-units)."""

    completed: int
    one_legged: int
    losing: int
    """Completed arbs whose own net (legs, fees and gas) was negative."""
    pnl_completed_quote: int
    """Completed arbs: legs, fees and gas (as the run summary's net PnL)."""
    pnl_one_legged_quote: int
    """One-legged arbs: the filled leg's cash, its open base closed at the fair price less the
    hedge fee, and gas (a DEX transaction that fails on its limit still pays its fees)."""

    @property
    def pnl_quote(self) -> int:
        """Everything: completed arbs and one-legged outcomes closed at the mark."""
        return self.pnl_completed_quote + self.pnl_one_legged_quote


def score_session(
    journal: str | Path,
    truth: MarketTruth,
    *,
    base_decimals: int = 9,
    quote_decimals: int = 6,
    hedge_fee_bps: int = 10,
) -> SessionScore:
    """Score the fills of a replay journal against the session's fair price path."""
    root = run_dir(journal)
    rows = read_rows(root, "fills")
    o = read_table(root, "opportunities")
    gas = {
        r["opportunity_id"]: gas_quote(r)
        for r in ([] if o is None else o.to_pylist())
        if r["update_seq"] == 0
    }
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if moved(r):
            by_opp.setdefault(r["opportunity_id"], []).append(r)
    completed = one_legged = losing = 0
    pnl_done = pnl_one = 0
    for oid, fills in by_opp.items():
        cash = -gas.get(oid, 0) + sum(fill_cash(x) for x in fills)
        legs = [x for x in fills if not is_flattening(x)]
        if len({x["side"] for x in legs}) == 2:
            completed += 1
            losing += cash < 0
            pnl_done += cash
            continue
        one_legged += 1
        if len(fills) > len(legs):  # the paper venue unwound it: its real cost is in `cash`
            pnl_one += cash
            continue
        leg = legs[0]
        # the price is a float path in the simulator; the mark is made exact from here on
        mid = Decimal(repr(truth.mid_at(leg["ts_fill_ns"])))
        scale = Decimal(10) ** (quote_decimals - base_decimals)
        value = int(Decimal(leg["filled_base"]) * mid * scale)
        fee = -(-value * hedge_fee_bps // 10_000)  # rounded up: the fee is never understated
        # a buy left us long: we sell `value` back; a sell left us short: we buy it back
        pnl_one += cash + (value if leg["side"] == "buy" else -value) - fee
    return SessionScore(completed, one_legged, losing, pnl_done, pnl_one)
