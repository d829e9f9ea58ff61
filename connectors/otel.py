"""OpenTelemetry export of the journal's records as traces: configuration and the Bytewax sink.

Configuration is `[telemetry]` in the config file, overridden by the standard OpenTelemetry
variables (a user who exports `OTEL_EXPORTER_OTLP_ENDPOINT` expects it to win over a file):

    OTEL_SDK_DISABLED=true                 off, whatever the file says
    OTEL_TRACES_EXPORTER                   `none` turns tracing off, `otlp` on
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     trace endpoint, used exactly as given (turns tracing on)
    OTEL_EXPORTER_OTLP_ENDPOINT            base endpoint (turns tracing on); HTTP appends
                                           `/v1/traces`, as `otlp_endpoint` from the file does
    OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL   `grpc` or `http/protobuf`
    OTEL_SERVICE_NAME                      service.name
    OTEL_TRACES_SAMPLER / _ARG             sampler and its ratio (spec names)

Headers, certificates, compression and timeouts are left to the exporters, which read their own
`OTEL_EXPORTER_OTLP_*` variables. Spans are exported by a `BatchSpanProcessor`: the sink only
queues finished spans, a background thread batches and sends them, so an unreachable collector
costs the graph nothing but dropped spans (logged by the SDK).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from config import TelemetrySettings
from connectors.redact import redact_url
from connectors.trace_spans import SpanSpec, spans_of
from operators.errors import ConfigError

GRPC = "grpc"
HTTP = "http/protobuf"
PROTOCOLS = (GRPC, HTTP)
DEFAULT_ENDPOINTS = {GRPC: "http://127.0.0.1:4317", HTTP: "http://127.0.0.1:4318"}
HTTP_TRACES_PATH = "/v1/traces"
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
TRACER_NAME = "solarb"


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """Resolved trace export settings: `[telemetry]` with the OTEL_* variables applied."""

    enabled: bool
    endpoint: str
    """The URL the exporter is given (HTTP: the full `/v1/traces` URL)."""
    protocol: str
    service_name: str
    sampler: str
    sampler_arg: float
    health_statuses: frozenset[str]


def _truthy(v: str) -> bool:
    return v.strip().lower() in ("1", "true", "yes", "on")


def _http_traces_url(base: str) -> str:
    # the spec's rule for the generic endpoint: a base URL, the signal path appended
    trimmed = base.rstrip("/")
    return trimmed if trimmed.endswith(HTTP_TRACES_PATH) else trimmed + HTTP_TRACES_PATH


def _check_url(url: str, where: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: {redact_url(url)!r} is not an http:// or https:// URL")
    return url


def trace_config(tel: TelemetrySettings, env: Mapping[str, str]) -> TraceConfig:
    """`[telemetry]` overridden by the OTEL_* variables in `env`; ConfigError on a bad value."""
    enabled = tel.enabled
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",")}
    exporters.discard("")
    if exporters - {"otlp", "none"}:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={env['OTEL_TRACES_EXPORTER']!r}: solarb exports only 'otlp' "
            "(or 'none' to turn tracing off)"
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or tel.protocol
    ).strip()
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"OTLP protocol {protocol!r}: solarb speaks {' or '.join(PROTOCOLS)} (not http/json)"
        )
    traces_ep = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_ep = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if traces_ep:
        endpoint = _check_url(traces_ep, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    else:
        where = "OTEL_EXPORTER_OTLP_ENDPOINT" if base_ep else "[telemetry] otlp_endpoint"
        base = _check_url(base_ep or tel.otlp_endpoint or DEFAULT_ENDPOINTS[protocol], where)
        endpoint = _http_traces_url(base) if protocol == HTTP else base
    if traces_ep or base_ep or "otlp" in exporters:
        enabled = True
    if "none" in exporters or _truthy(env.get("OTEL_SDK_DISABLED", "")):
        enabled = False
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or tel.sampler
    if sampler not in SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER={sampler!r}: one of {', '.join(SAMPLERS)}")
    arg_text = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        sampler_arg = float(arg_text) if arg_text else tel.sampler_arg
    except ValueError:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg_text!r}: a ratio in [0, 1]") from None
    if not 0.0 <= sampler_arg <= 1.0:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg_text!r}: a ratio in [0, 1]")
    return TraceConfig(
        enabled=enabled,
        endpoint=endpoint,
        protocol=protocol,
        service_name=env.get("OTEL_SERVICE_NAME", "").strip() or tel.service_name,
        sampler=sampler,
        sampler_arg=sampler_arg,
        health_statuses=frozenset(tel.health_traces),
    )


def build_sampler(name: str, arg: float) -> Sampler:
    """The SDK sampler a spec sampler name stands for."""
    root: Sampler
    if name.endswith("always_on"):
        root = ALWAYS_ON
    elif name.endswith("always_off"):
        root = ALWAYS_OFF
    elif name.endswith("traceidratio"):
        root = TraceIdRatioBased(arg)
    else:
        raise ConfigError(f"sampler {name!r}: one of {', '.join(SAMPLERS)}")
    return ParentBased(root) if name.startswith("parentbased_") else root


def otlp_exporter(cfg: TraceConfig) -> SpanExporter:
    """The OTLP span exporter for `cfg.protocol` aimed at `cfg.endpoint`."""
    if cfg.protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        # a plain-http endpoint is a local collector without TLS (the spec's rule for the scheme)
        return GrpcExporter(endpoint=cfg.endpoint, insecure=cfg.endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=cfg.endpoint)


def capture_scope(captures: Sequence[Path]) -> str:
    """Trace-id scope of a replay: the captures' names and sizes (same capture, same ids)."""
    parts = [f"{c.name}:{c.stat().st_size if c.exists() else 0}" for c in captures]
    return "replay:" + ",".join(parts)


