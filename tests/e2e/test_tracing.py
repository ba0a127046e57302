"""Tracing across API → stream → worker: the spans of one webhook request and of its handling in the
worker share one trace id, exported by OTLP/HTTP to a local receiver (an HTTP server speaking the
collector's protocol: POST /v1/traces with an ExportTraceServiceRequest protobuf)."""

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from conftest import SERVICE_START_S

pytestmark = pytest.mark.e2e


class OtlpReceiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OtlpHandler)
        self.spans: list[tuple[str, str, str]] = []  # (service, span name, trace id hex)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                self.server.spans += [(service, s.name, s.trace_id.hex()) for s in scope_spans.spans]
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()


async def test_webhook_and_worker_spans_share_the_trace(start_service, service_headers, clean_db, redis, otlp) -> None:
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    api = start_service("aiops-api", **tracing)
    start_service("aiops-worker", **tracing)
    async with httpx.AsyncClient(base_url=api.url) as client:
        source = await client.post("/api/v1/sources", json={"name": "traced", "kind": "generic"}, headers=service_headers())
        response = await client.post("/webhooks/generic", json={"title": "traced alert"},
                                     headers={"X-AIOps-Token": source.json()["token"]})
    assert response.status_code == 202
    webhook_traces = {}
    deadline = time.monotonic() + SERVICE_START_S
    while time.monotonic() < deadline:
        webhook_traces = {t for svc, name, t in otlp.spans if svc == "aiops-api" and name == "POST /webhooks/generic"}
        worker_traces = {t for svc, name, t in otlp.spans if svc == "aiops-worker" and name == "alerts-store handle"}
        if webhook_traces & worker_traces:
            break
        await asyncio.sleep(0.2)
    assert len(webhook_traces) == 1, otlp.spans
    assert webhook_traces <= worker_traces, otlp.spans
