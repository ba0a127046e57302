"""JSON log lines carry the request id and the trace id of the context they are written in."""

import logging

import orjson
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from aiops_contracts.logging import ContextFilter, JsonFormatter, request_id_var


def test_log_lines_carry_request_and_trace_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "thing happened", None, None)
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1)))
    reset = request_id_var.set("req-1")
    try:
        with trace.use_span(span):
            ContextFilter().filter(record)
    finally:
        request_id_var.reset(reset)
    line = orjson.loads(JsonFormatter("api").format(record))
    assert (line["request_id"], line["trace_id"], line["message"]) == ("req-1", f"{0xABC:032x}", "thing happened")
