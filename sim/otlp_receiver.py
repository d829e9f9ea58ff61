"""A local OTLP trace receiver on 127.0.0.1, gRPC or HTTP/protobuf, decoding into plain spans.

Both speak the collector's protocol from `opentelemetry-proto`: the gRPC one implements
`TraceService/Export`, the HTTP one answers `POST /v1/traces` with an
`ExportTraceServiceResponse`. Every decoded span lands in `spans` (thread-safe).
"""

from __future__ import annotations

import gzip
import sys
import threading
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

Request = trace_service_pb2.ExportTraceServiceRequest
Response = trace_service_pb2.ExportTraceServiceResponse


@dataclass(frozen=True)
class Span:
    """One received span, ids as ints (parent None for a root)."""

    service: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind)


def decode(req: Any) -> list[Span]:
    """Every span of an `ExportTraceServiceRequest`."""
    out = []
    for rs in req.resource_spans:
        res = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        service=str(res.get("service.name", "")),
                        trace_id=int.from_bytes(s.trace_id),
                        span_id=int.from_bytes(s.span_id),
                        parent_span_id=int.from_bytes(s.parent_span_id)
                        if s.parent_span_id
                        else None,
                        name=s.name,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                        status_code=s.status.code,
                        status_message=s.status.message,
                    )
                )
    return out


@dataclass
class _Store:
    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, req: Any) -> None:
        decoded = decode(req)
        with self.lock:
            self.spans.extend(decoded)
            self.requests += 1


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: _Store) -> None:
        self.store = store

    def Export(self, request: Any, context: Any) -> Any:
        self.store.add(request)
        return Response()


class GrpcReceiver:
    """OTLP/gRPC receiver on 127.0.0.1, an ephemeral port; `endpoint` is what to export to."""

    def __init__(self) -> None:
        self._store = _Store()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
        add(_Servicer(self._store), self._server)  # type: ignore[no-untyped-call]
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    @property
    def spans(self) -> list[Span]:
        """Spans received so far."""
        with self._store.lock:
            return list(self._store.spans)

    def close(self) -> None:
        """Stop at once."""
        self._server.stop(grace=None).wait(5)


class HttpReceiver:
    """OTLP/HTTP (protobuf) receiver on 127.0.0.1; `endpoint` is the base URL (no path)."""

    def __init__(self) -> None:
        store = self._store = _Store()
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                paths.append(self.path)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                store.add(Request.FromString(body))
                out = Response().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest's output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def spans(self) -> list[Span]:
        """Spans received so far."""
        with self._store.lock:
            return list(self._store.spans)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes: print the endpoint first, the span count last.

    `python -m sim.otlp_receiver [grpc|http/protobuf]` gives a throwaway collector in a process
    of its own (benchmarks keep its protobuf decoding off the measured process).
    """
    args = sys.argv[1:] if argv is None else argv
    receiver: GrpcReceiver | HttpReceiver = (
        HttpReceiver() if args[:1] == ["http/protobuf"] else GrpcReceiver()
    )
    try:
        print(receiver.endpoint, flush=True)
        sys.stdin.read()
        print(len(receiver.spans), flush=True)
    finally:
        receiver.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
