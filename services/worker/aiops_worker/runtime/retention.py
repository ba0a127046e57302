"""Retention of tables that would otherwise only grow: the idempotency ledger (`processed_events`, one row
per handled event and task) and the refresh tokens of sign-ins that ended.

A periodic task: at start and every PRUNE_INTERVAL_S it deletes what is older than `processed_events_retention_s`,
`batch_rows` rows per transaction, so locks stay short and the WAL comes in small pieces. A batch skips
rows another transaction holds locked: concurrent runs share the work instead of queueing on each other.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Delete, delete, func, select, tuple_

from aiops_contracts.db import ProcessedEvent, RefreshToken
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask

log = logging.getLogger(__name__)
PRUNE_INTERVAL_S = 300.0

# Core tables: an ORM delete would first fetch the deleted rows to keep the session in sync.
_LEDGER = ProcessedEvent.__table__
_TOKENS = RefreshToken.__table__


def _expired_events(cutoff: datetime, limit: int) -> Delete:
    batch = (select(_LEDGER.c.event_id, _LEDGER.c.handler).where(_LEDGER.c.handled_at < cutoff)
             .limit(limit).with_for_update(skip_locked=True))
    return delete(_LEDGER).where(tuple_(_LEDGER.c.event_id, _LEDGER.c.handler).in_(batch))


def _ended_sign_ins(cutoff: datetime, limit: int) -> Delete:
    """Tokens of sign-ins (families) whose every token expired or was revoked before `cutoff`. A live
    sign-in keeps its rotated tokens: one presented again must still revoke the sign-in."""
    ended = (select(_TOKENS.c.family_id).group_by(_TOKENS.c.family_id)
             # LEAST skips NULLs: a token ends when it expires or, if sooner, when it was revoked.
             .having(func.max(func.least(_TOKENS.c.expires_at, _TOKENS.c.revoked_at)) < cutoff))
    batch = select(_TOKENS.c.id).where(_TOKENS.c.family_id.in_(ended)).limit(limit).with_for_update(skip_locked=True)
    return delete(_TOKENS).where(_TOKENS.c.id.in_(batch))


class RetentionTask(PeriodicTask):
    name = "retention"
    batch_rows = 10_000  # rows deleted per transaction

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(PRUNE_INTERVAL_S)
        self.ctx = ctx
        self.settings = ctx.settings

    async def tick(self, stop: asyncio.Event) -> None:
        deleted = await self.prune(stop)
        if deleted:
            log.info("retention run done", extra={"task": self.name, "deleted": deleted})

    async def prune(self, stop: asyncio.Event, now: datetime | None = None) -> int:
        """Delete what outlived the retention, batch after batch until one is not full or `stop` is set;
        returns the number of rows deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.settings.processed_events_retention_s)
        deleted = 0
        for statement in (_expired_events(cutoff, self.batch_rows), _ended_sign_ins(cutoff, self.batch_rows)):
            while not stop.is_set():
                async with self.ctx.sessions() as session, session.begin():
                    count = (await session.execute(statement)).rowcount
                deleted += count
                if count < self.batch_rows:
                    break
        return deleted
