"""POST /webhooks/logs: log lines from any shipper, as newline-delimited text, JSON lines, or a JSON
array (of strings or objects); plain or compressed. `host`, `service` and `label=key:value` query
parameters label every line of the request: they travel once per envelope (`LogsPayload.labels`), cut
to the contract's label bounds. Only `logs` sources may post here.

Lines are kept raw: the log task parses their headers (syslog, JSON, access logs...). Nothing good is
refused for being next to something odd: undecodable bytes and NUL are replaced, and blank lines are skipped. A
line longer than one record (LOG_LINE_MAX_CHARS) is published whole, as consecutive records of at most that many
characters (log_line_pieces, as the log producers do), with the request's labels like every record; it counts
once in `accepted`, and its pieces count toward the records of an envelope and the expansion limit. The answer
comes after every line is in the stream (one MULTI/EXEC); a body whose events would exceed the expansion limit
(expansion.py) gets 413 and nothing is published. A body of many tiny lines gets it before any record is built,
from the least its records can take on the stream (check_least_size): 5 MB of one-letter lines took 8 s of the
event loop to build up to the limit, and 0.2 s now. A body of more than OFF_LOOP_BYTES is read into its records on
a thread (records_of): 5 MB of short lines is 500,000 records to validate and build, seconds of CPU that held the
event loop, and every other request with it, for 2.5-6.7 s. What still stops the loop then are the garbage
collector's full passes, which the thread's allocations start and which hold every thread (0.2-0.4 s each, a few).
Those threads are a pool of their own of BUILDS_AT_ONCE: a body's records take memory (several times its size) and
CPU while they are built, so more bodies at once only raise the peak, and the default executor stays free for the
work that queues on it (a Sentry body's signature check). A body past them waits its turn.
"""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel

from aiops_api.deps import BusDep, SettingsDep, webhook_source_of
from aiops_api.errors import BadRequest
from aiops_api.settings import ApiSettings
from aiops_api.sources.credentials import SourceIdentity
from aiops_api.webhooks.body import MAX_BODY_NESTING, nested_too_deep, read_body
from aiops_api.webhooks.expansion import check_expansion, within_expansion_limits
from aiops_contracts.bus import Encoded
from aiops_contracts.envelope import Envelope, nests_within
from aiops_contracts.events import LOG_LINE_MAX_CHARS, LOGS_RECEIVED, LogRecord, LogsPayload, log_line_pieces
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import LOGS_INGESTED
from aiops_contracts.text import without_nul

KIND = SourceKind.logs  # the sources it takes; webhooks/__init__.py lists the module
router = APIRouter()

LogsSource = Annotated[SourceIdentity, Depends(webhook_source_of(KIND))]

RECORDS_PER_ENVELOPE = 500  # records: a line longer than one is several
RECORD_LEAST_BYTES = len(b'{"message":""},')  # what a record takes on the stream besides its message, at least
MAX_LABELS = 20
# A larger body is read into its records on a thread. One this size takes the event loop ~10 ms at most (4,681 lines
# of 6 characters); most are a few lines, which a hop to a thread and back would only slow down.
OFF_LOOP_BYTES = 32 * 1024
# Large bodies built at once, on threads of their own (a body's records take several times its size while built).
BUILDS_AT_ONCE = 2
_builders = ThreadPoolExecutor(max_workers=BUILDS_AT_ONCE, thread_name_prefix="aiops-logs-build")


class LogsAccepted(BaseModel):
    accepted: int
    event_ids: list[str]


