"""The archive of what was accepted: one consumer per accepted stream (alerts and Sentry errors on
`aiops:alerts:ingested`, log lines on `aiops:logs:ingested`) writes each batch, compressed, to the archive
(archive/store.py) and acks it only after that write is durable. Streams are trimmed; the archive keeps
everything for ARCHIVE_RETENTION_S, for dry-run replays (replay/). Metrics need no archive: InfluxDB keeps them.

`ArchiveRetentionTask` prunes what is older than the retention, at start and every PRUNE_INTERVAL_S.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiops_contracts.events import AlertPayload, LogsPayload
from aiops_contracts.streams import ALERTS_INGESTED, LOGS_INGESTED
from aiops_worker.archive.store import open_archive, pack
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask
from aiops_worker.runtime.retention import PRUNE_INTERVAL_S

log = logging.getLogger(__name__)


class _ArchiveTask(StreamConsumer):
    scales_out = True  # stateless and idempotent (a batch is keyed on its envelope ids)
    # A batch is one compressed row (~5 ms of CPU besides its entries): read as they come, a few thousand alerts a
    # second arrived in batches of tens (0.28 ms an alert instead of 0.05). Nothing reads the archive that soon.
    linger_s = 0.5

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.archive = open_archive(ctx.settings, ctx.sessions)

    async def handle(self, batch: list[Delivery]) -> None:
        # Serialising and compressing a batch is CPU work: a thread keeps the event loop responsive.
        await self.archive.write(await asyncio.to_thread(pack, self.stream.name, batch))


class AlertArchiveTask(_ArchiveTask):
    name = "archive-alerts"
    stream = ALERTS_INGESTED
    payload_model = AlertPayload


class LogArchiveTask(_ArchiveTask):
    name = "archive-logs"
    stream = LOGS_INGESTED
    payload_model = LogsPayload


class ArchiveRetentionTask(PeriodicTask):
    name = "archive-retention"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(PRUNE_INTERVAL_S)
        self.settings = ctx.settings
        self.archive = open_archive(ctx.settings, ctx.sessions)

    async def tick(self, stop: asyncio.Event) -> None:
        await self.prune()

    async def prune(self, now: datetime | None = None) -> int:
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.settings.archive_retention_s)
        pruned = await self.archive.prune(cutoff)
        if pruned:
            log.info("archive pruned", extra={"task": self.name, "batches": pruned})
        return pruned
