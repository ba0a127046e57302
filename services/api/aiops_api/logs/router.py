"""HTTP routes of log intelligence: templates, prototypes, semantic search."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from aiops_api.deps import SessionDep, Viewer
from aiops_api.logs import service
from aiops_api.logs.schemas import PrototypeRead, SearchResult, TemplatePage
from aiops_api.logs.search import LogSearch

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])

Hours = Annotated[int, Query(ge=1, le=24 * 90, description="look back this many hours (trend and activity)")]
Limit = Annotated[int, Query(ge=1, le=500)]


def get_log_search(request: Request) -> LogSearch:
    return request.app.state.log_search


@router.get("/templates", operation_id="list_log_templates")
async def list_templates(session: SessionDep, _: Viewer, prototype_id: str | None = None, hours: Hours = 24,
                         limit: Limit = 100) -> TemplatePage:
    return await service.templates_page(session, prototype_id=prototype_id, hours=hours, limit=limit)


@router.get("/prototypes", operation_id="list_log_prototypes")
async def list_prototypes(session: SessionDep, _: Viewer, hours: Hours = 24, limit: Limit = 100) -> list[PrototypeRead]:
    return await service.list_prototypes(session, hours=hours, limit=limit)


@router.get("/search", operation_id="search_logs")
async def search_logs(request: Request, session: SessionDep, _: Viewer,
                      q: Annotated[str, Query(min_length=1, max_length=1000)],
                      limit: Annotated[int, Query(ge=1, le=100)] = 10) -> SearchResult:
    return await service.search(session, get_log_search(request), query=q, limit=limit)
