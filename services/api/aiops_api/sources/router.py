"""HTTP routes of sources: admins create them (the token is shown once), list and revoke them."""

import uuid

from fastapi import APIRouter, status

from aiops_api.deps import Admin, SessionDep
from aiops_api.sources import service
from aiops_api.sources.schemas import SourceCreate, SourceCreated, SourceRead

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_source")
async def create_source(data: SourceCreate, session: SessionDep, user: Admin) -> SourceCreated:
    return await service.create_source(session, data=data, actor=user.subject)


@router.get("", operation_id="list_sources")
async def list_sources(session: SessionDep, _: Admin) -> list[SourceRead]:
    return await service.list_sources(session)


@router.delete("/{source_id}", operation_id="revoke_source")
async def revoke_source(source_id: uuid.UUID, session: SessionDep, user: Admin) -> SourceRead:
    return await service.revoke_source(session, source_id=source_id, actor=user.subject)
