"""Log records as the producers build them (file tail, syslog, Splunk, Datadog).

A message longer than LOG_LINE_MAX_CHARS (what one LogRecord holds) becomes several records of at most that many
characters (log_line_pieces, shared with the logs webhook), in order, each with the message's host, time and
labels: accepted text is never cut off.

A poll of a search API that reached its limit (Splunk, Datadog: results sorted oldest first, the window's start
inclusive) keeps the records before its last record's time and leaves that time to the next poll, which starts
there: nothing of the window is lost and nothing is read twice."""

from typing import Any

from aiops_contracts.events import LogRecord, log_line_pieces


def log_records(message: str, **fields: Any) -> list[LogRecord]:
    """`message` as records of at most LOG_LINE_MAX_CHARS characters (one for a short or empty message), each with
    `fields` (host, timestamp, labels), validated once."""
    head, *rest = log_line_pieces(message)
    first = LogRecord(message=head, **fields)
    return [first, *(first.model_copy(update={"message": piece}) for piece in rest)]


def before_last_time(records: list[LogRecord], resolution_s: float) -> tuple[list[LogRecord], float | None]:
    """A full poll's records to publish, and the epoch time the next poll starts at (None: no record has a time, the
    poll's window is done). Those at the latest record time are left to the next poll; when all share it, all are
    kept and the next poll starts one `resolution_s` (the API's time resolution) later."""
    last = max((record.timestamp for record in records if record.timestamp is not None), default=None)
    if last is None:
        return records, None
    earlier = [record for record in records if record.timestamp is None or record.timestamp < last]
    return (earlier, last.timestamp()) if earlier else (records, last.timestamp() + resolution_s)
