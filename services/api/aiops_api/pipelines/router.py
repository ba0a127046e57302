"""HTTP routes of CI/CD pipelines: the list with health grades, a pipeline, its runs, anomalies, 7-day
forecasts and root-cause analysis (viewers)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from aiops_api.deps import SessionDep, Viewer
from aiops_api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aiops_api.pipelines import service
from aiops_api.pipelines.schemas import (
    PipelineAnomaly,
    PipelineDetail,
    PipelineForecasts,
    PipelineRca,
    PipelineRead,
    RunPage,
)

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
NOT_FOUND = {404: {"description": "No such pipeline"}}
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("", operation_id="list_pipelines")
async def list_pipelines(session: SessionDep, _: Viewer) -> list[PipelineRead]:
    """Every pipeline with its latest health score and grade, builds and failures of the last 7 days."""
    return await service.list_pipelines(session)


@router.get("/{pipeline_id}", operation_id="get_pipeline", responses=NOT_FOUND)
async def get_pipeline(pipeline_id: uuid.UUID, session: SessionDep, _: Viewer) -> PipelineDetail:
    """A pipeline with its health dimensions (score, weight, explanation, trend)."""
    return await service.get_pipeline(session, pipeline_id=pipeline_id)


@router.get("/{pipeline_id}/runs", operation_id="list_pipeline_runs", responses=NOT_FOUND)
async def list_pipeline_runs(pipeline_id: uuid.UUID, session: SessionDep, _: Viewer, limit: Limit = DEFAULT_LIMIT,
                             cursor: str | None = None) -> RunPage:
    """Runs newest first (by start, or by queue time for a run not started yet), with their build features;
    `cursor` (the page's `next_cursor`) pages back."""
    return await service.list_runs(session, pipeline_id=pipeline_id, limit=limit, cursor=cursor)


@router.get("/{pipeline_id}/anomalies", operation_id="list_pipeline_anomalies", responses=NOT_FOUND)
async def list_pipeline_anomalies(pipeline_id: uuid.UUID, session: SessionDep, _: Viewer,
                                  limit: Limit = DEFAULT_LIMIT) -> list[PipelineAnomaly]:
    """The pipeline's alerts (failed builds, slow builds, failure spikes, queue congestion, pattern changes)."""
    return await service.list_anomalies(session, pipeline_id=pipeline_id, limit=limit)


@router.get("/{pipeline_id}/forecast", operation_id="get_pipeline_forecast", responses=NOT_FOUND)
async def get_pipeline_forecast(pipeline_id: uuid.UUID, session: SessionDep, _: Viewer) -> PipelineForecasts:
    """7-day forecasts of the daily failure rate and mean duration, 95 % intervals, backtest vs seasonal naive."""
    return await service.get_forecasts(session, pipeline_id=pipeline_id)


@router.get("/{pipeline_id}/rca", operation_id="get_pipeline_rca", responses=NOT_FOUND)
async def get_pipeline_rca(pipeline_id: uuid.UUID, session: SessionDep, _: Viewer) -> PipelineRca:
    """Root-cause analysis of the latest build anomaly (last 7 days): causes ranked, series checks, narrative."""
    return await service.get_rca(session, pipeline_id=pipeline_id)
