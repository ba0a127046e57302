"""HTTP routes of sources: admins create them (the token is shown once, with ready-to-paste snippets), list
and revoke them, and get their snippets again (with a token placeholder)."""

import uuid

from fastapi import APIRouter, status

from aiops_api.deps import Admin, SecretBoxDep, SessionDep, SettingsDep
from aiops_api.sources import service
from aiops_api.sources.schemas import SourceCreate, SourceCreated, SourceRead, SourceSnippets

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_source")
async def create_source(
    data: SourceCreate, session: SessionDep, settings: SettingsDep, box: SecretBoxDep, user: Admin
) -> SourceCreated:
    return await service.create_source(session, data=data, actor=user.subject, public_url=settings.public_url, box=box)


@router.get("", operation_id="list_sources")
async def list_sources(session: SessionDep, _: Admin) -> list[SourceRead]:
    return await service.list_sources(session)


@router.delete("/{source_id}", operation_id="revoke_source")
async def revoke_source(source_id: uuid.UUID, session: SessionDep, user: Admin) -> SourceRead:
    return await service.revoke_source(session, source_id=source_id, actor=user.subject)


@router.get("/{source_id}/snippets", operation_id="get_source_snippets",
            responses={404: {"description": "No such source"}})
async def get_source_snippets(source_id: uuid.UUID, session: SessionDep, settings: SettingsDep,
                              _: Admin) -> SourceSnippets:
    """Configuration for the source's tool, pointing at PUBLIC_URL, with `<token>` for the token."""
    return await service.get_source_snippets(session, source_id=source_id, public_url=settings.public_url)