def split_lines(body: bytes, says_json: bool) -> list[str]:
    """The log lines of a body: a JSON array's items (objects re-serialised), else its non-blank lines. A body that
    starts with `[` is an array when it parses as one; else it is text (`[Mon Nov 30 ...] [core:error] ...`,
    `[main] INFO ...`), unless its Content-Type `says_json`: then it is 400."""
    if body.lstrip().startswith(b"["):
        try:
            items: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):  # JSON up to there, nested past what orjson parses (1,024 levels)
                raise BadRequest(nested_too_deep("body", MAX_BODY_NESTING)) from None
            if says_json:
                raise BadRequest(f"body: Content-Type says JSON, but the body is not valid JSON ({exc})") from exc
        else:
            if not nests_within(items, MAX_BODY_NESTING):  # an item orjson cannot write back as its line
                raise BadRequest(nested_too_deep("body", MAX_BODY_NESTING))
            return [without_nul(item) if isinstance(item, str) else orjson.dumps(item).decode() for item in items]
    text = without_nul(body.decode("utf-8", errors="replace"))
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _is_json_type(content_type: str) -> bool:
    """`application/json` or a `+json` type, parameters aside (NDJSON types are lines, not one document)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def parse_labels(host: str | None, service: str | None, label: list[str]) -> dict[str, str]:
    if len(label) > MAX_LABELS:
        raise BadRequest(f"label: {len(label)} labels, at most {MAX_LABELS}")
    labels = {}
    for item in label:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise BadRequest(f"label: {item!r} is not key:value")
        labels[key.strip()] = value.strip()  # cut to the label bounds by LogsPayload
    labels.update({k: v for k, v in (("host", host), ("service", service)) if v})
    return labels


def record_messages(lines: list[str]) -> list[str]:
    """The messages of the lines' records, in order: a line longer than LOG_LINE_MAX_CHARS is its pieces. When all
    fit, as nearly all do, the lines themselves: one len() pass (0.29 ms of 5,000 lines, splitting each 0.92)."""
    if max(map(len, lines), default=0) <= LOG_LINE_MAX_CHARS:
        return lines
    return [piece for line in lines for piece in log_line_pieces(line)]


def check_least_size(messages: list[str], request_bytes: int, settings: ApiSettings) -> None:
    """413 when the least the records can take on the stream (their messages and RECORD_LEAST_BYTES each, as
    serialised) already passes the expansion limits (expansion.py, which measures the built envelopes): known in
    one pass over the messages, before any record is built."""
    least = sum(map(len, messages)) + RECORD_LEAST_BYTES * len(messages)
    envelopes = -(-len(messages) // RECORDS_PER_ENVELOPE)
    check_expansion(f"its {len(messages)} log records would take at least {least} bytes", least, envelopes,
                    request_bytes, settings)


def to_envelopes(source: str, messages: list[str], labels: dict[str, str]) -> Iterator[Envelope]:
    """One envelope per RECORDS_PER_ENVELOPE records (`messages`: record_messages), the request's labels stated
    once in each; built lazily. The pieces of a long line may run on into the next envelope."""
    for i in range(0, len(messages), RECORDS_PER_ENVELOPE):
        records = [LogRecord(message=message) for message in messages[i:i + RECORDS_PER_ENVELOPE]]
        payload = LogsPayload(records=records, labels=labels)
        yield Envelope(type=LOGS_RECEIVED, source=source,
                       payload=payload.model_dump(mode="json", exclude_defaults=True))


def request_labels(
    host: Annotated[str | None, Query(max_length=255)] = None,
    service: Annotated[str | None, Query(max_length=255)] = None,
    label: Annotated[list[str], Query(description="key:value, repeatable")] = [],  # noqa: B006 - FastAPI query list
) -> dict[str, str]:
    return parse_labels(host, service, label)


def records_of(body: bytes, says_json: bool, source: str, labels: dict[str, str], request_bytes: int,
               settings: ApiSettings) -> tuple[int, list[Encoded]]:
    """The request's lines counted and their envelopes encoded for the stream, within its expansion limits (else 413
    before they are published): the CPU of the request, run on a thread for a large body."""
    lines = split_lines(body, says_json)
    if not lines:
        raise BadRequest("body: no log lines (send newline-delimited text or JSON lines)")
    messages = record_messages(lines)
    check_least_size(messages, request_bytes, settings)
    return len(lines), within_expansion_limits(to_envelopes(source, messages, labels), request_bytes, settings)


@router.post("/webhooks/logs", status_code=status.HTTP_202_ACCEPTED, operation_id="webhook_logs")
async def receive_logs(request: Request, source: LogsSource, bus: BusDep, settings: SettingsDep,
                       labels: Annotated[dict[str, str], Depends(request_labels)]) -> LogsAccepted:
    body = await read_body(request, settings.max_body_bytes)
    request_bytes = len(body) + len(request.url.query)  # the query's labels are stored too
    read = (body, _is_json_type(request.headers.get("content-type", "")), source.name, labels, request_bytes, settings)
    accepted, encoded = (await asyncio.get_running_loop().run_in_executor(_builders, records_of, *read)
                         if len(body) > OFF_LOOP_BYTES else records_of(*read))
    await bus.publish_encoded(LOGS_INGESTED, encoded)
    return LogsAccepted(accepted=accepted, event_ids=[e.envelope.id for e in encoded])
