"""The one graph builder every flow uses: raw frames in, journal records out.

    raw frames ─► route ─► market_state (keyed per market: L2 book | CLMM pool) ─► venue views
    venue views ─► pair_engine (keyed per pair: net-of-fee spread at size) ─► opportunities
    opportunities + health ─► risk_guard (one key: caps, exposure, kill switch) ─► intents
    intents + venue views ─► execution venue (paper here; keyed per pair) ─► execution reports
    guard's kills (live/paper) ─► every pair's execution step ─► flatten open legs, kill_effects
    every stage ─► journal

Live, paper and replay differ only in the source they pass in and the journal/execution sinks.
Live trading passes `live_exec` (the execution source, connectors/execution.py): intents,
opportunities, the pair's CEX book views (slice sizing, `[execution] slice_by_depth`) and its
reports meet in `LiveExecStep` (engine/exec_step.py) instead of the paper venue, and
`GraphOutputs.orders` carries its orders to the execution sink. Its reports also reach the pair
steps (the estimators learn: operators/learning.py) and the risk guard (exposure, open legs and
daily loss from fills: operators/guard_book.py), upstream of execution and with no cycle, since
they come from an input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from config import Settings
from connectors import venues
from connectors.execution import ExecClock, ExecOrder
from connectors.solana.sources import FEED_SOURCE
from engine.exec_step import LiveExecStep
from engine.router import Router
from engine.steps import (
    FEED_HEALTH,
    FILL_REPORTS,
    RISK_KEY,
    UNROUTED,
    VIEW_TYPES,
    PairControl,
    PairKill,
    PairReport,
    PairStep,
    PaperStep,
    RiskStep,
    UnroutedStep,
    stateful,
)
from operators.events import ExecutionReport, HealthEvent, Opportunity, OrderIntent, RawFrame
from operators.risk import MANUAL_SOURCE, KillRecord
from operators.views import CexBookView


@dataclass(frozen=True)
class GraphOutputs:
    """Streams a flow may send to sinks: everything for the journal, and the intents alone."""

    journal: Stream[Any]
    intents: Stream[OrderIntent]
    opportunities: Stream[Opportunity]
    orders: Stream[Any] | None = None
    """Live trading only: the `ExecOrder`s for the execution sink."""


def build_graph(
    flow: Dataflow,
    raw: Stream[RawFrame],
    settings: Settings,
    health: Stream[HealthEvent] | None = None,
    paper: bool = True,
    prewarm_dex_curves: bool = True,
    live_exec: Stream[tuple[str, Any]] | None = None,
    epoch_ids: bool | None = None,
    snapshots: bool = True,
    pair_keys: Mapping[str, str] | None = None,
) -> GraphOutputs:
    """Wire the shared graph onto `raw`; return the streams for the flow's sinks.

    `prewarm_dex_curves=False` is the replay's throughput mode (batches of many frames): the
    spread engine prices DEX curves only when a candidate needs them, not on every quiet DEX
    view (`PairEngine._prewarm`, a latency measure). Decisions are the same either way.

    `epoch_ids` (default: when trading live) puts the process's epoch in opportunity ids
    (`PairEngine.id_epoch`); a replay of a live session's capture passes it too, so its ids are
    the session's.

    `snapshots=False` is for a run without recovery: the stateful steps then pickle nothing at
    an epoch end (`engine.steps.NO_SNAPSHOT`), since nothing would read it.

    `pair_keys`: the key each pair's keyed steps run under (absent: its name), so a replay on
    several workers runs a pair where its partition is read (`router.replay_partitioning`).
    """
    keys = dict(pair_keys or {})

    def key(pair: str) -> str:
        return keys.get(pair, pair)

    if epoch_ids is None:
        epoch_ids = live_exec is not None
    router = Router(settings)
    # (kind, source, stream) -> (route key, market id or source, pair): the route of a frame
    # depends on these three alone, and a capture has a few dozen streams (bounded all the same)
    routes: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    def route(f: RawFrame) -> tuple[str, tuple[str, RawFrame, str]]:
        found = routes.get((f.kind, f.source, f.stream))
        if found is None:
            mid = router.market_of(f)
            if mid is None:
                found = (UNROUTED, f.source, "")
            else:
                pair = router.pair_of(mid)
                found = (key(pair), mid, pair)
            if len(routes) < MAX_ROUTES:
                routes[(f.kind, f.source, f.stream)] = found
        return found[0], (found[1], f, found[2])

    routed = op.branch("routed", op.map("route", raw, route), lambda kv: kv[0] != UNROUTED)
    keyed = routed.trues
    # frames of no configured market are counted per source (journal counters), not lost silently
    unrouted = op.key_rm(
        "unrouted_counts",
        stateful(
            "unrouted",
            op.key_on("unrouted_by_source", routed.falses, lambda kv: kv[1][0]),
            lambda item: UnroutedStep(item[1][0]),
            snapshots,
        ),
    )
    if health is not None:
        pairs = [p.name for p in settings.pairs]

        def to_pairs(ev: HealthEvent) -> list[tuple[str, tuple[str, HealthEvent, str]]]:
            wanted = ev.source == FEED_SOURCE or venues.is_cex(ev.source)
            return [(key(p), (FEED_HEALTH, ev, p)) for p in pairs] if wanted else []

        keyed = op.merge("pair_in", keyed, op.flat_map("feed_health_to_pairs", health, to_pairs))
    learn = live_exec is not None
    reports_in: Stream[tuple[str, ExecutionReport]] | None = None
    if live_exec is not None:
        # live trading: the venues' reports come from an input of their own, so they can reach
        # the pair engine's estimators and the guard's book upstream of execution, no cycle
        reports_in = op.filter_map("exec_reports_upstream", live_exec, _report_of)
        to_pair = op.map(
            "reports_to_pairs", reports_in, lambda kv: (key(kv[0]), (FILL_REPORTS, kv[1], kv[0]))
        )
        keyed = op.merge("pair_in_reports", keyed, to_pair)
    pair_out = stateful(
        "pair_state",
        keyed,
        lambda item: PairStep(
            settings, router, item[2], prewarm_dex_curves, epoch_ids=epoch_ids, learn=learn
        ),
        snapshots,
    )
    items = op.key_rm("pair_items", pair_out)
    split = op.branch("views_or_other", items, lambda x: isinstance(x, VIEW_TYPES))
    views = op.key_on("views_by_pair", split.trues, lambda v: key(v.pair))
    opp_split = op.branch("opps", split.falses, lambda x: isinstance(x, Opportunity))
    opps = opp_split.trues
    health_local = op.filter(
        "health_events", opp_split.falses, lambda x: isinstance(x, HealthEvent)
    )
    risk_in_streams: list[Stream[Any]] = [opps, health_local]
    if health is not None:
        risk_in_streams.append(health)
    if reports_in is not None:
        risk_in_streams.append(
            op.map("reports_to_guard", reports_in, lambda kv: PairReport(kv[0], kv[1]))
        )
    risk_in = op.key_on("risk_key", op.merge("risk_in", *risk_in_streams), lambda _: RISK_KEY)
    risk_out = op.key_rm(
        "risk_items",
        stateful(
            "risk_guard", risk_in, lambda _x: RiskStep(settings, from_reports=learn), snapshots
        ),
    )
    intent_split = op.branch("intents", risk_out, lambda x: isinstance(x, OrderIntent))
    intents: Stream[OrderIntent] = intent_split.trues

    journal_parts = [opps, intent_split.trues, intent_split.falses, opp_split.falses, unrouted]
    if paper:
        intents_by_pair = op.key_on("intents_by_pair", intents, lambda i: key(i.pair))
        paper_streams: list[Stream[tuple[str, Any]]] = [views, intents_by_pair]
        if health is not None:
            # `solarb arm` reaches every pair's fill risk, and every trip of the guard (feed,
            # clock, slot lag, `solarb kill`) every pair's legs (replay has no control source
            # and no live feeds: its paper steps see neither, and stay deterministic)
            names = [p.name for p in settings.pairs]

            def to_paper(ev: HealthEvent) -> list[tuple[str, PairControl]]:
                if not is_arm(ev):
                    return []
                return [(key(p), PairControl(p, ev)) for p in names]

            def kill_to_paper(k: Any) -> list[tuple[str, PairKill]]:
                return [(key(p), PairKill(p, k)) for p in names] if is_guard_kill(k) else []

            paper_streams.append(op.flat_map("control_to_paper", health, to_paper))
            paper_streams.append(op.flat_map("kills_to_paper", intent_split.falses, kill_to_paper))
        paper_in = op.merge("paper_in", *paper_streams)
        fills = op.key_rm(
            "fills",
            stateful("paper_venue", paper_in, lambda x: PaperStep(settings, x.pair), snapshots),
        )
        journal_parts.append(fills)
    orders = None
    if live_exec is not None:
        exec_split = op.branch(
            "exec_reports_or_rows", live_exec, lambda kv: isinstance(kv[1], LIVE_STEP_ITEMS)
        )
        journal_parts.append(op.key_rm("exec_rows", exec_split.falses))
        # every value is (pair, item): the step is made from its first item, whatever it is
        reports = op.map("exec_by_pair", exec_split.trues, lambda kv: (key(kv[0]), kv))
        live_streams = [
            reports,
            op.map("live_intents_by_pair", intents, lambda i: (key(i.pair), (i.pair, i))),
            op.map("live_opps_by_pair", opps, lambda o: (key(o.pair), (o.pair, o))),
        ]
        if settings.execution.slice_by_depth:
            # the pair's CEX books: the depth at a leg's limit that sizes its slices
            cex_views = op.filter(
                "live_cex_views", views, lambda kv: isinstance(kv[1], CexBookView)
            )
            live_streams.append(op.map(
                "live_views_by_pair", cex_views, lambda kv: (kv[0], (kv[1].pair, kv[1]))
            ))
        if health is not None:
            # `solarb arm` reaches every pair's fill risk, the guard's trips its legs, as in paper
            pair_names = [p.name for p in settings.pairs]

            def to_live(ev: HealthEvent) -> list[tuple[str, tuple[str, PairControl]]]:
                if not is_arm(ev):
                    return []
                return [(key(p), (p, PairControl(p, ev))) for p in pair_names]

            def kill_to_live(k: Any) -> list[tuple[str, tuple[str, PairKill]]]:
                if not is_guard_kill(k):
                    return []
                return [(key(p), (p, PairKill(p, k))) for p in pair_names]

            live_streams.append(op.flat_map("control_to_live", health, to_live))
            live_streams.append(op.flat_map("kills_to_live", intent_split.falses, kill_to_live))
        live_in = op.merge("live_exec_in", *live_streams)
        live_out = op.key_rm(
            "live_exec_items",
            stateful("live_exec", live_in, lambda kv: LiveExecStep(settings, kv[0]), snapshots),
        )
        exec_out = op.branch("orders", live_out, lambda x: isinstance(x, ExecOrder))
        orders = exec_out.trues
        journal_parts.append(exec_out.falses)
    journal = op.merge("to_journal", *journal_parts)
    return GraphOutputs(journal=journal, intents=intents, opportunities=opps, orders=orders)


def is_arm(ev: HealthEvent) -> bool:
    """`solarb arm` (`control:manual` `rearm`): it clears the pairs' fill-risk kills. A `solarb
    kill` reaches the pairs through the guard's `KillRecord` instead (`is_guard_kill`)."""
    return ev.source == MANUAL_SOURCE and ev.status == "rearm"


def is_guard_kill(x: Any) -> bool:
    """A trip of the risk guard (scope empty: every pair), for every pair's execution step."""
    return isinstance(x, KillRecord) and not x.scope


def _report_of(kv: tuple[str, Any]) -> tuple[str, ExecutionReport] | None:
    """(pair, report) of an execution-source item that is a report (None: clock, rows)."""
    return (kv[0], kv[1]) if isinstance(kv[1], ExecutionReport) else None


MAX_ROUTES = 65_536
"""Streams whose route `build_graph` remembers (beyond: routed from config each time)."""

LIVE_STEP_ITEMS = (ExecutionReport, ExecClock)
"""Execution-source items the live step consumes (the rest are journal rows)."""
