"""The one event envelope that travels on every stream."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
# The single field of a stream entry that holds the serialised envelope.
ENTRY_FIELD = b"envelope"


def new_event_id() -> str:
    return uuid4().hex


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
        try:
            return {ENTRY_FIELD: orjson.dumps(self.model_dump(mode="json"))}
        except TypeError as exc:  # orjson's encode error: an integer beyond 64 bits, an unpaired surrogate
            raise UnencodableEnvelope(f"payload: {exc}") from exc

    @classmethod
    def from_entry(cls, fields: dict[bytes, bytes]) -> "Envelope":
        """Decode a stream entry; raises ValueError (pydantic's ValidationError is one) when it is not ours."""
        raw = fields.get(ENTRY_FIELD)
        if raw is None:
            raise ValueError("stream entry has no envelope field")
        return cls.model_validate(orjson.loads(raw))
