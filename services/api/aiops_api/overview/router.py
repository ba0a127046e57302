"""HTTP route of the dashboard's overview."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from aiops_api.deps import SessionDep, Viewer
from aiops_api.overview import service
from aiops_api.overview.schemas import Overview

router = APIRouter(prefix="/api/v1/overview", tags=["overview"])

MAX_HOURS = 168


@router.get("", operation_id="get_overview")
async def get_overview(request: Request, session: SessionDep, _: Viewer,
                       hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="Window, in whole hours")] = 24,
                       ) -> Overview:
    """Open incidents by severity, hourly alert volume, noise reduction (events → alerts → incidents), the
    noisiest sources, the soonest exhaustion predictions and each store's health, over the last `hours`
    (see aiops_api/overview/service.py for what each figure counts)."""
    return await service.get_overview(session, state=request.app.state, hours=hours)
