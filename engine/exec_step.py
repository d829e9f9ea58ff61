"""`LiveExecStep` (keyed per pair): the leg state machine of live trading, PaperStep's twin.

    intents (risk guard) ─┐
    opportunities ────────┼─► LiveExecStep ─► ExecOrder ─► execution sink (connectors/execution)
    reports / clock ◄─────┘        │
      (execution source)           └─► LegTransition, ExecutionReport ─► journal

The step hosts `operators.legs.LegMachine` exactly as `PaperStep` does, but the machine's
commands become `ExecOrder`s for the gateway instead of paper fills, and the venues' reports
come back through the execution source. Everything here is plain data (snapshot-able); time is
the reports' and clock items' `ts_recv_ns` (wall ns), never read here.

- An opportunity's CU price (its priority fee, `Opportunity.cu_price_micro_lamports`) is kept
  until its legs close, for the DEX legs' ComputeBudget instruction.
- Hedge / unwind orders are limit orders at the filled leg's price moved
  `dex_execution.unwind_slippage_bps` against us (a venue needs a limit; the paper venue's
  "any price" has no live equivalent).
- Fill risk (operators/fill_risk.py) sees every order sent and every report, as in
  `PaperStep`: a kill it trips is journaled (`kills`, a `risk:fill_risk` health event),
  flattens the open legs and refuses the pair's new opportunities until `solarb arm`
  (`PairControl`); a `solarb kill` flattens the open legs too.
- Slicing (issue 11): the step gets the pair's CEX book views too (engine/graph.py) and keeps
  the recent ones (`operators.depth.Slicer`, snapshot with the step); a CEX IOC leg deeper than
  the `[execution] slice_depth_quantile` of the depth its book held at the leg's limit goes out
  as slices (`operators/legs.py`), each with the client id of its slice number
  (`ids.client_order_id(..., slice_no=k)`). A step restored from a snapshot
  (`__setstate__`) probes each further CEX order first (`ExecOrder.query_first`): the venue is
  asked about its client id and the order is sent only if it is unknown there.
- `risk_hooks`: more callables `(ExecutionReport) -> list` run on every report, their output
  journaled (a place for per-report checks beyond the fill risk).
- A report that repeats one already counted (a query's answer arriving with or after the
  order's own final report: no more fill than counted, the order already ended) reaches
  neither the legs nor the fill risk nor the `fills` table: it is journaled as a `health` row
  (`source = exec:repeat`), so each order's fill is counted once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bytewax.operators as op

from config import Settings
from connectors import venues
from connectors.execution import (
    DEX_LEDGER,
    ExecClock,
    ExecOrder,
    ExecutionGateway,
    ExecutionSource,
    LegName,
)
from connectors.journal import CounterRecord
from engine.params import fill_risk_params, flatten_fx, hedge_markets
from engine.steps import (
    LegHost,
    PairControl,
    PairKill,
    depth_slicer,
    flatten_limit_quote,
    guard_kill,
)
from operators.errors import ExecutionError
from operators.events import ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.fill_risk import FillRisk, with_prediction
from operators.legs import (
    CLOSE_SUFFIX,
    FINAL,
    FLATTENING,
    HEDGE_SUFFIX,
    LATE_CLOSE_SUFFIX,
    UNWIND_SUFFIX,
    LegCommand,
    LegMachine,
    LegPolicy,
)
from operators.risk import KillRecord
from operators.views import CexBookView

REPEAT_SOURCE = "exec:repeat"
"""`HealthEvent.source` of a report that repeated one already counted (journaled, not counted)."""
MAX_REMEMBERED = 10_000
"""Opportunities whose CU price is kept (closed ones are dropped first; bounded either way)."""

FLATTEN_ATTEMPT = {HEDGE_SUFFIX: 0, UNWIND_SUFFIX: 1, CLOSE_SUFFIX: 2, LATE_CLOSE_SUFFIX: 3}
"""The client-id attempt of each flattening order of an opportunity (one of each, at most)."""

RiskHook = Callable[[ExecutionReport], list[Any]]


def pair_lot_base(settings: Settings, pair: str) -> int:
    """The coarsest CEX lot of the pair's markets in base units (1 when none is configured):
    net exposure under it cannot be traded away, so it counts as flat."""
    p = settings.pair(pair)
    lots = [
        int(m.lot_size.scaleb(p.base_decimals))
        for m in p.markets
        if venues.is_cex(m.venue) and m.lot_size is not None
    ]
    return max([1, *lots])


def dex_sent_timeout_ns(settings: Settings) -> int:
    """How long a sent DEX leg may stay unreported (ns): the sender's hard confirmation bound
    (`dex_execution.confirm_timeout_ms`, past the blockhash's ~60 s validity) plus its
    read-back of a landed transaction (up to ~4 re-broadcast periods), one period to spare."""
    d = settings.dex_execution
    return (d.confirm_timeout_ms + 5 * d.rebroadcast_ms) * 1_000_000


class LiveExecStep(LegHost):
    """The legs of one pair's accepted opportunities, sent live (see module doc)."""

    def __init__(self, settings: Settings, pair: str) -> None:
        p = settings.pair(pair)
        e = settings.engine
        self.pair = pair
        self.slicer = depth_slicer(settings, pair)
        self.legs = LegMachine(
            LegPolicy(
                order=e.leg_order,
                lot_base=pair_lot_base(settings, pair),
                dex_sent_timeout_ns=dex_sent_timeout_ns(settings),
            ),
            hedge_markets(p),
            self.slicer,
        )
        self.dex_markets = frozenset(m.market_id for m in p.markets if not venues.is_cex(m.venue))
        self.unwind_bps = settings.dex_execution.unwind_slippage_bps
        self.flatten_fx = flatten_fx(settings, pair)
        self.floor_cu_price = settings.gas.cu_price_floor_micro_lamports
        self.cu_price: OrderedDict[str, int] = OrderedDict()
        self.waiting: dict[str, OrderIntent] = {}
        self.intents: dict[str, OrderIntent] = {}
        self.risk = FillRisk(fill_risk_params(settings), self.dex_markets, scope=pair)
        self.guard_kill_ns = -1
        """`tripped_ns` of the guard's last kill (intents decided by then are refused)."""
        self.risk_hooks: list[RiskHook] = []
        """More per-report checks (beyond the fill risk): their output is journaled."""
        self.reported: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        """Intent id -> (largest cumulative fill reported, whether a final report came): what
        tells a repeated report from news (bounded, oldest orders forgotten first)."""
        self.counters: dict[str, int] = {"orders": 0, "reports": 0, "queries": 0,
                                         "cancels_moot": 0}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restored from a Bytewax snapshot: orders sent after it was taken are unknown here."""
        self.__dict__.update(state)
        self.legs.on_resume()

    def on_item(self, keyed: tuple[str, Any]) -> list[Any]:
        """One (pair, item): an intent, an opportunity, a report or a clock tick."""
        item = keyed[1]
        if isinstance(item, CexBookView):
            if self.slicer is not None:
                self.slicer.observe(item)
            return []
        if isinstance(item, OrderIntent):
            return self._on_intent(item)
        if isinstance(item, Opportunity):
            self._remember(item.opportunity_id, item.cu_price_micro_lamports)
            return []
        if isinstance(item, ExecutionReport):
            return self._on_report(item)
        if isinstance(item, PairControl):
            return self._on_control(item.event)
        if isinstance(item, PairKill):
            return self._on_guard_kill(item.record)
        if isinstance(item, ExecClock):
            cmds, moves = self.legs.on_tick(item.ts_recv_ns)
            return list(moves) + self._orders(cmds) + self._forget_closed()
        return []

    def on_eof(self) -> list[Any]:
        return [
            CounterRecord("live_exec", self.pair, k, v) for k, v in sorted(self.counters.items())
        ] + [CounterRecord("live_exec", self.pair, "open_at_end", len(self.legs.open))]

    # -- inputs -------------------------------------------------------------------------------

    def _remember(self, opportunity_id: str, cu_price: int) -> None:
        self.cu_price[opportunity_id] = cu_price
        while len(self.cu_price) > MAX_REMEMBERED:
            self.cu_price.popitem(last=False)

    def _dispatch(self, cmds: list[LegCommand]) -> list[Any]:
        return self._orders(cmds)

    def _repeats(self, r: ExecutionReport) -> bool:
        """Whether `r` says nothing its order's earlier reports did not (and remember it)."""
        filled, ended = self.reported.get(r.intent_id, (0, False))
        if (ended and r.filled_base <= filled) or 0 < r.filled_base <= filled:
            return True
        self.reported[r.intent_id] = (max(filled, r.filled_base), ended or r.status in FINAL)
        self.reported.move_to_end(r.intent_id)
        while len(self.reported) > MAX_REMEMBERED:
            self.reported.popitem(last=False)
        return False

    def _on_report(self, r: ExecutionReport) -> list[Any]:
        if self._repeats(r):
            self.counters["repeats"] = self.counters.get("repeats", 0) + 1
            said = f"{r.intent_id} {r.status} {r.filled_base} base ({r.reason or 'no reason'})"
            why = f"{self.pair}: {said} repeats a report already counted"
            return [HealthEvent(REPEAT_SOURCE, "repeat", why, r.ts_recv_ns, r.ts_recv_ns)]
        self.counters["reports"] += 1
        sent = self.risk.intents.get(r.intent_id)
        if sent is not None:  # the fill's decision-time price and slippage, as paper fills carry
            r = with_prediction(r, sent)
        out: list[Any] = [r]
        kills = self.risk.on_report(r)
        for hook in self.risk_hooks:
            out += hook(r)
        cmds, moves = self.legs.on_report(r)
        out += list(moves) + self._orders(cmds)
        if kills:
            out += self._on_kill(kills, r.ts_recv_ns)
        return out + self._forget_closed()

    def _cancel_note(self, on_wire: int) -> str:
        return f"{on_wire} order(s) on the wire: IOC / sent transactions, nothing rests"

    def _on_guard_kill(self, rec: KillRecord) -> list[Any]:
        """The guard tripped (feed, clock, slot lag, `solarb kill`): flatten the open legs."""
        self.guard_kill_ns = max(self.guard_kill_ns, rec.tripped_ns)
        note = "order(s) on the wire: IOC / sent transactions, nothing rests"
        effect, cmds, moves = guard_kill(self.pair, self.legs, rec, note)
        return [effect, *moves, *self._orders(cmds), *self._forget_closed()]

    def _forget_closed(self) -> list[Any]:
        open_ids = self.legs.open
        for iid in [k for k, i in self.intents.items() if i.opportunity_id not in open_ids]:
            del self.intents[iid]
        return []

    # -- commands -> orders -------------------------------------------------------------------

    def _orders(self, cmds: list[LegCommand]) -> list[Any]:
        out: list[Any] = []
        for c in cmds:
            if c.kind == "cancel":
                # an IOC order never rests and a sent transaction cannot be recalled: the leg's
                # report still comes, and the legs flatten what it filled
                self.counters["cancels_moot"] += 1
                continue
            cu = self.cu_price.get(c.opportunity_id, self.floor_cu_price)
            leg_name: LegName = "buy" if c.side == "buy" else "sell"
            if c.intent is not None and c.kind in ("send", "query"):
                # a slice: its own intent id and size, its own client id (slice number)
                order = ExecOrder(c.kind, c.intent, leg_name, 0, cu, c.slice_no, c.probe)
                if c.kind == "send":  # counted only when slicing happens
                    self.counters["slices"] = self.counters.get("slices", 0) + 1
            elif c.kind in ("send", "query") and not c.intent_id.endswith(FLATTENING):
                known = self.intents[c.intent_id]
                legs = self.legs.open.get(c.opportunity_id)
                intent = known
                if legs is not None:  # a twin cut to its first leg's fill: its scaled limit
                    leg = legs.buy if c.side == "buy" else legs.sell
                    intent = leg.intent
                order = ExecOrder(c.kind, intent, leg_name, 0, cu, query_first=c.probe)
            else:
                order = ExecOrder(
                    "query" if c.kind == "query" else c.kind,
                    self._flatten_intent(c),
                    "hedge",
                    FLATTEN_ATTEMPT[next(s for s in FLATTENING if c.intent_id.endswith(s))],
                    cu,
                )
            if order.kind == "query":
                self.counters["queries"] += 1
            else:
                self.counters["orders"] += 1
                self.risk.on_intent(order.intent)
            out.append(order)
        return out

    def _flatten_intent(self, c: LegCommand) -> OrderIntent:
        """A hedge / unwind as an intent: the filled leg's price, `unwind_bps` against us."""
        legs = self.legs.open.get(c.opportunity_id)
        if legs is None:
            raise ExecutionError(f"{c.opportunity_id}: no open legs to price a {c.kind}",
                                 retryable=False)  # fmt: skip
        # in the currency of the order's market, valued at its ratio (operators/legs.FlattenFx)
        fx = self.flatten_fx.terms(legs, c.market_id)[1]
        limit = flatten_limit_quote(legs, c.side, c.size_base, self.unwind_bps, fx)
        return self.flatten_fx.apply(legs, OrderIntent(
            c.intent_id, c.opportunity_id, c.venue, c.market_id, c.side, c.size_base,
            limit, c.ts_ns, c.ts_ns, c.ts_ns, self.pair,
        ))  # fmt: skip


def execution_input(
    flow: Any, settings: Settings, inp: Any, run_path: Path, gateway: ExecutionGateway | None
) -> tuple[Any, ExecutionGateway]:
    """The live execution source: `gateway` (started from the config's keys when None) reading
    and appending the run's DEX signature ledger (a resumed run reads its predecessor's), closed
    with the live inputs; returns the source stream and the gateway for the order sink."""
    gw = gateway or ExecutionGateway(settings).start()
    gw.use_ledger(run_path / DEX_LEDGER)
    inp.handles.closers.append(gw.close)
    return op.input("execution", flow, ExecutionSource(gw, inp.handles.feeds_over)), gw
