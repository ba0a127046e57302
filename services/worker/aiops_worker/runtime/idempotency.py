"""The idempotency ledger: a handler claims its event ids in the same transaction as its writes."""

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import ProcessedEvent


async def claim_new_events(session: AsyncSession, handler: str, event_ids: list[str]) -> set[str]:
    """Record event ids as handled by `handler`; returns those not handled before (insert-or-ignore)."""
    if not event_ids:
        return set()
    stmt = insert(ProcessedEvent).on_conflict_do_nothing().returning(ProcessedEvent.event_id)
    # executemany form: compiled once and cached, whatever the batch size.
    rows = [{"event_id": e, "handler": handler} for e in event_ids]
    return set((await session.scalars(stmt, rows)).all())
