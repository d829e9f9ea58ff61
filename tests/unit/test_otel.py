"""Trace configuration (`[telemetry]` + OTEL_* variables), span mapping and sampling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from config import TelemetrySettings, load_settings
from connectors.otel import TraceConfig, TracingSink, trace_config
from connectors.trace_spans import span_id_of, spans_of, trace_id_of
from operators.errors import ConfigError
from operators.events import CostBreakdown, ExecutionReport, HealthEvent, Opportunity, OrderIntent
from operators.risk import RiskDecision

T0 = 1_767_225_600_000_000_000
HEALTH = frozenset({"resync", "bad_account", "bad_frame", "kill"})


def _cfg(env: Mapping[str, str], **file: object) -> TraceConfig:
    return trace_config(TelemetrySettings(**file), env)  # type: ignore[arg-type]


def test_tracing_is_off_by_default_and_aims_at_the_local_grpc_port() -> None:
    cfg = _cfg({})
    assert (cfg.enabled, cfg.protocol, cfg.endpoint) == (False, "grpc", "http://127.0.0.1:4317")
    assert (cfg.service_name, cfg.sampler, cfg.sampler_arg) == (
        "solarb",
        "parentbased_always_on",
        1.0,
    )
    assert load_settings(env={}).telemetry.enabled is False


def test_http_protocol_from_the_file_defaults_to_port_4318_with_the_traces_path() -> None:
    cfg = _cfg({}, enabled=True, protocol="http/protobuf")
    assert (cfg.enabled, cfg.endpoint) == (True, "http://127.0.0.1:4318/v1/traces")
    cfg = _cfg({}, enabled=True, protocol="http/protobuf", otlp_endpoint="http://jaeger:4318/")
    assert cfg.endpoint == "http://jaeger:4318/v1/traces"


def test_otel_endpoint_variable_turns_tracing_on_and_wins_over_the_file() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    cfg = _cfg(env, otlp_endpoint="http://file:4317")
    assert (cfg.enabled, cfg.endpoint) == (True, "http://collector:4317")
    env |= {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    assert _cfg(env).endpoint == "http://collector:4317/v1/traces"  # base URL + signal path


def test_traces_endpoint_variable_is_used_exactly_as_given() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otlp.example/custom/path",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    cfg = _cfg(env)
    assert (cfg.enabled, cfg.protocol, cfg.endpoint) == (
        True,
        "http/protobuf",
        "https://otlp.example/custom/path",
    )


@pytest.mark.parametrize(
    "env", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}], ids=["sdk", "none"]
)
def test_sdk_disabled_or_exporter_none_turns_tracing_off_over_the_file(
    env: dict[str, str],
) -> None:
    env = env | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    assert _cfg(env, enabled=True).enabled is False


def test_exporter_otlp_variable_turns_tracing_on_at_the_file_endpoint() -> None:
    cfg = _cfg({"OTEL_TRACES_EXPORTER": "otlp"}, otlp_endpoint="http://file:4317")
    assert (cfg.enabled, cfg.endpoint) == (True, "http://file:4317")


def test_service_name_and_sampler_variables_win_over_the_file() -> None:
    env = {
        "OTEL_SERVICE_NAME": "solarb-paper",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
    }
    cfg = _cfg(env, service_name="file-name", sampler="always_on", sampler_arg=1.0)
    assert (cfg.service_name, cfg.sampler, cfg.sampler_arg) == (
        "solarb-paper",
        "parentbased_traceidratio",
        0.25,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_bad_otel_variables_raise_a_config_error_naming_them(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        _cfg(env)


def test_an_endpoint_in_an_error_never_shows_its_key() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector/?api-key=SECRET123"}
    with pytest.raises(ConfigError) as err:
        _cfg(env)
    assert "SECRET123" not in str(err.value) and "api-key=***" in str(err.value)


def test_config_file_refuses_an_unknown_protocol_and_a_non_url_endpoint() -> None:
    with pytest.raises(ConfigError, match="protocol"):
        load_settings(env={"SOLARB__TELEMETRY__PROTOCOL": "thrift"})
    with pytest.raises(ConfigError, match="otlp_endpoint"):
        load_settings(env={"SOLARB__TELEMETRY__OTLP_ENDPOINT": "localhost:4317"})


# ---- span mapping ----------------------------------------------------------------------------


def _opp(oid: str, seq: int = 0, t: int = T0) -> Opportunity:
    costs = CostBreakdown(10.0, 5.0, 0.5, 2.0, 0.0, 3.0)
    return Opportunity(
        oid, "SOL/USDC", "buy_dex_sell_cex", "orca:POOL", "binance:SOLUSDC", 30_000_000_000,
        4_500_000_000, 4_530_000_000, 66.0, costs, 25.5, 45.5, 20_000_000, 40.0, 5_000, seq,
        t - 5_000_000, t, t,
    )  # fmt: skip


def _chain(oid: str, t: int = T0) -> list[object]:
    """An accepted signal's records: opportunity, decision, two intents, two fills."""
    intents = [
        OrderIntent(f"{oid}/{side}", oid, m, m, side, 30_000_000_000, 4_600_000_000, t - 5, t, t)  # type: ignore[arg-type]
        for side, m in (("buy", "orca:POOL"), ("sell", "binance:SOLUSDC"))
    ]
    fills = [
        ExecutionReport(
            i.intent_id, oid, i.venue, i.side, "filled", i.size_base, 1, 0, "", 0, t, t + 20_000_000
        )
        for i in intents
    ]
    return [_opp(oid, 0, t), RiskDecision(oid, "SOL/USDC", True, "ok", "", t), *intents, *fills]


