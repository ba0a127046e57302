"""pipelines-store and pipelines-analysis on real PostgreSQL, InfluxDB and Redis: 45 days of a pipeline whose
builds move to a slower runner (the bench's generator) go through the stream; the runs and their features are
stored, the build points reach InfluxDB, the failed builds and the slow-build anomaly become alerts (the same
ones again after a redelivery), and the analysis scores the pipeline and names the runner as the cause."""

import importlib.util
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aiops_contracts.db import PipelineRun, PipelineScore
from aiops_contracts.envelope import Envelope
from aiops_contracts.influx import InfluxClient, InfluxUnavailable
from aiops_contracts.pipelines import PIPELINE_RUN_RECEIVED, CommitIn, PipelineRunPayload, Provider
from aiops_contracts.streams import ALERTS_INGESTED, PIPELINES_RUNS
from aiops_worker.pipelines.analysis import PipelineAnalysisTask
from aiops_worker.pipelines.task import PipelineRunTask
from aiops_worker.runtime.consumer import Delivery

_spec = importlib.util.spec_from_file_location("pipelines_eval",
                                               Path(__file__).parents[4] / "scripts/bench/pipelines_eval.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["pipelines_eval"] = bench
_spec.loader.exec_module(bench)
DAYS = 45


def _runs(start: datetime) -> tuple[list[PipelineRunPayload], str]:
    history = bench.generate(3, DAYS, "runner_change")
    runs = []
    for n, build in enumerate(history.builds):
        finished = start + timedelta(seconds=float(build.ts))
        began = finished - timedelta(seconds=build.features["duration_s"])
        runs.append(PipelineRunPayload(
            provider=Provider.jenkins, pipeline_key="team/app", pipeline_name="team/app", external_id=str(n),
            number=n, status="completed", conclusion="failure" if build.features["failed"] else "success",
            runner=build.runner, queued_at=began - timedelta(seconds=build.features["queue_s"]), started_at=began,
            finished_at=finished, commit=CommitIn(sha=build.commit_sha, message=build.commit_message,
                                                  files=list(build.commit_files)),
            test_count=build.features["test_count"], failure_count=build.features["failure_count"]))
    return runs, history.injected.name


async def test_runs_become_rows_points_alerts_and_a_scored_analysis(worker_ctx, drain, sessions) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    runs, runner = _runs(now - timedelta(days=DAYS))
    envelopes = [Envelope(id=f"run-{r.external_id}", type=PIPELINE_RUN_RECEIVED, source="jenkins-main",
                          payload=r.model_dump(mode="json")) for r in runs]
    await worker_ctx.bus.publish_many(PIPELINES_RUNS, envelopes)
    await drain(PipelineRunTask(worker_ctx))

    async with sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(PipelineRun))
        last = await session.scalar(select(PipelineRun).order_by(PipelineRun.finished_at.desc()).limit(1))
    assert stored == len(runs) and last.runner == runner and last.features["queue_s"] > 0
    points = await worker_ctx.influx.query('SELECT count("duration_s") FROM "pipeline_builds"')
    assert points and points[0].rows()[0]["count"] >= len([r for r in runs if r.finished_at > now - timedelta(days=30)])

    alerts = [Envelope.from_entry(fields) for _, fields in await worker_ctx.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))]
    kinds = {a.payload["labels"]["kind"] for a in alerts}
    assert {"build_failed", "slow_build"} <= kinds or {"build_failed", "queue_congestion"} <= kinds
    anomaly = next(a for a in alerts if a.payload["labels"]["kind"] in ("slow_build", "queue_congestion"))
    assert anomaly.payload["service"] == "team/app" and anomaly.payload["severity"] in ("medium", "high")
    assert {a.payload["signal"] for a in alerts if a.payload["labels"]["kind"] == "build_failed"} == {"alert"}
    assert anomaly.payload["signal"] == "anomaly"  # one source, two kinds of signal

    await worker_ctx.bus.publish_many(PIPELINES_RUNS, envelopes[-5:])  # redelivered: the same alerts, no new one
    await drain(PipelineRunTask(worker_ctx))
    again = [Envelope.from_entry(fields).id
             for _, fields in await worker_ctx.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))][len(alerts):]
    assert again and set(again) <= {a.id for a in alerts}

    assert await PipelineAnalysisTask(worker_ctx).run_once(now) == 1
    async with sessions() as session:
        score = await session.scalar(select(PipelineScore))
    assert score.grade in "ABCDF" and 0 <= score.score <= 100 and len(score.dimensions) == 5
    assert set(score.forecasts) == {"failure_rate", "duration_s"}
    assert score.rca["causes"][0]["kind"] == "runner_change" and score.rca["causes"][0]["name"] == runner
    assert score.rca["narrative_by"] == "template" and runner in score.rca["narrative"]


async def test_a_run_redelivered_after_influxdb_failed_still_reaches_influxdb_and_alerts(worker_ctx, worker_settings) -> None:
    """The first handling commits the rows and then fails at InfluxDB: the redelivery writes the point and sends
    the failure alert (the rows were stored, so the idempotency ledger alone would have skipped it)."""
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    run = PipelineRunPayload(provider=Provider.jenkins, pipeline_key="team/api", pipeline_name="team/api",
                             external_id="7", number=7, status="completed", conclusion="failure",
                             started_at=finished - timedelta(minutes=3), finished_at=finished)
    envelope = Envelope(id="run-7", type=PIPELINE_RUN_RECEIVED, source="jenkins-main", payload=run.model_dump(mode="json"))
    delivery = Delivery("1-0", envelope, run)
    down = InfluxClient(worker_settings.model_copy(update={"influx_url": "http://127.0.0.1:9"}))
    try:
        with pytest.raises(InfluxUnavailable):
            await PipelineRunTask(replace(worker_ctx, influx=down)).handle([delivery])
    finally:
        await down.aclose()
    assert not await worker_ctx.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))

    await PipelineRunTask(worker_ctx).handle([delivery])
    points = await worker_ctx.influx.query('SELECT count("duration_s") FROM "pipeline_builds" WHERE "pipeline" = \'team/api\'')
    assert points and points[0].rows()[0]["count"] == 1
    alerts = [Envelope.from_entry(fields) for _, fields in await worker_ctx.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))]
    assert [(a.payload["labels"]["kind"], a.payload["status"]) for a in alerts] == [("build_failed", "firing")]
