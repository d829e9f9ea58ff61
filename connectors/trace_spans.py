"""Journal records -> trace spans, with deterministic ids and the events' own timestamps.

One trace per opportunity, one per traced health event. Every span is computed from one record
alone: its trace id and span id, and its parent's span id, are hashes of the record's identity,
so records may reach the tracer in any order, on any worker, and a replay of the same capture
gives the same ids. The span tree (docs/observability.md):

    frame.received            root: the trigger frame, venue event time -> local receive time
    ├─ view.updated           receive -> detect (the pair engine saw the new view)
    │  └─ opportunity         detect (update_seq 0)
    │     └─ risk.decision    the guard's verdict
    │        ├─ order.intent  one per leg (buy, sell)
    │        │  └─ fill       the leg's execution report (paper fill today)
    │        └─ order.intent
    │           └─ fill
    └─ opportunity.update     each debounced update of the signal (update_seq >= 1)
       └─ risk.decision

    health.<status>           a trace of its own per resync / bad account / bad frame / kill
    └─ kill.effect            (a guard kill) one per pair: what its execution step flattened

Parents are found by what a child record carries: a decision's `ts_recv_ns` is the detect time
of the opportunity (or update) it judged, an intent's `ts_intent_ns` the decision's, and a fill's
`ts_recv_ns` its intent's. Pure: no OpenTelemetry import, no clock, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from connectors.journal import row_id
from connectors.redact import redact_text
from operators.events import ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.risk import KILL_SOURCE, KillEffect, RiskDecision

AttrValue = str | bool | int | float
ERROR_FILL_STATUSES = frozenset({"rejected", "cancelled"})
ERROR_HEALTH_STATUSES = frozenset({"bad_account", "bad_frame", "kill"})


@dataclass(frozen=True, slots=True)
class SpanSpec:
    """One finished span: ids (ints as OTLP carries them), name, times (ns), attributes."""

    trace_id: int
    span_id: int
    parent_span_id: int | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue]
    error: str | None = None
    """Status description when the span records a failure (a rejected fill, a bad account)."""


def trace_id_of(scope: str, key: str) -> int:
    """128-bit trace id of `key` (an opportunity id or a health row id) within `scope`."""
    v = int.from_bytes(hashlib.blake2b(f"{scope}\x00{key}".encode(), digest_size=16).digest())
    return v or 1  # the all-zero id is invalid in OTLP


def span_id_of(*parts: object) -> int:
    """64-bit span id of a span's identity parts."""
    text = "\x00".join(str(p) for p in parts)
    v = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())
    return v or 1


def _venue(market_id: str) -> str:
    # market ids are `<venue>:<market>`; the venue is the part a dashboard groups by
    return market_id.split(":", 1)[0]


def _opp_attrs(o: Opportunity) -> dict[str, AttrValue]:
    c = o.costs
    attrs: dict[str, AttrValue] = {
        "solarb.opportunity_id": o.opportunity_id,
        "solarb.pair": o.pair,
        "solarb.direction": o.direction,
        "solarb.update_seq": o.update_seq,
        "solarb.buy.market": o.buy_venue,
        "solarb.buy.venue": _venue(o.buy_venue),
        "solarb.sell.market": o.sell_venue,
        "solarb.sell.venue": _venue(o.sell_venue),
        "solarb.size_base": o.size_base,
        "solarb.buy_quote": o.buy_quote,
        "solarb.sell_quote": o.sell_quote,
        "solarb.spread_bps": o.spread_bps,
        "solarb.net_bps": o.net_bps,
        "solarb.threshold_bps": o.threshold_bps,
        "solarb.marginal_bps": o.marginal_bps,
        "solarb.cost.total_bps": c.total_bps,
        "solarb.cost.fees_cex_bps": c.fees_cex_bps,
        "solarb.cost.fees_dex_bps": c.fees_dex_bps,
        "solarb.cost.gas_bps": c.gas_bps,
        "solarb.cost.slippage_bps": c.slippage_bps,
        "solarb.cost.hedge_bps": c.hedge_bps,
        "solarb.cost.safety_margin_bps": c.safety_margin_bps,
        "solarb.expected_pnl_quote": o.expected_pnl_quote,
        "solarb.priority_fee_micro_lamports_per_cu": o.cu_price_micro_lamports,
        "solarb.ts_detect_ns": o.ts_detect_ns,
    }
    if o.stale_venues:
        attrs["solarb.stale_venues"] = ",".join(o.stale_venues)
    return attrs


