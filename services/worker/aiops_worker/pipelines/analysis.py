"""`pipelines-analysis`: every `pipelines_analysis_interval_s`, per pipeline with builds in the last 90 days,
the health score and grade (health.py), the 7-day forecasts (forecast.py) and, for a degraded pipeline (a build
anomaly in the last `RCA_DAYS` days), the root-cause analysis of the latest anomaly (rca.py) with its narrative;
upserted as today's row of `pipeline_scores`, which the API reads. Recomputed from the stored builds each
time, so a run cut short is simply redone."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from aiops_contracts.db import Pipeline, PipelineRun, PipelineScore
from aiops_contracts.llm.client import LLMClient
from aiops_worker.pipelines.detection import detect
from aiops_worker.pipelines.features import Build
from aiops_worker.pipelines.forecast import forecasts
from aiops_worker.pipelines.health import health
from aiops_worker.pipelines.narrative import written
from aiops_worker.pipelines.rca import analyse
from aiops_worker.pipelines.store import recent_builds
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask

DAY_S = 86_400.0
HISTORY_DAYS = 90
RCA_DAYS = 7
MAX_BUILDS = 3_000


def analysis_of(builds: list[Build], now: float) -> dict[str, Any] | None:
    """Health, forecasts and, when an anomaly opened in the last RCA_DAYS, the RCA of the latest one."""
    scored = health(builds, now)
    if scored is None:
        return None
    recent = [a for a in detect(builds) if a.ts >= now - RCA_DAYS * DAY_S]
    rca = None
    if recent:
        latest = recent[-1]
        rca = {**analyse(builds[:latest.index + 1], latest.index, latest.kind).to_json(), "anomaly": latest.kind}
    return {**scored, "forecasts": forecasts(builds), "rca": rca}


class PipelineAnalysisTask(PeriodicTask):
    name = "pipelines-analysis"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx.settings.pipelines_analysis_interval_s)
        self.ctx = ctx
        self.llm = LLMClient(ctx.settings, ctx.redis)

    async def stopped(self) -> None:
        await self.llm.aclose()

    async def tick(self, stop: asyncio.Event) -> None:
        await self.run_once()

    async def run_once(self, now: datetime | None = None) -> int:
        """Scores every active pipeline; returns how many it scored."""
        moment = now or datetime.now(UTC)
        since = datetime.fromtimestamp(moment.timestamp() - HISTORY_DAYS * DAY_S, UTC)
        async with self.ctx.sessions() as session:
            active = (await session.execute(
                select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_(
                    select(PipelineRun.pipeline_id).where(PipelineRun.finished_at >= since))))).all()
        scored = 0
        for pipeline_id, name in active:
            scored += await self._score(pipeline_id, name, moment)
        return scored

    async def _score(self, pipeline_id: uuid.UUID, name: str, moment: datetime) -> bool:
        async with self.ctx.sessions() as session:
            builds = await recent_builds(session, pipeline_id, MAX_BUILDS, with_tests=True)
        builds = [b for b in builds if b.ts <= moment.timestamp()]
        # Detection, forecasts and RCA are CPU work: a thread keeps the event loop responsive.
        result = await asyncio.to_thread(analysis_of, builds, moment.timestamp())
        if result is None:
            return False
        if result["rca"]:
            result["rca"]["narrative"], result["rca"]["narrative_by"] = await written(self.llm, name, result["rca"])
        values = {"computed_at": moment, "score": result["score"], "grade": result["grade"],
                  "dimensions": result["dimensions"], "forecasts": result["forecasts"], "rca": result["rca"]}
        async with self.ctx.sessions.begin() as session:
            await session.execute(insert(PipelineScore).values(pipeline_id=pipeline_id, day=moment.date(), **values)
                                  .on_conflict_do_update(index_elements=["pipeline_id", "day"], set_=values))
        return True

