"""Per request: the request id (X-Request-ID in and out) and the server span of the trace.

An incoming X-Request-ID is kept only when it is a short token of safe characters; anything else (too long,
spaces, control characters) is replaced by a fresh id, so client input never reaches a response header or a
log field unchecked. The span continues the caller's W3C `traceparent` when there is one.
"""

import re
import uuid

from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiops_contracts.logging import request_id_var
from aiops_contracts.tracing import context_from, tracer

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(headers: dict[bytes, bytes]) -> str:
    incoming = headers.get(REQUEST_ID_HEADER, b"")
    return incoming.decode() if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = request_id_of(headers)
        carrier = {name: headers[name.encode()].decode("latin-1")
                   for name in ("traceparent", "tracestate") if name.encode() in headers}
        reset = request_id_var.set(request_id)
        status_code = 500
        with tracer.start_as_current_span(scope["method"], context=context_from(carrier), kind=SpanKind.SERVER) as span:

            async def send_with_request_id(message: Message) -> None:
                nonlocal status_code
                if message["type"] == "http.response.start":
                    status_code = message["status"]
                    message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                await send(message)

            try:
                await self.app(scope, receive, send_with_request_id)
            finally:
                route = getattr(scope.get("route"), "path", None)
                span.update_name(f"{scope['method']} {route or 'unmatched'}")
                span.set_attribute("http.request.method", scope["method"])
                span.set_attribute("http.route", route or "")
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(StatusCode.ERROR)
                request_id_var.reset(reset)
