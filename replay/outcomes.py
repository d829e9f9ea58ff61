"""Per-arb outcomes of a run: completed (winning or losing), one-legged, or both legs rejected.

The summary's net PnL adds up completed arbs; this table shows every accepted opportunity
beside it, so a losing arb or a leg the market took away is on the page, not averaged out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.journal import read_table, run_dir
from replay.money import fill_cash, gas_quote, is_flattening, moved


@dataclass(frozen=True, slots=True)
class Outcome:
    """One opportunity's fills; money in the pair's quote base units."""

    opportunity_id: str
    pair: str
    kind: str
    """`won`, `lost` (completed, net < 0), `one-legged` or `no fill`."""
    net_quote: int | None
    """Legs, unwinds, fees and gas; None for a one-legged arb still open (not valued here)."""
    open_side: str
    """One-legged: the side that filled (its base is left open), else ''."""
    reasons: str
    """Why legs were rejected, joined."""


def outcomes(journal: str | Path) -> list[Outcome]:
    """Every opportunity that has fills, in detection order."""
    root = run_dir(journal)
    ft = read_table(root, "fills")
    ot = read_table(root, "opportunities")
    fills: list[dict[str, Any]] = [] if ft is None else ft.to_pylist()
    opps = {
        o["opportunity_id"]: o
        for o in ([] if ot is None else ot.to_pylist())
        if o["update_seq"] == 0
    }
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for f in fills:
        by_opp.setdefault(f["opportunity_id"], []).append(f)
    out = []
    order = sorted(by_opp, key=lambda oid: (opps[oid]["ts_detect_ns"] if oid in opps else 0, oid))
    for oid in order:
        every = by_opp[oid]
        legs = [x for x in every if not is_flattening(x)]
        flat = [x for x in every if x not in legs and moved(x)]
        o = opps.get(oid)
        ok = [x for x in legs if moved(x)]
        reasons = "; ".join(f"{x['side']}: {x['reason']}" for x in legs if not moved(x))
        pair = "" if o is None else o["pair"]
        gas = 0 if o is None else gas_quote(o)
        net = -gas + sum(fill_cash(x) for x in ok + flat)
        if len({x["side"] for x in ok}) == 2 and o is not None:
            out.append(Outcome(oid, pair, "won" if net >= 0 else "lost", net, "", reasons))
        elif ok:
            # unwound: its real round trip is the net; still open: no value put on it here
            side = f"{ok[0]['side']}, unwound" if flat else ok[0]["side"]
            out.append(Outcome(oid, pair, "one-legged", net if flat else None, side, reasons))
        else:
            out.append(Outcome(oid, pair, "no fill", None, "", reasons))
    return out


def outcome_table(journal: str | Path, units: dict[str, Any]) -> list[str]:
    """Markdown lines of the outcomes table (none when nothing was traded)."""
    rows = outcomes(journal)
    if not rows:
        return []
    lines = [
        "## Outcomes",
        "",
        "| id | outcome | net | open leg | rejected legs |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        u = units.get(r.pair)
        if r.net_quote is None or u is None:
            net = "-"
        else:
            q, d = abs(r.net_quote), u.quote_decimals
            net = f"{'-' if r.net_quote < 0 else ''}{q // 10**d}.{q % 10**d:0{d}d} {u.quote}"
        oid = r.opportunity_id.replace("|", "\\|")
        reasons = r.reasons.replace("|", "\\|") or "-"
        lines.append(f"| {oid} | {r.kind} | {net} | {r.open_side or '-'} | {reasons} |")
    return [*lines, ""]
