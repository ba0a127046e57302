"""Dead letters (`<stream>:dead`): count, list and inspect them, and re-drive one onto its stream (audited).
All Redis access goes through the bus."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.dead_letters.schemas import DeadLetterPage, DeadLetterRead, DeadLetterRedriven, DeadLetterStream
from aiops_api.errors import NotFound
from aiops_contracts.bus import DEAD_LETTER_FIELDS, Bus
from aiops_contracts.envelope import ENVELOPE_FIELDS, entry_document
from aiops_contracts.streams import ALL_STREAMS, StreamSpec

RAW_MAX_CHARS = 2_000


def stream_of(name: str) -> StreamSpec:
    for stream in ALL_STREAMS:
        if stream.name == name:
            return stream
    raise NotFound(f"stream: no stream named {name!r}")


async def list_streams(bus: Bus) -> list[DeadLetterStream]:
    async with bus.redis.pipeline(transaction=False) as pipe:
        for stream in ALL_STREAMS:
            pipe.xlen(bus.dead_letter_key(stream))
        counts = await pipe.execute()
    return [DeadLetterStream(stream=s.name, count=c) for s, c in zip(ALL_STREAMS, counts, strict=True)]


async def list_dead_letters(bus: Bus, *, stream: StreamSpec, before: str | None, limit: int) -> DeadLetterPage:
    entries = await bus.dead_letters(stream, before=before, count=limit + 1)
    items = [_read(stream, entry_id, fields) for entry_id, fields in entries[:limit]]
    return DeadLetterPage(items=items, next_cursor=items[-1].id if len(entries) > limit else None)


async def get_dead_letter(bus: Bus, *, stream: StreamSpec, entry_id: str) -> DeadLetterRead:
    fields = await bus.dead_letter_entry(stream, entry_id)
    if fields is None:
        raise NotFound(f"dead letter {entry_id} not found in {stream.name}")
    return _read(stream, entry_id, fields)


async def redrive(session: AsyncSession, bus: Bus, *, stream: StreamSpec, entry_id: str, actor: str) -> DeadLetterRedriven:
    """Audited before the move and committed after it: a failed move leaves neither the entry moved nor the record."""
    letter = await get_dead_letter(bus, stream=stream, entry_id=entry_id)
    await record_change(session, actor=actor, action="dead_letter.redriven", entity=("dead_letter", entry_id),
                        before={"stream": stream.name, "group": letter.group, "error": letter.error[:500],
                                "event_id": (letter.envelope or {}).get("id")}, after=None)
    new_id = await bus.redrive(stream, entry_id)
    if new_id is None:  # another admin re-drove it meanwhile
        raise NotFound(f"dead letter {entry_id} not found in {stream.name}")
    await session.commit()
    return DeadLetterRedriven(id=new_id, stream=stream.name)


def _read(stream: StreamSpec, entry_id: str, fields: dict[bytes, bytes]) -> DeadLetterRead:
    envelope = _envelope(fields)
    shown = {k: v for k, v in fields.items()
             if k not in DEAD_LETTER_FIELDS and (k not in ENVELOPE_FIELDS or envelope is None)}
    text = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items() if k in DEAD_LETTER_FIELDS}
    return DeadLetterRead(
        id=entry_id, stream=stream.name, original_id=text.get("original_id", ""), group=text.get("group", ""),
        error=text.get("error", ""), envelope=envelope,
        raw={k.decode(errors="replace"): v.decode(errors="replace")[:RAW_MAX_CHARS] for k, v in shown.items()})


def _envelope(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    try:
        decoded = entry_document(fields)
    except ValueError:  # no envelope field, not JSON, a raw payload member not UTF-8
        return None
    return decoded if isinstance(decoded, dict) else None
