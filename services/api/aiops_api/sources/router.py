"""HTTP routes of sources: admins create them (the token is shown once, with ready-to-paste snippets), list
and revoke them, and get their snippets again (with a token placeholder). Polled sources are created the same
way (with a target, interval, credentials and labels, and no token), changed with PATCH, listed with their
health, and their connection tested by a worker."""

import uuid

from fastapi import APIRouter, status

from aiops_api.deps import Admin, BusDep, RedisDep, SecretBoxDep, SessionDep, SettingsDep
from aiops_api.sources import service
from aiops_api.sources.schemas import SourceCreate, SourceCreated, SourceRead, SourceSnippets, SourceUpdate
from aiops_contracts.pollers import ConnectionCheck

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_source")
async def create_source(
    data: SourceCreate, session: SessionDep, settings: SettingsDep, box: SecretBoxDep, user: Admin
) -> SourceCreated:
    return await service.create_source(session, data=data, actor=user.subject, public_url=settings.public_url, box=box)


@router.get("", operation_id="list_sources")
async def list_sources(session: SessionDep, redis: RedisDep, settings: SettingsDep, _: Admin) -> list[SourceRead]:
    """Every source; polled ones with their health (None until a worker polled them)."""
    return await service.list_sources(session, redis, settings)


@router.patch("/{source_id}", operation_id="update_source",
              responses={400: {"description": "Not a polled source, or the change is invalid"}})
async def update_source(source_id: uuid.UUID, data: SourceUpdate, session: SessionDep, box: SecretBoxDep,
                        user: Admin) -> SourceRead:
    """Change a polled source (enable, disable, target, interval, config, credentials, labels); the worker
    polling it restarts its poller within WORKER poller_reconcile_s."""
    return await service.update_source(session, source_id=source_id, data=data, actor=user.subject, box=box)


@router.post("/{source_id}/test", operation_id="test_source",
             responses={400: {"description": "Not a polled source"}, 503: {"description": "No worker answered"}})
async def test_source(source_id: uuid.UUID, session: SessionDep, bus: BusDep, _: Admin) -> ConnectionCheck:
    """Test a polled source's connection from a worker: DNS, TCP, TLS, then auth and protocol; the steps say
    exactly which one failed and why."""
    return await service.test_source(session, bus, source_id=source_id)


@router.delete("/{source_id}", operation_id="revoke_source")
async def revoke_source(source_id: uuid.UUID, session: SessionDep, user: Admin) -> SourceRead:
    return await service.revoke_source(session, source_id=source_id, actor=user.subject)


@router.get("/{source_id}/snippets", operation_id="get_source_snippets",
            responses={404: {"description": "No such source"}})
async def get_source_snippets(source_id: uuid.UUID, session: SessionDep, settings: SettingsDep,
                              _: Admin) -> SourceSnippets:
    """Configuration for the source's tool, pointing at PUBLIC_URL, with `<token>` for the token."""
    return await service.get_source_snippets(session, source_id=source_id, public_url=settings.public_url)
