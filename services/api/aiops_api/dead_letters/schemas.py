"""API models of dead letters: entries a worker task gave up on, per stream."""

from typing import Any

from pydantic import BaseModel


class DeadLetterStream(BaseModel):
    stream: str  # the stream the entries came from, e.g. aiops:alerts:ingested
    count: int  # entries in its dead-letter stream


class DeadLetterRead(BaseModel):
    id: str  # the entry id in `<stream>:dead`
    stream: str
    original_id: str  # the entry id it had in the stream
    group: str  # the consumer group (worker task) that gave up on it
    error: str
    envelope: dict[str, Any] | None  # the decoded envelope (id, type, source, time, payload), None when undecodable
    raw: dict[str, str]  # the entry's other fields as text (an undecodable entry's content), cut at 2,000 characters


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: str | None  # pass as `before` for older entries


class DeadLetterRedriven(BaseModel):
    id: str  # the entry's new id in the stream
    stream: str
