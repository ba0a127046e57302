"""OpenTelemetry tracing across API → stream → worker.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then no SDK is installed, the API's no-op tracer hands out
non-recording spans and nothing is exported. On, spans go by OTLP/HTTP to `<endpoint>/v1/traces`.
The W3C trace context travels in each envelope's `trace` field (bus.py injects it, the worker extracts it).
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aiops_contracts.settings import CommonSettings

_PROPAGATOR = TraceContextTextMapPropagator()
_MAX_LINKS = 32  # a batch span links to this many of its other events' traces
tracer = trace.get_tracer("aiops")


def configure_tracing(service: str, settings: CommonSettings) -> object | None:
    """Install the SDK with an OTLP/HTTP exporter when an endpoint is configured; returns the provider."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    # Imported here: a process with tracing off never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"aiops-{service}"}))
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing(provider: object | None) -> None:
    """Flush and stop the exporter (a no-op when tracing is off)."""
    if provider is not None:
        provider.shutdown()  # type: ignore[attr-defined]


def current_trace_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); empty outside a trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str]) -> Context | None:
    return _PROPAGATOR.extract(carrier) if carrier.get("traceparent") else None


@contextmanager
def consumer_span(name: str, carriers: Sequence[Mapping[str, str]]) -> Iterator[Span]:
    """A span for handling a batch: child of the first event's trace, linked to the others' traces."""
    contexts = [c for c in (context_from(carrier) for carrier in carriers) if c is not None]
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1 : _MAX_LINKS + 1]]
    parent = contexts[0] if contexts else None
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, links=links) as span:
        span.set_attribute("messaging.batch.message_count", len(carriers))
        yield span
