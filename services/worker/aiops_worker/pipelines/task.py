"""`pipelines-store`: CI/CD runs from the GitHub webhook and the pollers, into PostgreSQL and InfluxDB, and the
alerts they call for.

Per completed run: the run with its jobs, steps, tests and commit upserted (features.py computes its build
features, flaky tests included), its features written to InfluxDB (`pipeline_builds`, tagged by pipeline and
provider), Prometheus counters and histograms, a build-failure alert (or its resolution), and the pipeline's
detectors replayed over its last `pipelines_detection_builds` builds: an anomaly opened at one of this batch's
builds becomes an alert. Idempotent: PostgreSQL rows are upserts keyed on the run (an event handled before
leaves them alone), InfluxDB points on the series and time, alert ids deterministic (a redelivered batch writes
the same points and sends the same envelopes, which the alert store drops). A new event of a run in a state
stored before, or an earlier one (a late delivery, a signed webhook body replayed under a new delivery id), is
not stored and makes nothing (store.py). Runs not completed yet (queued, in progress) are stored and wait for
their completion.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from aiops_contracts.envelope import Envelope
from aiops_contracts.influx import DatabaseNotFound, PointsBeyondRetention, encode_point
from aiops_contracts.pipelines import PipelineRunPayload
from aiops_contracts.streams import ALERTS_INGESTED, PIPELINES_RUNS
from aiops_worker.pipelines.alerts import anomaly_envelope, failure_envelope
from aiops_worker.pipelines.detection import detect
from aiops_worker.pipelines.store import recent_builds, store_run, stored_run
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.idempotency import claim_new_events

BUILDS = Counter("aiops_pipeline_builds_total", "Completed CI/CD builds", ["provider", "conclusion"])
DURATION = Histogram("aiops_pipeline_build_duration_seconds", "CI/CD build duration", ["provider"],
                     buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200))
QUEUE = Histogram("aiops_pipeline_build_queue_seconds", "CI/CD build queue time", ["provider"],
                  buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600))
MEASUREMENT = "pipeline_builds"
log = logging.getLogger(__name__)


@dataclass
class _Stored:
    pipeline_id: uuid.UUID
    features: dict
    run: PipelineRunPayload


class PipelineRunTask(StreamConsumer[PipelineRunPayload]):
    scales_out = True  # no state in memory: detection replays the builds stored in PostgreSQL
    name = "pipelines-store"
    stream = PIPELINES_RUNS
    payload_model = PipelineRunPayload

    async def handle(self, batch: list[Delivery[PipelineRunPayload]]) -> None:
        ordered = sorted(batch, key=lambda d: (d.payload.finished_at is None, d.payload.finished_at))
        async with self.ctx.sessions.begin() as session:
            fresh = await claim_new_events(session, self.name, [d.envelope.id for d in ordered])
            stored = []
            for d in ordered:
                if d.envelope.id in fresh:
                    if new := await store_run(session, d.envelope.source, d.payload):  # else stored before
                        stored.append(_Stored(*new, d.payload))
                elif found := await stored_run(session, d.payload):
                    # Handled before, but InfluxDB or the alert publish may have failed after the commit: the
                    # points and alerts are written again (idempotent), the rows not (a newer state may be stored).
                    stored.append(_Stored(*found, d.payload))
        done = [s for s in stored if s.run.completed and s.run.finished_at]
        if not done:
            return
        await self._write_points("\n".join(_point(s) for s in done))
        for s in done:
            _observe(s)
        envelopes = [*await self._failure_alerts(done), *await self._anomaly_alerts(done)]
        if envelopes:
            await self.bus.publish_many(ALERTS_INGESTED, envelopes)

    async def _write_points(self, lines: str) -> None:
        try:
            try:
                await self.ctx.influx.write(lines)
            except DatabaseNotFound:  # a fresh InfluxDB the metrics writer has not prepared yet
                await self.ctx.influx.ensure_database(self.settings.influx_retention_days)
                await self.ctx.influx.write(lines)
        except PointsBeyondRetention as exc:  # an old run (a backfill): kept in PostgreSQL, the rest written
            log.info("pipeline points beyond retention dropped", extra={"task": self.name, "error": str(exc)})

    async def _failure_alerts(self, done: list[_Stored]) -> list[Envelope]:
        envelopes = []
        for s in done:
            async with self.ctx.sessions() as session:
                builds = await recent_builds(session, s.pipeline_id, self.settings.pipelines_alert_high_after)
            in_a_row = 0
            for build in reversed(builds):
                if not build.features.get("failed"):
                    break
                in_a_row += 1
            run = {"external_id": s.run.external_id, "number": s.run.number, "conclusion": s.run.conclusion,
                   "url": s.run.url, "finished_at": s.run.finished_at, "branch": s.run.branch,
                   "commit_sha": s.run.commit.sha if s.run.commit else None}
            if s.run.failed or s.run.conclusion == "success":
                envelopes.append(failure_envelope(s.pipeline_id, s.run.pipeline_name, s.run.provider.value, run,
                                                  in_a_row if s.run.failed else 0,
                                                  self.settings.pipelines_alert_high_after))
        return envelopes

    async def _anomaly_alerts(self, done: list[_Stored]) -> list[Envelope]:
        envelopes = []
        for pipeline_id in {s.pipeline_id for s in done}:
            new = {s.run.finished_at.timestamp() for s in done if s.pipeline_id == pipeline_id and s.run.finished_at}
            latest = next(s.run for s in reversed(done) if s.pipeline_id == pipeline_id)
            async with self.ctx.sessions() as session:
                builds = await recent_builds(session, pipeline_id, self.settings.pipelines_detection_builds,
                                             with_tests=True)
            # Detection is CPU work: a thread keeps the event loop (heartbeat, other tasks) responsive.
            found = await asyncio.to_thread(detect, builds)
            envelopes += [anomaly_envelope(pipeline_id, latest.pipeline_name, latest.provider.value, a)
                          for a in found if a.ts in new]
        return envelopes


def _point(s: _Stored) -> str:
    fields = {k: float(v) for k, v in s.features.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    fields["success"] = float(s.run.conclusion == "success")
    tags = {"pipeline": s.run.pipeline_key, "provider": s.run.provider.value, "pipeline_id": str(s.pipeline_id)}
    assert s.run.finished_at is not None
    return encode_point(MEASUREMENT, tags, fields, int(s.run.finished_at.timestamp() * 1e9))


def _observe(s: _Stored) -> None:
    provider = s.run.provider.value
    BUILDS.labels(provider, s.run.conclusion or "unknown").inc()
    if s.features.get("duration_s") is not None:
        DURATION.labels(provider).observe(s.features["duration_s"])
    if s.features.get("queue_s") is not None:
        QUEUE.labels(provider).observe(s.features["queue_s"])
