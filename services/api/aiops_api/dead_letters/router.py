"""HTTP routes of dead letters (admin): streams with their counts, a stream's entries, one entry, re-drive."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, StringConstraints

from aiops_api.dead_letters import service
from aiops_api.dead_letters.schemas import DeadLetterPage, DeadLetterRead, DeadLetterRedriven, DeadLetterStream
from aiops_api.deps import Admin, BusDep, SessionDep

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead-letters"])
ENTRY_ID = r"^\d{1,20}-\d{1,20}$"  # a Redis stream entry id: milliseconds-sequence, each an unsigned 64-bit number
U64_MAX = 2**64 - 1


def _within_64_bits(entry_id: str) -> str:
    """Twenty digits reach past 2^64: Redis would refuse the id with an error, not an empty answer."""
    if any(int(part) > U64_MAX for part in entry_id.split("-")):
        raise ValueError(f"each part of a stream entry id is at most {U64_MAX}")
    return entry_id


EntryId = Annotated[str, StringConstraints(pattern=ENTRY_ID), AfterValidator(_within_64_bits)]
NOT_FOUND = {404: {"description": "No such stream or dead letter"}}


@router.get("", operation_id="list_dead_letter_streams")
async def list_dead_letter_streams(bus: BusDep, _: Admin) -> list[DeadLetterStream]:
    """Every stream with the number of entries in its dead-letter stream (`<stream>:dead`)."""
    return await service.list_streams(bus)


@router.get("/{stream}", operation_id="list_dead_letters", responses=NOT_FOUND)
async def list_dead_letters(stream: str, bus: BusDep, _: Admin,
                            before: EntryId | None = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> DeadLetterPage:
    """The stream's dead letters, newest first; `before` (an entry id, `next_cursor`) pages to older ones."""
    return await service.list_dead_letters(bus, stream=service.stream_of(stream), before=before, limit=limit)


@router.get("/{stream}/{entry_id}", operation_id="get_dead_letter", responses=NOT_FOUND)
async def get_dead_letter(stream: str, entry_id: EntryId, bus: BusDep, _: Admin) -> DeadLetterRead:
    return await service.get_dead_letter(bus, stream=service.stream_of(stream), entry_id=entry_id)


@router.post("/{stream}/{entry_id}/redrive", operation_id="redrive_dead_letter", responses=NOT_FOUND)
async def redrive_dead_letter(stream: str, entry_id: EntryId, session: SessionDep, bus: BusDep,
                              user: Admin) -> DeadLetterRedriven:
    """Move the entry back onto its stream for its consumers to handle again (audited)."""
    return await service.redrive(session, bus, stream=service.stream_of(stream), entry_id=entry_id, actor=user.subject)
