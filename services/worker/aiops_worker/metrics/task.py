"""Writes the metrics stream into InfluxDB through the v1-compatible `/write` (line protocol), the one
path that serves InfluxDB 1.x, 2.x and 3.x.

- At start (and again if it disappears) the database and its default 90-day retention policy are
  created; InfluxDB 2.x/3.x refuse that and need the bucket made beforehand, which is logged.
- Durable before ack: handle() returns only after every `/write` of the batch answered 2xx. Requests go
  `influx_write_concurrency` at a time (InfluxDB takes points fastest with several in flight), each body
  built when its request may go; after a failed one no further request of its batch goes, and the batch
  fails once those in flight answered. Two batches are handled at once (the consumer's batches_in_flight):
  the next one is read and decoded, and its bodies take the requests the current one frees, so InfluxDB is
  not left waiting for a read, an ack or a batch's last answer. With more than one request in flight the
  order is not kept: bodies reach InfluxDB in any order, so two writes of one point (series, time and field)
  may end with the older value (InfluxDB keeps the last written). Set it to 1 where a source rewrites its
  points within seconds: one request and one batch at a time, in the stream's order.
- Idempotent by nature: every line carries its timestamp (the API stamps lines that had none), and
  InfluxDB overwrites a point of the same series and time, so a re-delivered entry changes nothing.
- InfluxDB down or answering 5xx raises InfluxUnavailable (a ConnectionError): the consumer keeps the
  batch pending, backs off and retries, and catches up once InfluxDB answers. A write InfluxDB
  refuses for good (field type conflict) fails its entry, which is retried alone and then
  dead-lettered with InfluxDB's answer.
- Points tagged with a host and a service teach the topology which services run on which hosts
  (incidents/learning.py), best effort: PostgreSQL down never holds the metrics back.
"""

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client import Counter

from aiops_contracts.events import MetricsPayload
from aiops_contracts.influx import DatabaseNotFound, InfluxError, InfluxUnavailable
from aiops_contracts.streams import FORMER_SHARED_GROUP, METRICS_INGESTED
from aiops_worker.incidents.learning import TopologyLearner, runs_on_of_lines
from aiops_worker.runtime.consumer import Delivery, StoreUnavailable, StreamConsumer
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)

POINTS_WRITTEN = Counter("aiops_worker_metric_points_written_total",
                         "Metric lines written to InfluxDB (counted once their whole batch is written)")


class ReadMetrics(MetricsPayload):
    """A metrics payload as the writer reads it: the lines are bytes (text from an older entry is encoded). Validating
    them as `str | bytes` took ten times as long (pydantic's union tried them as text first): 13 µs an entry of
    1,000 lines, 1.4 µs as bytes."""

    lines: bytes


def write_chunks(batch: list[Delivery[MetricsPayload]], max_lines: int) -> Iterator[bytes]:
    """The batch's lines joined into `/write` bodies of about `max_lines` lines (whole entries each), one at a time:
    the bytes read from the stream, joined as they are (text only from entries written before they travelled raw)."""
    parts: list[bytes] = []
    count = 0
    for delivery in batch:
        if lines := delivery.payload.lines:
            parts.append(lines.encode() if isinstance(lines, str) else lines)
            count += delivery.payload.count
        if count >= max_lines:
            yield b"\n".join(parts)
            parts, count = [], 0
    if parts:
        yield b"\n".join(parts)


class MetricsWriterTask(StreamConsumer[MetricsPayload]):
    scales_out = True  # stateless and idempotent: any number of replicas may share the group
    name = "metrics-writer"
    stream = METRICS_INGESTED
    former_group = FORMER_SHARED_GROUP
    payload_model = ReadMetrics
    decodes_raw_members = False  # the lines go to InfluxDB as the bytes read: never decoded, never encoded again
    # Caught up with less than a full /write, wait a little for more: InfluxDB spends about half as much CPU per
    # point on a /write of 10,000 lines as on one of 1,000, and ~10 % less again on one of 20,000 (ingest_metrics.py's
    # payload); points wait at most this much longer.
    linger_s = 0.1

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.influx = ctx.influx
        # The next batch is read, and its bodies wait for a free request, while this one is written: with one at a
        # time InfluxDB had 0 or 1 request to work on (of its 2 cores) ~20 % of the writer's time, waiting for the
        # read, the ack and each batch's last answer; with two, ~1 % (ingest_metrics.py, 50 entries of 1,000 lines a
        # read). One request at a time keeps the stream's order only with one batch at a time.
        self.batches_in_flight = 2 if ctx.settings.influx_write_concurrency > 1 else 1
        self._requests = asyncio.Semaphore(ctx.settings.influx_write_concurrency)  # shared by the batches in flight
        self._database_ready = False
        self.learner = TopologyLearner(ctx)  # which services run on which hosts, from the points' tags

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        try:
            await self._ensure_database()
        except InfluxUnavailable as exc:  # the first batch tries again, with the consumer's back-off
            log.warning("InfluxDB unavailable at start", extra={"task": self.name, "error": repr(exc)})
        await super().run(stop, drain)

    async def handle(self, batch: list[Delivery[MetricsPayload]]) -> None:
        if not self._database_ready:
            await self._ensure_database()
        bodies = write_chunks(batch, self.settings.influx_write_lines)
        failures: list[Exception] = []

        async def write_while_none_failed() -> None:
            while not failures:
                async with self._requests:
                    if failures or (body := next(bodies, None)) is None:
                        return
                    try:
                        await self.influx.write(body)
                    except Exception as exc:  # raised below, once every request in flight answered
                        failures.append(exc)

        # A fixed pool of writers: a body is built only when a request may go, and none is left running when
        # the batch is retried.
        await asyncio.gather(*(write_while_none_failed() for _ in range(self.settings.influx_write_concurrency)))
        missing = next((failure for failure in failures if isinstance(failure, DatabaseNotFound)), None)
        if missing:
            self._database_ready = False  # dropped while we run: created again before the retry
            raise StoreUnavailable("InfluxDB database not found") from missing
        if failures:  # InfluxDB unavailable (the batch waits and is retried) before a refused write (entry by entry)
            raise min(failures, key=lambda failure: not isinstance(failure, InfluxUnavailable))
        POINTS_WRITTEN.inc(sum(d.payload.count for d in batch))
        await self.learner.learn({pair: labels for d in batch
                                  for pair, labels in runs_on_of_lines(d.payload.lines).items()})

    def lingers_after(self, batch: list[Delivery[MetricsPayload]]) -> bool:
        """Linger only while the lines read fill less than one /write: a full one gains nothing by waiting."""
        return sum(d.payload.count for d in batch) < self.settings.influx_write_lines

    async def _ensure_database(self) -> None:
        try:
            await self.influx.ensure_database(self.settings.influx_retention_days)
        except InfluxError as exc:
            log.warning("InfluxDB refused to create the database; it must exist already",
                        extra={"task": self.name, "database": self.influx.database, "error": str(exc)})
        self._database_ready = True
        log.info("InfluxDB database ready", extra={"task": self.name, "database": self.influx.database,
                                                   "retention_days": self.settings.influx_retention_days})
