"""Streaming anomaly detection on every metric series, beside the metrics writer (its own group).

Each numeric field of each line is a point of its series (see series.py), fed in time order to that
series' detector. An anomaly that opens becomes a firing `alert.received` on the alerts stream, one
that closes a resolved one, when its opening point deviated at least `anomaly_alert_min_z` robust
sigmas and its calibrated tail probability was at most 10**`anomaly_alert_max_log10_p` (weaker ones,
statistical blips, are only scored); points scoring `anomaly_score_keep` or more are written to
InfluxDB (`aiops_anomalies`) for the API.

Durability and idempotency: a batch's effects (alerts, InfluxDB points) wait in an outbox until
sent, so a store outage retries the sending, not the detection; envelope ids and InfluxDB points
are deterministic, so sending twice changes nothing. Alerts go first: they never wait for InfluxDB.
A score write InfluxDB refuses for good (a field type conflict, max-values-per-tag, a body over
max-body-size) is dropped, logged and counted: retried, it would fail every batch after it while
the outbox grew. Points not newer than a series' last point are skipped, so a re-delivered batch
does not move the baselines. Detector state is saved to Redis periodically, at shutdown, on eviction
and, for series whose alert opened or closed, before the batch is acked, but only while the outbox is
empty (a batch first sends what an earlier one left, then loads and so evicts): saved state never
runs ahead of the effects it produced. Each periodic save also prunes a step of the state of series
gone for `anomaly_state_max_age_days` (state.py).
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Counter

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import MetricsPayload
from aiops_contracts.influx import (
    ANOMALIES_MEASUREMENT,
    DatabaseNotFound,
    InfluxError,
    PointsBeyondRetention,
    encode_point,
)
from aiops_contracts.streams import ALERTS_INGESTED, ANOMALY_DETECTORS_KEY, METRICS_INGESTED
from aiops_worker.anomalies.alerts import anomaly_envelope, is_alertable, plain
from aiops_worker.anomalies.detectors import AnomalyEvent, DetectionResult, DetectorConfig
from aiops_worker.anomalies.series import MetricPoint, numeric_points
from aiops_worker.anomalies.state import DetectorCache
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)

_STORED_EVIDENCE = ("value", "baseline", "deviation", "z")

SCORES_REFUSED = Counter("aiops_worker_anomaly_scores_refused_total",
                         "Anomaly score lines of writes InfluxDB refused for good, dropped (a partial write kept "
                         "the others)")


@dataclass
class _Outbox:
    lines: list[str] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lines or self.envelopes)


class AnomalyTask(StreamConsumer[MetricsPayload]):
    name = "anomaly-detector"
    stream = METRICS_INGESTED
    payload_model = MetricsPayload

    def __init__(self, ctx: WorkerContext, config: DetectorConfig | None = None) -> None:
        super().__init__(ctx)
        self.influx = ctx.influx
        self.cache = DetectorCache(ctx.redis, config or DetectorConfig(), ctx.settings.anomaly_max_series,
                                   key=ctx.settings.redis_key(ANOMALY_DETECTORS_KEY),
                                   max_age_s=ctx.settings.anomaly_state_max_age_days * 86_400)
        self.outbox = _Outbox()
        self._next_save = time.monotonic() + ctx.settings.anomaly_state_flush_s

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        try:
            await super().run(stop, drain)
        finally:
            await asyncio.shield(self.save_state())

    async def handle(self, batch: list[Delivery[MetricsPayload]]) -> None:
        points = self._points(batch)
        await self._send()  # what an earlier batch left: loading evicts, and eviction saves state
        await self.cache.load(p.series.id for p in points)
        # Detection is CPU work: a thread keeps the event loop (heartbeat, other tasks) responsive.
        transitioned = await asyncio.to_thread(self._detect, points)
        await self._send()
        if time.monotonic() >= self._next_save:
            await self.save_state()
        elif transitioned:
            # Saved before the ack: after a kill -9 a detector that forgot its alert was opened would
            # never send the resolved one. Transitions are rare, so this costs little.
            await self.cache.flush(only=transitioned)

    async def save_state(self) -> None:
        """Save changed detectors, unless effects are still unsent (then the next save does it), and prune a step."""
        if self.outbox:
            return
        saved = await self.cache.flush()
        pruned = await self.cache.prune()
        self._next_save = time.monotonic() + self.settings.anomaly_state_flush_s
        log.info("detector state saved", extra={"task": self.name, "series": saved, "resident": len(self.cache),
                                                "pruned": pruned})

    def _points(self, batch: list[Delivery[MetricsPayload]]) -> list[MetricPoint]:
        points: list[MetricPoint] = []
        for delivery in batch:
            found, bad = numeric_points(delivery.payload.lines, int(delivery.envelope.time.timestamp() * 1e9))
            if bad:
                log.warning("unparsable metric lines skipped", extra={"event_id": delivery.envelope.id, "count": bad})
            points.extend(found)
        points.sort(key=lambda p: p.time_ns)  # stable: a batch is usually in order already
        return points

    def _detect(self, points: list[MetricPoint]) -> set[str]:
        """Feeds the points to their detectors; returns the series whose alert opened or closed."""
        keep = self.settings.anomaly_score_keep
        transitioned: set[str] = set()
        for point in points:
            result = self.cache.update(point.series.id, point.ts, point.value)
            if result is None:
                continue
            if result.event is not None and self._alertable(result.event):
                self.outbox.envelopes.append(anomaly_envelope(point.series, result))
                transitioned.add(point.series.id)
            if result.score >= keep or result.alert_transition is not None:
                self.outbox.lines.append(_anomaly_line(point, result))
        return transitioned

    async def _write_scores(self) -> None:
        """Write the outbox's scores. InfluxDB unavailable raises (the batch is retried); a refusal for good drops them."""
        try:
            await self._write("\n".join(self.outbox.lines))
        except PointsBeyondRetention as exc:  # old metrics replayed: the newer points were written
            log.warning("anomaly points beyond retention dropped", extra={"error": str(exc)[:300]})
        except InfluxError as exc:
            SCORES_REFUSED.inc(len(self.outbox.lines))
            log.error("anomaly scores refused by InfluxDB, dropped",
                      extra={"task": self.name, "lines": len(self.outbox.lines), "error": str(exc)[:300]})

    async def _write(self, lines: str) -> None:
        try:
            await self.influx.write(lines)
        except DatabaseNotFound:  # we ran before the metrics writer created it
            await self.influx.ensure_database(self.settings.influx_retention_days)
            await self.influx.write(lines)

    def _alertable(self, event: AnomalyEvent) -> bool:
        return is_alertable(event, self.settings.anomaly_alert_min_z, self.settings.anomaly_alert_max_log10_p)

    async def _send(self) -> None:
        if self.outbox.envelopes:
            await self.bus.publish_many(ALERTS_INGESTED, self.outbox.envelopes)
            log.info("anomaly alerts published", extra={"task": self.name, "count": len(self.outbox.envelopes)})
            self.outbox.envelopes.clear()
        if self.outbox.lines:
            await self._write_scores()
            self.outbox.lines.clear()


def _anomaly_line(point: MetricPoint, result: DetectionResult) -> str:
    series = point.series
    evidence = plain({k: result.evidence.get(k) for k in _STORED_EVIDENCE})
    fields = {"score": float(result.score), **{k: v for k, v in evidence.items() if v is not None}}
    if result.severity:
        fields["severity"] = result.severity
    if result.alert_transition:
        fields["transition"] = result.alert_transition
    tags = {"host": series.host or "", "measurement": series.measurement, "field": series.field, "series": series.id}
    return encode_point(ANOMALIES_MEASUREMENT, tags, fields, point.time_ns)
