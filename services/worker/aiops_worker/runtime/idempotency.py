"""The idempotency ledger: a handler claims its event ids in the same transaction as its writes."""

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import ProcessedEvent

# One short statement whatever the batch size (the ids travel as one array parameter).
_CLAIM = (
    insert(ProcessedEvent.__table__)  # a Core insert: ORM "bulk" mode would read the parameters as rows
    .from_select(["event_id", "handler"],
                 select(func.unnest(bindparam("ids", type_=ARRAY(String))), bindparam("handler", type_=String)))
    .on_conflict_do_nothing()
    .returning(ProcessedEvent.event_id)
)


async def claim_new_events(session: AsyncSession, handler: str, event_ids: list[str]) -> set[str]:
    """Record event ids as handled by `handler`; returns those not handled before (insert-or-ignore).

    A set: an id given twice comes back once, so each id must be in `event_ids` once for a caller that tests its
    deliveries against the set (StreamConsumer hands over each envelope once per batch)."""
    if not event_ids:
        return set()
    return set((await session.scalars(_CLAIM, {"ids": event_ids, "handler": handler})).all())
