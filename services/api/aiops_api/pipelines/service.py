"""Queries of the pipelines domain (read only: the worker writes)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.errors import NotFound
from aiops_api.pagination import page, split_page
from aiops_api.pipelines.schemas import (
    Dimension,
    ForecastPoint,
    PipelineAnomaly,
    PipelineDetail,
    PipelineForecasts,
    PipelineRca,
    PipelineRead,
    RunPage,
    RunRead,
    SeriesForecast,
)
from aiops_contracts.db import Alert, Pipeline, PipelineRun, PipelineScore
from aiops_contracts.db.pipelines import RUN_AT
from aiops_contracts.pipelines import PIPELINES_SOURCE

RUNS = PipelineRun.__table__


async def _latest_scores(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, PipelineScore]:
    rows = await session.scalars(select(PipelineScore).ext(distinct_on(PipelineScore.pipeline_id))
                                 .where(PipelineScore.pipeline_id.in_(ids))
                                 .order_by(PipelineScore.pipeline_id, PipelineScore.day.desc()))
    return {row.pipeline_id: row for row in rows}


async def _summaries(session: AsyncSession, pipelines: list[Pipeline]) -> list[PipelineRead]:
    ids = [p.id for p in pipelines]
    since = datetime.now(UTC) - timedelta(days=7)
    counts = dict((pid, (n, f)) for pid, n, f in (await session.execute(
        select(PipelineRun.pipeline_id, func.count(),
               func.coalesce(func.sum(PipelineRun.features["failed"].as_integer()), 0).cast(Integer))
        .where(PipelineRun.pipeline_id.in_(ids), PipelineRun.finished_at >= since)
        .group_by(PipelineRun.pipeline_id))).all())
    last = {run.pipeline_id: run for run in await session.scalars(
        select(PipelineRun).ext(distinct_on(PipelineRun.pipeline_id)).where(PipelineRun.pipeline_id.in_(ids))
        .order_by(PipelineRun.pipeline_id, PipelineRun.started_at.desc().nulls_last()))}
    scores = await _latest_scores(session, ids)
    return [PipelineRead(
        id=p.id, provider=p.provider, key=p.key, name=p.name, source=p.source, url=p.url,
        score=scores[p.id].score if p.id in scores else None, grade=scores[p.id].grade if p.id in scores else None,
        scored_on=scores[p.id].day if p.id in scores else None, builds_7d=counts.get(p.id, (0, 0))[0],
        failed_7d=counts.get(p.id, (0, 0))[1],
        last_run=RunRead.model_validate(last[p.id]) if p.id in last else None) for p in pipelines]


async def list_pipelines(session: AsyncSession) -> list[PipelineRead]:
    return await _summaries(session, list(await session.scalars(select(Pipeline).order_by(Pipeline.name))))


async def _pipeline(session: AsyncSession, pipeline_id: uuid.UUID) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(f"pipeline_id: no pipeline {pipeline_id}")
    return pipeline


async def get_pipeline(session: AsyncSession, *, pipeline_id: uuid.UUID) -> PipelineDetail:
    pipeline = await _pipeline(session, pipeline_id)
    (summary,) = await _summaries(session, [pipeline])
    score = (await _latest_scores(session, [pipeline_id])).get(pipeline_id)
    open_anomalies = await session.scalar(select(func.count()).select_from(Alert).where(
        Alert.source == PIPELINES_SOURCE, Alert.labels["pipeline_id"].astext == str(pipeline_id),
        Alert.status == "firing"))
    return PipelineDetail(**summary.model_dump(), open_anomalies=open_anomalies or 0,
                          dimensions=[Dimension(**d) for d in (score.dimensions if score else [])])


async def list_runs(session: AsyncSession, *, pipeline_id: uuid.UUID, limit: int, cursor: str | None) -> RunPage:
    """Newest first by RUN_AT, then id (one range of ix_pipeline_runs_pipeline_id_run_at_id): runs sharing a start
    second each come once across pages."""
    await _pipeline(session, pipeline_id)
    query = select(RUNS, RUN_AT.label("run_at")).where(RUNS.c.pipeline_id == pipeline_id)
    rows = (await session.execute(page(query, RUN_AT, RUNS.c.id, cursor, limit))).all()
    items, next_cursor = split_page(rows, limit, "run_at")
    return RunPage(items=[RunRead.model_validate(r) for r in items], next_cursor=next_cursor)


async def list_anomalies(session: AsyncSession, *, pipeline_id: uuid.UUID, limit: int) -> list[PipelineAnomaly]:
    await _pipeline(session, pipeline_id)
    alerts = await session.scalars(select(Alert).where(
        Alert.source == PIPELINES_SOURCE, Alert.labels["pipeline_id"].astext == str(pipeline_id))
        .order_by(Alert.last_seen_at.desc()).limit(limit))
    return [PipelineAnomaly(alert_id=a.id, kind=a.labels.get("kind", ""), title=a.title, severity=a.severity,
                            status=a.status, description=a.description, first_seen_at=a.first_seen_at,
                            last_seen_at=a.last_seen_at, count=a.count, incident_id=a.incident_id,
                            details=a.details or {}) for a in alerts]


async def get_forecasts(session: AsyncSession, *, pipeline_id: uuid.UUID) -> PipelineForecasts:
    await _pipeline(session, pipeline_id)
    score = (await _latest_scores(session, [pipeline_id])).get(pipeline_id)
    if score is None:
        return PipelineForecasts(computed_at=None, series=[])
    return PipelineForecasts(computed_at=score.computed_at, series=[_series(name, f)
                                                                     for name, f in score.forecasts.items()])


def _series(name: str, forecast: dict[str, Any]) -> SeriesForecast:
    return SeriesForecast(metric=name, method=forecast["method"], interval=forecast["interval"],
                          backtest_smape=forecast["backtest_smape"],
                          points=[ForecastPoint(ts=t, value=y, lower=lo, upper=hi) for t, y, lo, hi in forecast["points"]])


async def get_rca(session: AsyncSession, *, pipeline_id: uuid.UUID) -> PipelineRca:
    await _pipeline(session, pipeline_id)
    score = (await _latest_scores(session, [pipeline_id])).get(pipeline_id)
    if score is None or not score.rca:
        raise NotFound(f"pipeline_id: no root-cause analysis for {pipeline_id} (no build anomaly in the last 7 days)")
    rca = score.rca
    return PipelineRca(computed_at=score.computed_at, anomaly=rca["anomaly"], metric=rca["metric"],
                       onset_at=datetime.fromtimestamp(rca["onset_ts"], UTC), before=rca["before"], after=rca["after"],
                       causes=rca["causes"], checks=rca["checks"], narrative=rca.get("narrative", ""),
                       narrative_by=rca.get("narrative_by", "template"))