def run_scope(run_id: str) -> str:
    """Trace-id scope of a live or paper run: its run id (two runs never share a trace)."""
    return f"run:{run_id}"


class _GivenIds(IdGenerator):
    """Hands the SDK the ids computed from the records (set just before each span starts)."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


class _TracingPartition(StatelessSinkPartition[Any]):
    def __init__(self, cfg: TraceConfig, scope: str, exporter: SpanExporter) -> None:
        self._scope = scope
        self._statuses = cfg.health_statuses
        self._sampler = build_sampler(cfg.sampler, cfg.sampler_arg)
        # one provider per partition: the id generator is per-span mutable state, so partitions
        # (workers, possibly threads of one process) must not share it
        self._ids = _GivenIds()
        self._provider = TracerProvider(
            sampler=self._sampler,
            resource=Resource.create({SERVICE_NAME: cfg.service_name}),
            id_generator=self._ids,
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer(TRACER_NAME)
        self.spans = 0
        """Spans started (sampled or not)."""

    def _parent_context(self, s: SpanSpec) -> Context:
        if s.parent_span_id is None:
            return Context()  # a root: never parent it on whatever span happens to be current
        # The parent was (or will be) made from another record, maybe on another worker; it was
        # sampled iff the root sampler keeps this trace id, so the child follows the same verdict.
        keep = self._sampler.should_sample(None, s.trace_id, s.name).decision.is_sampled()
        flags = TraceFlags(TraceFlags.SAMPLED if keep else TraceFlags.DEFAULT)
        parent = SpanContext(s.trace_id, s.parent_span_id, is_remote=False, trace_flags=flags)
        return set_span_in_context(NonRecordingSpan(parent))

    def emit(self, s: SpanSpec) -> None:
        """Start and end one span with the record's ids and times."""
        ctx = self._parent_context(s)
        self._ids.trace_id = s.trace_id
        self._ids.span_id = s.span_id
        span = self._tracer.start_span(
            s.name,
            context=ctx,
            kind=SpanKind.INTERNAL,
            attributes=s.attributes,
            start_time=s.start_ns,
        )
        if s.error is not None:
            span.set_status(Status(StatusCode.ERROR, s.error))
        span.end(end_time=s.end_ns)
        self.spans += 1

    def write_batch(self, items: list[Any]) -> None:
        for item in items:
            for s in spans_of(item, self._scope, self._statuses):
                self.emit(s)

    def close(self) -> None:
        # flushes the batch processor: every queued span is sent (or dropped after the
        # exporter's timeout when the collector is unreachable)
        self._provider.shutdown()


class TracingSink(DynamicSink[Any]):
    """Journal records in, one trace per opportunity (and per traced health event) out."""

    def __init__(
        self,
        cfg: TraceConfig,
        scope: str,
        exporter_factory: Callable[[TraceConfig], SpanExporter] = otlp_exporter,
    ) -> None:
        self.cfg = cfg
        self.scope = scope
        self.exporter_factory = exporter_factory

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TracingPartition:
        """One tracer provider and exporter per worker."""
        return _TracingPartition(self.cfg, self.scope, self.exporter_factory(self.cfg))
