"""The log task applies a `logs.received` envelope's labels (a webhook request's host, service, level) to each
of its lines: the API states them once per envelope, not once per line."""

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.streams import LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.context import WorkerContext


async def test_envelope_labels_reach_the_announced_lines(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    payload = LogsPayload(labels={"host": "pay-7", "service": "billing", "level": "error"},
                          records=[LogRecord(message="charge failed for order 42"),
                                   LogRecord(message="charge failed for order 43", host="pay-8")])
    envelope = Envelope(type=LOGS_RECEIVED, source="shipper",
                        payload=payload.model_dump(mode="json", exclude_defaults=True))
    await bus.publish_many(LOGS_INGESTED, [envelope])
    await drain(LogMiningTask(log_ctx))
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    assert [(e["host"], e["service"], e["severity"]) for e in announced.payload["events"]] == [
        ("pay-7", "billing", "high"), ("pay-8", "billing", "high")]
