"""A replay exported over OTLP (gRPC and HTTP) to a local receiver: traces match the journal.

The capture is the generated 60 s session of test_replay_graph.py (two signals, both filled)
with two faults added near its end: a dropped Binance diff (a gap: resync) and an Orca account
of unknown kind (bad account). Each protocol's receiver decodes what the exporter sent; the test
checks one trace per opportunity and per fault, the documented span tree, the attributes, and
span times equal to the journal's event times.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors.capture import CaptureWriter, read_capture
from connectors.journal import read_rows
from connectors.otel import GRPC, HTTP, TraceConfig, capture_scope, trace_config
from connectors.trace_spans import trace_id_of
from flows.replay import build_flow
from operators.events import RawFrame
from sim.otlp_receiver import GrpcReceiver, HttpReceiver, Span
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL, SimConfig, write_capture

pytestmark = pytest.mark.timeout(120)

CFG = SimConfig(duration_s=60, jumps=((20, 70), (35, 12), (45, -80)))
TABLES = ("opportunities", "decisions", "intents", "fills", "health")
WALL_CLOCK = {"ts_ingest_ns", "ts_detect_wall_ns"}
SERVICE = "solarb-under-test"
STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cap")
    clean = folder / "clean.parquet"
    write_capture(clean, CFG)
    frames = list(read_capture(clean))
    start = frames[0].ts_recv_ns
    gap = next(
        i
        for i, f in enumerate(frames)
        if f.source == "binance" and f.kind == "ws" and f.ts_recv_ns - start > 55_000_000_000
    )
    del frames[gap]
    pool = f"{SAMPLE_POOL}:{SAMPLE_POOL}"
    frames.append(RawFrame(start + 57_000_000_000, "orca", pool, "account", b"\x01" * 40, 1))
    frames.sort(key=lambda f: f.ts_recv_ns)
    faulted = folder / "faulted.parquet"
    with CaptureWriter(faulted) as w:
        w.write_all(frames)
    return faulted


def _replay(capture: Path, journal: Path, trace: TraceConfig | None) -> dict[str, list[dict]]:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    off = trace_config(settings.telemetry, {})
    run_main(build_flow(settings, [capture], journal, batch_size=50, trace=trace or off))
    out = {}
    for name in TABLES:
        rows = read_rows(journal, name)
        out[name] = sorted(
            ({k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows),
            key=lambda r: r["row_id"],
        )
    return out


@pytest.fixture(scope="module")
def runs(
    capture: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, list[dict]], list[Span], list[str]]]:
    """Journal, received spans and HTTP paths of a replay with tracing off, over gRPC, over HTTP."""
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    root = tmp_path_factory.mktemp("journals")
    out: dict[str, tuple[dict[str, list[dict]], list[Span], list[str]]] = {
        "off": (_replay(capture, root / "off", None), [], [])
    }
    for proto, receiver in ((GRPC, GrpcReceiver()), (HTTP, HttpReceiver())):
        try:
            env = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": proto,
                "OTEL_SERVICE_NAME": SERVICE,
            }
            cfg = trace_config(settings.telemetry, env)
            journal = _replay(capture, root / proto.replace("/", "_"), cfg)
            paths = list(getattr(receiver, "paths", []))
            out[proto] = (journal, receiver.spans, paths)
        finally:
            receiver.close()
    return out


PROTOCOLS = pytest.mark.parametrize("proto", [GRPC, HTTP])


def _traces(spans: list[Span]) -> dict[int, list[Span]]:
    by: dict[int, list[Span]] = {}
    for s in spans:
        by.setdefault(s.trace_id, []).append(s)
    return by


def _edges(spans: list[Span]) -> Counter[tuple[str | None, str]]:
    ids = {s.span_id: s for s in spans}
    return Counter(
        (None if s.parent_span_id is None else ids[s.parent_span_id].name, s.name) for s in spans
    )


def _signals(journal: dict[str, list[dict]]) -> list[dict[str, Any]]:
    return [o for o in journal["opportunities"] if o["update_seq"] == 0]


def test_tracing_leaves_the_journal_identical(runs: dict) -> None:
    off = runs["off"][0]
    assert len(off["opportunities"]) == 6 and len(off["fills"]) == 4
    # the pool is back in sync (`up`) once a good account follows the bad one
    assert sorted(h["status"] for h in off["health"]) == ["bad_account", "resync", "up", "up"]
    assert runs[GRPC][0] == off
    assert runs[HTTP][0] == off


@PROTOCOLS
def test_replay_exports_one_trace_per_opportunity_and_per_fault(runs: dict, proto: str) -> None:
    journal, spans, _ = runs[proto]
    traces = _traces(spans)
    assert len(traces) == 4  # two signals (with their updates), one resync, one bad account
    roots = sorted(s.name for s in spans if s.parent_span_id is None)
    assert roots == ["frame.received", "frame.received", "health.bad_account", "health.resync"]
    assert {s.service for s in spans} == {SERVICE}
    opp_ids = {o["opportunity_id"] for o in journal["opportunities"]}
    assert {
        s.attributes["solarb.opportunity_id"] for s in spans if not s.name.startswith("health")
    } == opp_ids


@PROTOCOLS
def test_trace_ids_are_derived_from_the_opportunity_id(
    runs: dict, capture: Path, proto: str
) -> None:
    journal, spans, _ = runs[proto]
    scope = capture_scope([capture])
    want = {trace_id_of(scope, o["opportunity_id"]) for o in _signals(journal)}
    got = {s.trace_id for s in spans if s.parent_span_id is None and s.name == "frame.received"}
    assert got == want


def test_both_protocols_carry_the_same_ids_times_and_attributes(runs: dict) -> None:
    def key(s: Span) -> tuple:
        return (s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_ns, s.end_ns)

    grpc_spans, http_spans = runs[GRPC][1], runs[HTTP][1]
    assert sorted(map(key, grpc_spans)) == sorted(map(key, http_spans))
    assert len(grpc_spans) == 24 + 2  # 2 x (3 signal spans + decision + 2 intents + 2 fills
    #                                   + 2 updates x (update + decision)) + 2 health spans
    assert runs[HTTP][2] and set(runs[HTTP][2]) == {"/v1/traces"}


@PROTOCOLS
def test_each_opportunity_trace_has_the_documented_span_tree(runs: dict, proto: str) -> None:
    journal, spans, _ = runs[proto]
    for sig in _signals(journal):
        trace = [
            s for s in spans if s.attributes.get("solarb.opportunity_id") == sig["opportunity_id"]
        ]
        updates = sum(
            1
            for o in journal["opportunities"]
            if o["opportunity_id"] == sig["opportunity_id"] and o["update_seq"] > 0
        )
        assert updates == 2
        assert len({s.trace_id for s in trace}) == 1
        assert _edges(trace) == Counter(
            {
                (None, "frame.received"): 1,
                ("frame.received", "view.updated"): 1,
                ("view.updated", "opportunity"): 1,
                ("opportunity", "risk.decision"): 1,
                ("risk.decision", "order.intent buy"): 1,
                ("risk.decision", "order.intent sell"): 1,
                ("order.intent buy", "fill"): 1,
                ("order.intent sell", "fill"): 1,
                ("frame.received", "opportunity.update"): updates,
                ("opportunity.update", "risk.decision"): updates,
            }
        )


@PROTOCOLS
def test_span_times_are_the_journal_event_times(runs: dict, proto: str) -> None:
    journal, spans, _ = runs[proto]
    for sig in _signals(journal):
        oid = sig["opportunity_id"]
        trace = [s for s in spans if s.attributes.get("solarb.opportunity_id") == oid]

        def times(name: str, trace: list[Span] = trace) -> list[tuple[int, int]]:
            return sorted((s.start_ns, s.end_ns) for s in trace if s.name == name)

        opps = [o for o in journal["opportunities"] if o["opportunity_id"] == oid]
        assert times("frame.received") == [(sig["ts_event_ns"], sig["ts_recv_ns"])]
        assert times("view.updated") == [(sig["ts_recv_ns"], sig["ts_detect_ns"])]
        assert times("opportunity") == [(sig["ts_detect_ns"], sig["ts_detect_ns"])]
        assert times("opportunity.update") == sorted(
            (o["ts_recv_ns"], o["ts_detect_ns"]) for o in opps if o["update_seq"] > 0
        )
        decisions = [d for d in journal["decisions"] if d["opportunity_id"] == oid]
        assert times("risk.decision") == sorted(
            (d["ts_recv_ns"], d["ts_recv_ns"]) for d in decisions
        )
        intents = {i["side"]: i for i in journal["intents"] if i["opportunity_id"] == oid}
        for side, i in intents.items():
            assert times(f"order.intent {side}") == [(i["ts_intent_ns"], i["ts_intent_ns"])]
        fills = [f for f in journal["fills"] if f["opportunity_id"] == oid]
        assert times("fill") == sorted((f["ts_fill_ns"], f["ts_fill_ns"]) for f in fills)


@PROTOCOLS
def test_spans_carry_venue_market_size_edge_costs_and_priority_fee(runs: dict, proto: str) -> None:
    journal, spans, _ = runs[proto]
    for sig in _signals(journal):
        oid = sig["opportunity_id"]
        (opp,) = [
            s
            for s in spans
            if s.name == "opportunity" and s.attributes["solarb.opportunity_id"] == oid
        ]
        a = opp.attributes
        assert (a["solarb.pair"], a["solarb.direction"], a["solarb.size_base"]) == (
            sig["pair"],
            sig["direction"],
            sig["size_base"],
        )
        assert (a["solarb.buy.market"], a["solarb.sell.market"]) == (
            sig["buy_venue"],
            sig["sell_venue"],
        )
        assert {a["solarb.buy.venue"], a["solarb.sell.venue"]} == {"binance", "orca"}
        assert (a["solarb.spread_bps"], a["solarb.net_bps"], a["solarb.cost.total_bps"]) == (
            sig["spread_bps"],
            sig["net_bps"],
            sig["cost_total_bps"],
        )
        assert a["solarb.cost.fees_cex_bps"] == sig["cost_fees_cex_bps"]
        assert a["solarb.priority_fee_micro_lamports_per_cu"] == sig["cu_price_micro_lamports"]
        for i in (i for i in journal["intents"] if i["opportunity_id"] == oid):
            (span,) = [
                s
                for s in spans
                if s.attributes.get("solarb.intent_id") == i["intent_id"]
                and s.name.startswith("order.intent")
            ]
            b = span.attributes
            assert (b["solarb.market"], b["solarb.side"], b["solarb.size_base"]) == (
                i["market_id"],
                i["side"],
                i["size_base"],
            )
            assert (b["solarb.venue"], b["solarb.limit_quote"]) == (
                i["market_id"].split(":")[0],
                i["limit_quote"],
            )
        for f in (f for f in journal["fills"] if f["opportunity_id"] == oid):
            (span,) = [
                s
                for s in spans
                if s.name == "fill" and s.attributes["solarb.intent_id"] == f["intent_id"]
            ]
            c = span.attributes
            assert (c["solarb.status"], c["solarb.filled_base"], c["solarb.quote_amount"]) == (
                "filled",
                f["filled_base"],
                f["quote_amount"],
            )
            assert span.status_code == 0  # filled: no error


@PROTOCOLS
def test_resync_and_bad_account_get_a_trace_each_at_their_event_time(
    runs: dict, proto: str
) -> None:
    journal, spans, _ = runs[proto]
    health = {h["status"]: h for h in journal["health"]}
    for status in ("resync", "bad_account"):
        (span,) = [s for s in spans if s.name == f"health.{status}"]
        h = health[status]
        assert (span.start_ns, span.end_ns) == (h["ts_event_ns"], h["ts_recv_ns"])
        assert (span.attributes["solarb.source"], span.attributes["solarb.detail"]) == (
            h["source"],
            h["detail"],
        )
    (bad,) = [s for s in spans if s.name == "health.bad_account"]
    assert (bad.status_code, bad.status_message) == (STATUS_ERROR, health["bad_account"]["detail"])
    assert not [s for s in spans if s.name == "health.up"]  # `up` is not a traced status
