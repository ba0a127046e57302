"""The one event envelope that travels on every stream.

A stream entry holds the envelope as JSON in its `envelope` field, but for the payload members RAW_FIELDS names:
those travel beside it as raw UTF-8, each in a field of its own (`payload.<member>`), and `from_entry` puts them
back, so every reader sees the same envelope. Metric line protocol is such a member: a thousand lines of text,
whose newlines and quotes JSON would escape on the way in and unescape on the way out (the metrics writer spent
most of its CPU decoding them).
"""

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
# The field of a stream entry that holds the serialised envelope.
ENTRY_FIELD = b"envelope"
# Payload members that travel as raw UTF-8 in a field of their own when they are text: field -> member.
RAW_FIELDS = {b"payload.lines": "lines"}  # MetricsPayload.lines: line protocol
ENVELOPE_FIELDS = frozenset({ENTRY_FIELD, *RAW_FIELDS})  # the fields of an entry that hold its envelope
# Levels of arrays and objects a stream entry holds at most: orjson writes no deeper (it raises).
MAX_NESTING = 254


# A random UUID's version (4) and variant (RFC 4122) bits, set as uuid.UUID(version=4) sets them.
_UUID4_CLEAR = ~(0xF000 << 64 | 0xC000 << 48)
_UUID4_SET = 0x4000 << 64 | 0x8000 << 48


def new_event_id() -> str:
    """uuid4().hex without building a UUID object, whose __init__ took 40 % of building an alert's envelope."""
    return f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"


def nests_within(value: Any, levels: int) -> bool:
    """Whether `value` nests at most `levels` levels of objects and arrays (itself counted: a scalar nests 0), for
    `levels` from 0 to MAX_NESTING. One orjson write in C of the value put MAX_NESTING - `levels` levels down: orjson
    writes MAX_NESTING levels and refuses more. A value orjson cannot write for another reason (an integer past 64
    bits: none that orjson parsed) is not refused here."""
    wrapped: Any = value
    for _ in range(MAX_NESTING - levels):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError as exc:
        return "Recursion limit" not in str(exc)
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnencodableEnvelope(ValueError):
    """The payload holds a value JSON on the stream cannot carry; nothing was published."""


class Envelope(BaseModel):
    id: str = Field(default_factory=new_event_id)
    type: str  # `domain.past_tense`, e.g. alert.received
    source: str  # the source (integration) name that produced it
    time: datetime = Field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION
    trace: dict[str, str] = Field(default_factory=dict)  # W3C trace context: traceparent, tracestate
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_entry(self) -> dict[bytes, bytes]:
        raw = {field: name for field, name in RAW_FIELDS.items() if isinstance(self.payload.get(name), str | bytes)}
        try:
            document = self.model_dump(mode="json", exclude={"payload": set(raw.values())})
            members = {field: _utf8(self.payload[name]) for field, name in raw.items()}
            return {ENTRY_FIELD: orjson.dumps(document), **members}
        except (TypeError, UnicodeEncodeError) as exc:  # an integer beyond 64 bits, an unpaired surrogate
            raise UnencodableEnvelope(f"payload: {exc}") from exc

    @classmethod
    def from_entry(cls, fields: Mapping[bytes, bytes], text: bool = True) -> "Envelope":
        """Decode a stream entry; raises ValueError (pydantic's ValidationError is one) when it is not ours. Without
        `text`, the raw payload members stay the bytes read (a consumer that sends them on as they are)."""
        return cls.model_validate(entry_document(fields, text))


def _utf8(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def entry_document(fields: Mapping[bytes, bytes], text: bool = True) -> Any:
    """A stream entry's envelope as parsed JSON, its raw payload members put back (decoded with `text`), not
    validated; raises ValueError (orjson's decode error and UnicodeDecodeError are ones) when the entry holds none."""
    raw = fields.get(ENTRY_FIELD)
    if raw is None:
        raise ValueError("stream entry has no envelope field")
    document = orjson.loads(raw)
    payload = document.get("payload") if isinstance(document, dict) else None
    if isinstance(payload, dict):
        for field, name in RAW_FIELDS.items():
            if field in fields:
                payload[name] = fields[field].decode() if text else fields[field]
    return document
