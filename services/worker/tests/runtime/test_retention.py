"""Retention: old idempotency-ledger rows and the refresh tokens of ended sign-ins are deleted, in batches;
fresh rows, and every token of a live sign-in, stay."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from aiops_contracts.db import ProcessedEvent, RefreshToken, User
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.retention import RetentionTask
from aiops_worker.settings import WorkerSettings

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


async def test_ledger_rows_older_than_the_retention_are_deleted(worker_ctx: WorkerContext) -> None:
    retention = timedelta(seconds=worker_ctx.settings.processed_events_retention_s)
    async with worker_ctx.sessions() as session, session.begin():
        session.add_all([ProcessedEvent(event_id=f"old-{n}", handler="logs-mining", handled_at=NOW - retention - DAY)
                         for n in range(7)])
        session.add_all([ProcessedEvent(event_id=f"fresh-{n}", handler=handler, handled_at=NOW - retention + DAY)
                         for n in range(3) for handler in ("logs-mining", "alerts-store")])
    task = RetentionTask(worker_ctx)
    task.batch_rows = 3  # several batches, the last one not full
    assert await task.prune(asyncio.Event(), now=NOW) == 7
    async with worker_ctx.sessions() as session:
        left = (await session.scalars(select(ProcessedEvent.event_id))).all()
    assert sorted(set(left)) == ["fresh-0", "fresh-1", "fresh-2"] and len(left) == 6


async def test_refresh_tokens_go_once_their_whole_sign_in_ended_long_enough_ago(worker_ctx: WorkerContext) -> None:
    retention = timedelta(seconds=worker_ctx.settings.processed_events_retention_s)
    long_ago = NOW - retention - DAY
    user = User(id=uuid.uuid4(), username="ops", password_hash="x", role="viewer")

    def sign_in(*tokens: dict) -> list[RefreshToken]:
        family = uuid.uuid4()
        return [RefreshToken(id=uuid.uuid4(), user_id=user.id, family_id=family, token_hash="h",
                             created_at=long_ago - DAY, **token) for token in tokens]

    expired = sign_in({"expires_at": long_ago, "rotated_at": long_ago - DAY}, {"expires_at": long_ago})
    revoked = sign_in({"expires_at": NOW + DAY, "revoked_at": long_ago})
    # A rotated token long expired, in a sign-in whose current token lives: presented again, it must still
    # revoke the sign-in.
    live = sign_in({"expires_at": long_ago, "rotated_at": long_ago}, {"expires_at": NOW + DAY})
    recently_revoked = sign_in({"expires_at": NOW + DAY, "revoked_at": NOW - DAY})
    async with worker_ctx.sessions() as session, session.begin():
        session.add(user)
        await session.flush()
        session.add_all([*expired, *revoked, *live, *recently_revoked])
    assert await RetentionTask(worker_ctx).prune(asyncio.Event(), now=NOW) == 3
    async with worker_ctx.sessions() as session:
        left = set((await session.scalars(select(RefreshToken.id))).all())
    assert left == {t.id for t in [*live, *recently_revoked]}


def test_retention_shorter_than_the_redelivery_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="redelivery window"):
        WorkerSettings(stream_claim_idle_ms=60_000, stream_max_deliveries=5, processed_events_retention_s=300)
