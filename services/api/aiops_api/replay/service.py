"""Dry-run replays: record the run (audited), ask the worker for it, read runs back. The replay itself runs in
the worker (aiops_worker/replay/): the API only validates, records and publishes."""

import uuid
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.errors import NotFound
from aiops_api.replay.schemas import ReplayRead
from aiops_contracts.bus import Bus, StreamBacklogFull
from aiops_contracts.db import ReplayRun
from aiops_contracts.envelope import Envelope
from aiops_contracts.replay import REPLAY_REQUESTED, ReplayParams, ReplayRequestedPayload, ReplayStatus
from aiops_contracts.streams import REPLAY_REQUESTED as REPLAY_STREAM


async def start_replay(session: AsyncSession, bus: Bus, *, params: ReplayParams, actor: str) -> ReplayRead:
    """Committed before it is published, so the worker always finds the run it is asked for; marked failed when
    publishing is refused."""
    run = ReplayRun(id=uuid.uuid4(), requested_by=actor, status=ReplayStatus.queued,
                    params=params.model_dump(mode="json"), error="")
    session.add(run)
    await record_change(session, actor=actor, action="replay.started", entity=("replay_run", str(run.id)),
                        before=None, after=run.params)
    await session.commit()
    await session.refresh(run)
    try:
        await bus.publish(REPLAY_STREAM, Envelope(type=REPLAY_REQUESTED, source="api",
                                                  payload=ReplayRequestedPayload(run_id=str(run.id)).model_dump()))
    except (RedisError, OSError, StreamBacklogFull) as exc:
        # Refused (the caller gets 503): no worker will ever replay this run, so it must not stay `queued`.
        run.status, run.finished_at = ReplayStatus.failed, datetime.now(UTC)
        run.error = f"not handed to the worker: {exc}"
        await session.commit()
        raise
    return ReplayRead.model_validate(run)


async def list_replays(session: AsyncSession, *, limit: int) -> list[ReplayRead]:
    runs = await session.scalars(select(ReplayRun).order_by(ReplayRun.created_at.desc(), ReplayRun.id).limit(limit))
    return [ReplayRead.model_validate(run) for run in runs]


async def get_replay(session: AsyncSession, *, run_id: uuid.UUID) -> ReplayRead:
    run = await session.get(ReplayRun, run_id)
    if run is None:
        raise NotFound(f"replay {run_id} not found")
    return ReplayRead.model_validate(run)
