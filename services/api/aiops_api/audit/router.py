"""GET /api/v1/audit: the audit log, newest first, filtered and cursor-paginated; admins only."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.audit import service
from aiops_api.audit.schemas import AuditFilter, AuditPage
from aiops_api.deps import Admin, SessionDep
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", operation_id="list_audit_entries")
async def list_audit_entries(
    session: SessionDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity_type: Annotated[str | None, Query(max_length=50)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AuditPage:
    filters = AuditFilter(actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                          since=since, until=until)
    return await service.list_audit_entries(session, filters=filters, cursor=cursor, limit=limit)