def test_every_child_names_the_span_id_its_parent_record_gets() -> None:
    spans = [s for r in _chain("o|1") for s in spans_of(r, "scope", HEALTH)]
    ids = {s.span_id: s.name for s in spans}
    edges = sorted((ids.get(s.parent_span_id, "-"), s.name) for s in spans if s.parent_span_id)
    assert edges == [
        ("frame.received", "view.updated"),
        ("opportunity", "risk.decision"),
        ("order.intent buy", "fill"),
        ("order.intent sell", "fill"),
        ("risk.decision", "order.intent buy"),
        ("risk.decision", "order.intent sell"),
        ("view.updated", "opportunity"),
    ]
    assert {s.trace_id for s in spans} == {trace_id_of("scope", "o|1")}
    assert spans[0].span_id == span_id_of("o|1", "root")


def test_trace_ids_are_stable_per_scope_and_differ_across_scopes() -> None:
    assert trace_id_of("replay:a.parquet:10", "o|1") == trace_id_of("replay:a.parquet:10", "o|1")
    assert trace_id_of("run:r1", "o|1") != trace_id_of("run:r2", "o|1")
    assert 0 < trace_id_of("s", "o|1") < 2**128


def test_kill_gets_an_error_trace_and_a_url_in_its_detail_is_redacted() -> None:
    ev = HealthEvent("rpc:helius", "kill", "down: https://rpc.example/?api-key=SECRET9", T0, T0)
    (span,) = spans_of(ev, "s", HEALTH)
    assert (span.name, span.parent_span_id, span.start_ns, span.end_ns) == (
        "health.kill",
        None,
        T0,
        T0,
    )
    assert span.attributes["solarb.detail"] == "down: https://rpc.example/?api-key=***"
    assert span.error == "down: https://rpc.example/?api-key=***"
    assert "SECRET9" not in repr(span)


def test_untraced_health_statuses_and_counters_give_no_span() -> None:
    assert spans_of(HealthEvent("binance", "up", "", T0, T0), "s", HEALTH) == []
    assert spans_of(object(), "s", HEALTH) == []


def test_a_rejected_fill_is_an_error_span_with_its_reason() -> None:
    f = ExecutionReport(
        "o|1/buy", "o|1", "orca:POOL", "buy", "rejected", 0, 0, 0, "no depth", 0, T0, T0
    )
    (span,) = spans_of(f, "s", HEALTH)
    assert (span.error, span.attributes["solarb.reason"]) == ("no depth", "no depth")


def test_frame_span_starts_at_receive_time_when_the_venue_time_is_ahead() -> None:
    skewed = replace(_opp("o|1"), ts_event_ns=T0 + 7)  # venue clock 7 ns ahead of ours
    frame = spans_of(skewed, "s", HEALTH)[0]
    assert (frame.name, frame.start_ns, frame.end_ns) == ("frame.received", T0, T0)


# ---- the sink and sampling -------------------------------------------------------------------


def _export(records: list[object], sampler: str, arg: float = 1.0) -> InMemorySpanExporter:
    mem = InMemorySpanExporter()
    cfg = TraceConfig(True, "http://127.0.0.1:1", "grpc", "t", sampler, arg, HEALTH)
    part = TracingSink(cfg, "scope", lambda _c: mem).build("traces", 0, 1)
    part.write_batch(records)
    part.close()
    return mem


def test_the_sink_exports_the_record_ids_and_times_unchanged() -> None:
    mem = _export(_chain("o|1"), "parentbased_always_on")
    spans = mem.get_finished_spans()
    assert len(spans) == 8
    opp = next(s for s in spans if s.name == "opportunity")
    assert (opp.context.trace_id, opp.start_time, opp.end_time) == (
        trace_id_of("scope", "o|1"),
        T0,
        T0,
    )
    assert opp.parent is not None and opp.parent.span_id == span_id_of("o|1", "view", T0)
    assert opp.resource.attributes["service.name"] == "t"


def test_ratio_sampling_keeps_or_drops_whole_traces() -> None:
    records = [r for k in range(40) for r in _chain(f"o|{k}", T0 + k)]
    mem = _export(records, "parentbased_traceidratio", 0.5)
    by_trace: dict[int, int] = {}
    for s in mem.get_finished_spans():
        by_trace[s.context.trace_id] = by_trace.get(s.context.trace_id, 0) + 1
    assert set(by_trace.values()) == {8}  # a kept trace is whole
    assert 0 < len(by_trace) < 40


def test_always_off_exports_nothing() -> None:
    assert _export(_chain("o|1"), "always_off").get_finished_spans() == ()


def test_error_spans_carry_the_error_status() -> None:
    ev = HealthEvent("orca:POOL", "bad_account", "unknown discriminator", T0, T0)
    (span,) = _export([ev], "always_on").get_finished_spans()
    assert (span.status.status_code, span.status.description) == (
        StatusCode.ERROR,
        "unknown discriminator",
    )
