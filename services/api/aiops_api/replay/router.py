"""HTTP routes of dry-run replays (admin): start one, list them, read one with its diff."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from aiops_api.deps import Admin, BusDep, SessionDep
from aiops_api.replay import service
from aiops_api.replay.schemas import ReplayRead
from aiops_contracts.replay import ReplayRequest

router = APIRouter(prefix="/api/v1/replay", tags=["replay"])


@router.post("", operation_id="start_replay", status_code=status.HTTP_202_ACCEPTED)
async def start_replay(params: ReplayRequest, session: SessionDep, bus: BusDep, user: Admin) -> ReplayRead:
    """Replay the archive of [start, end) with candidate changes; the worker stores what would have fired
    compared with what did on the run (poll `GET /api/v1/replay/{id}` until `done` or `failed`)."""
    return await service.start_replay(session, bus, params=params, actor=user.subject)


@router.get("", operation_id="list_replays")
async def list_replays(session: SessionDep, _: Admin,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[ReplayRead]:
    """The latest replays, newest first."""
    return await service.list_replays(session, limit=limit)


@router.get("/{run_id}", operation_id="get_replay", responses={404: {"description": "No such replay"}})
async def get_replay(run_id: uuid.UUID, session: SessionDep, _: Admin) -> ReplayRead:
    return await service.get_replay(session, run_id=run_id)
