"""Recording changes made through the API, in the caller's transaction, and reading them back."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.schemas import AuditEntryRead, AuditFilter, AuditPage
from aiops_api.pagination import page, split_page
from aiops_contracts.db import AuditEntry


async def record_change(
    session: AsyncSession, *, actor: str, action: str, entity: tuple[str, str],
    before: dict[str, Any] | None, after: dict[str, Any] | None,
) -> None:
    entity_type, entity_id = entity
    session.add(AuditEntry(actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                           before=before, after=after))


async def list_audit_entries(session: AsyncSession, *, filters: AuditFilter, cursor: str | None, limit: int) -> AuditPage:
    stmt = select(AuditEntry)
    for field in ("actor", "action", "entity_type", "entity_id"):
        value = getattr(filters, field)
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, field) == value)
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEntry.at < filters.until)
    rows = list((await session.scalars(page(stmt, AuditEntry.at, AuditEntry.id, cursor, limit))).all())
    items, next_cursor = split_page(rows, limit, "at")
    return AuditPage(items=[AuditEntryRead.model_validate(e) for e in items], next_cursor=next_cursor)