def _frame_start(o: Opportunity) -> int:
    # venue time when known and not ahead of our receive time (clock skew), else receive time
    return o.ts_event_ns if 0 < o.ts_event_ns <= o.ts_recv_ns else o.ts_recv_ns


def opportunity_spans(o: Opportunity, scope: str) -> list[SpanSpec]:
    """The signal's frame, view and opportunity spans; an update's one span."""
    tid = trace_id_of(scope, o.opportunity_id)
    key = o.opportunity_id
    root = span_id_of(key, "root")
    opp_id = span_id_of(key, "opp", o.ts_detect_ns)
    attrs = _opp_attrs(o)
    if o.update_seq != 0:
        return [
            SpanSpec(tid, opp_id, root, "opportunity.update", o.ts_recv_ns, o.ts_detect_ns, attrs)
        ]
    view_id = span_id_of(key, "view", o.ts_detect_ns)
    frame_attrs: dict[str, AttrValue] = {
        "solarb.opportunity_id": key,
        "solarb.pair": o.pair,
        "solarb.ts_event_ns": o.ts_event_ns,
        "solarb.ts_recv_ns": o.ts_recv_ns,
        "solarb.latency.feed_ns": o.ts_recv_ns - _frame_start(o),
    }
    view_attrs: dict[str, AttrValue] = {"solarb.opportunity_id": key, "solarb.pair": o.pair}
    if o.ts_ingest_ns and o.ts_detect_wall_ns:
        # measured on the engine's monotonic clock (not reproducible in a replay): an attribute,
        # never a span time, so a replay's span times stay the recorded ones
        view_attrs["solarb.latency.tick_to_opportunity_ns"] = o.ts_detect_wall_ns - o.ts_ingest_ns
    return [
        SpanSpec(tid, root, None, "frame.received", _frame_start(o), o.ts_recv_ns, frame_attrs),
        SpanSpec(tid, view_id, root, "view.updated", o.ts_recv_ns, o.ts_detect_ns, view_attrs),
        SpanSpec(tid, opp_id, view_id, "opportunity", o.ts_detect_ns, o.ts_detect_ns, attrs),
    ]


def decision_span(d: RiskDecision, scope: str) -> SpanSpec:
    """The guard's verdict, a child of the opportunity (or update) detected at `ts_recv_ns`."""
    key = d.opportunity_id
    attrs: dict[str, AttrValue] = {
        "solarb.opportunity_id": key,
        "solarb.pair": d.pair,
        "solarb.accepted": d.accepted,
        "solarb.rail": d.rail,
    }
    if d.reason:
        attrs["solarb.reason"] = redact_text(d.reason)
    return SpanSpec(
        trace_id_of(scope, key),
        span_id_of(key, "decision", d.ts_recv_ns),
        span_id_of(key, "opp", d.ts_recv_ns),
        "risk.decision",
        d.ts_recv_ns,
        d.ts_recv_ns,
        attrs,
    )


def intent_span(i: OrderIntent, scope: str) -> SpanSpec:
    """One leg the guard let through, a child of its decision."""
    key = i.opportunity_id
    attrs: dict[str, AttrValue] = {
        "solarb.opportunity_id": key,
        "solarb.pair": i.pair,
        "solarb.intent_id": i.intent_id,
        "solarb.venue": _venue(i.venue),
        "solarb.market": i.market_id,
        "solarb.side": i.side,
        "solarb.size_base": i.size_base,
        "solarb.limit_quote": i.limit_quote,
        "solarb.ts_intent_ns": i.ts_intent_ns,
    }
    return SpanSpec(
        trace_id_of(scope, key),
        span_id_of(i.intent_id, "intent", i.ts_recv_ns),
        span_id_of(key, "decision", i.ts_intent_ns),
        f"order.intent {i.side}",
        i.ts_intent_ns,
        i.ts_intent_ns,
        attrs,
    )


