"""Log records as the producers build them (file tail, syslog, Splunk, Datadog).

A message longer than LOG_LINE_MAX_CHARS (what one LogRecord holds) becomes several records of at most that many
characters (log_line_pieces, shared with the logs webhook), in order, each with the message's host, time and
labels: accepted text is never cut off.

A source's host and time are taken as far as they can be read, so that one odd record never fails its poll (which
would then fail on it for good): a multivalue host (Splunk's JSON gives one as an array) is its first value, a host
past HOST_MAX_CHARS is cut, and a time that cannot be read is none (the record takes the time it is received),
counted and logged.

A poll of a search API that reached its limit (Splunk, Datadog: results sorted oldest first, the window's start
inclusive) keeps the records before its last record's time and leaves that time to the next poll, which starts
there: nothing of the window is lost and nothing is read twice."""

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from aiops_contracts.events import EventTime, LogRecord, log_line_pieces

log = logging.getLogger(__name__)
HOST_MAX_CHARS: int = LogRecord.model_fields["host"].metadata[0].max_length  # the bound LogRecord.host declares
EVENT_TIME = TypeAdapter(EventTime)
UNREADABLE_TIMES = Counter("aiops_worker_log_record_times_unreadable_total",
                           "Polled log records whose time could not be read: they take the time they are received")


def log_records(message: str, *, host: Any = None, timestamp: Any = None,
                labels: Mapping[str, str] | None = None) -> list[LogRecord]:
    """`message` as records of at most LOG_LINE_MAX_CHARS characters (one for a short or empty message), each with
    the host, time and labels, validated once."""
    head, *rest = log_line_pieces(message)
    first = LogRecord(message=head, host=_host(host), timestamp=_time(timestamp), labels=labels or {})
    return [first, *(first.model_copy(update={"message": piece}) for piece in rest)]


def _host(value: Any) -> str | None:
    if isinstance(value, list):  # a multivalue field
        value = value[0] if value else None
    return None if value is None else str(value)[:HOST_MAX_CHARS]


def _time(value: Any) -> datetime | None:
    try:
        return EVENT_TIME.validate_python(value)
    except ValidationError:
        UNREADABLE_TIMES.inc()
        log.warning("log record time unreadable, the time received is used", extra={"time": str(value)[:100]})
        return None


def before_last_time(records: list[LogRecord], resolution_s: float) -> tuple[list[LogRecord], float | None]:
    """A full poll's records to publish, and the epoch time the next poll starts at (None: no record has a time, the
    poll's window is done). Those at the latest record time are left to the next poll; when all share it, all are
    kept and the next poll starts one `resolution_s` (the API's time resolution) later."""
    last = max((record.timestamp for record in records if record.timestamp is not None), default=None)
    if last is None:
        return records, None
    earlier = [record for record in records if record.timestamp is None or record.timestamp < last]
    return (earlier, last.timestamp()) if earlier else (records, last.timestamp() + resolution_s)
