"""The idempotency ledger: a handler claims its event ids in the same transaction as its writes."""

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import ProcessedEvent
from aiops_worker.runtime.bulk import rows_param, rows_select

# One short statement whatever the batch size, in every task that claims, for each event: the claims travel as one
# JSONB parameter (runtime/bulk.py) and the new ids come back as one JSON array, where psycopg dumped an array of ids
# element by element and SQLAlchemy read back a row per id (together a third less CPU per id claimed).
_COLUMNS = [ProcessedEvent.__table__.c.event_id, ProcessedEvent.__table__.c.handler]
_CLAIMED = (
    insert(ProcessedEvent.__table__)  # a Core insert: ORM "bulk" mode would read the parameters as rows
    .from_select([c.name for c in _COLUMNS], rows_select(_COLUMNS))
    .on_conflict_do_nothing()
    .returning(ProcessedEvent.event_id)
    .cte("claimed")
)
_CLAIM = select(cast(func.coalesce(func.jsonb_agg(_CLAIMED.c.event_id), func.jsonb_build_array()), Text))


async def claim_new_events(session: AsyncSession, handler: str, event_ids: list[str]) -> set[str]:
    """Record event ids as handled by `handler`; returns those not handled before (insert-or-ignore).

    A set: an id given twice comes back once, so each id must be in `event_ids` once for a caller that tests its
    deliveries against the set (StreamConsumer hands over each envelope once per batch)."""
    if not event_ids:
        return set()
    claims = [{"event_id": event_id, "handler": handler} for event_id in event_ids]
    return set(orjson.loads(await session.scalar(_CLAIM, rows_param(claims))))
