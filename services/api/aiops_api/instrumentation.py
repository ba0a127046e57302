"""Prometheus metrics of the API, and the request-metrics middleware."""

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("aiops_api_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "aiops_api_request_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
STREAM_LENGTH = Gauge("aiops_stream_length", "Entries in a stream", ["stream"])
STREAM_LAG = Gauge("aiops_stream_group_lag", "Entries not yet delivered to a consumer group", ["stream", "group"])
STREAM_PENDING = Gauge("aiops_stream_group_pending", "Entries delivered but not acked", ["stream", "group"])
DEAD_LETTERS = Gauge("aiops_stream_dead_letters", "Entries in a dead-letter stream", ["stream"])
METRIC_LINES_ACCEPTED = Counter("aiops_api_metric_lines_accepted_total", "Metric lines put on the stream", ["source"])
METRIC_LINES_REJECTED = Counter("aiops_api_metric_lines_rejected_total", "Metric lines refused as invalid", ["source"])
RATE_LIMITED = Counter("aiops_api_rate_limited_total", "Requests refused by the rate limiter", ["route_class"])


class RequestMetricsMiddleware:
    """Counts and times requests by route template (not raw path, which would explode label cardinality)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status_code)).inc()
            REQUEST_SECONDS.labels(scope["method"], template).observe(time.perf_counter() - started)