def fill_span(f: ExecutionReport, scope: str) -> SpanSpec:
    """A leg's execution report, a child of its intent; rejected or cancelled is an error."""
    key = f.opportunity_id
    attrs: dict[str, AttrValue] = {
        "solarb.opportunity_id": key,
        "solarb.intent_id": f.intent_id,
        "solarb.venue": _venue(f.venue),
        "solarb.market": f.venue,
        "solarb.side": f.side,
        "solarb.status": f.status,
        "solarb.filled_base": f.filled_base,
        "solarb.quote_amount": f.quote_amount,
        "solarb.fee_quote": f.fee_quote,
        "solarb.ts_fill_ns": f.ts_fill_ns,
        "solarb.latency.recv_to_fill_ns": f.ts_fill_ns - f.ts_recv_ns,
    }
    reason = redact_text(f.reason) if f.reason else ""
    if reason:
        attrs["solarb.reason"] = reason
    return SpanSpec(
        trace_id_of(scope, key),
        span_id_of(f.intent_id, "fill", f.ts_recv_ns, f.ts_fill_ns, f.status),
        span_id_of(f.intent_id, "intent", f.ts_recv_ns),
        "fill",
        f.ts_fill_ns,
        f.ts_fill_ns,
        attrs,
        error=(reason or f.status) if f.status in ERROR_FILL_STATUSES else None,
    )


def health_span(h: HealthEvent, scope: str) -> SpanSpec:
    """A health event's own one-span trace; its detail is redacted (it may quote a URL)."""
    key = row_id(h)
    start = h.ts_event_ns if 0 < h.ts_event_ns <= h.ts_recv_ns else h.ts_recv_ns
    detail = redact_text(h.detail)
    attrs: dict[str, AttrValue] = {
        "solarb.source": h.source,
        "solarb.venue": _venue(h.source),
        "solarb.status": h.status,
        "solarb.detail": detail,
        "solarb.value": h.value,
        "solarb.ts_recv_ns": h.ts_recv_ns,
    }
    return SpanSpec(
        trace_id_of(scope, key),
        span_id_of(key, "health"),
        None,
        f"health.{h.status}",
        start,
        h.ts_recv_ns,
        attrs,
        error=(detail or h.status) if h.status in ERROR_HEALTH_STATUSES else None,
    )


def kill_effect_span(e: KillEffect, scope: str) -> SpanSpec:
    """One pair's answer to a guard kill, a child of the guard's `health.kill` span (the
    `risk:kill_switch` `kill` event the guard emitted with the same reason at `tripped_ns`)."""
    key = row_id(HealthEvent(KILL_SOURCE, "kill", e.reason, e.tripped_ns, e.tripped_ns))
    attrs: dict[str, AttrValue] = {
        "solarb.pair": e.scope,
        "solarb.cause": e.cause,
        "solarb.open_legs": e.open_legs,
        "solarb.dropped": e.dropped,
        "solarb.cancelled": e.cancelled,
        "solarb.hedged": e.hedged,
        "solarb.unwound": e.unwound,
        "solarb.detail": redact_text(e.detail),
    }
    return SpanSpec(
        trace_id_of(scope, key),
        span_id_of(key, "effect", e.scope),
        span_id_of(key, "health"),
        "kill.effect",
        e.tripped_ns,
        e.tripped_ns,
        attrs,
    )


def spans_of(record: object, scope: str, health_statuses: Collection[str]) -> list[SpanSpec]:
    """Every span `record` contributes ([] for records that are not traced)."""
    if isinstance(record, Opportunity):
        return opportunity_spans(record, scope)
    if isinstance(record, RiskDecision):
        return [decision_span(record, scope)]
    if isinstance(record, OrderIntent):
        return [intent_span(record, scope)]
    if isinstance(record, ExecutionReport):
        return [fill_span(record, scope)]
    if isinstance(record, HealthEvent) and record.status in health_statuses:
        return [health_span(record, scope)]
    if isinstance(record, KillEffect) and "kill" in health_statuses:
        return [kill_effect_span(record, scope)]
    return []
