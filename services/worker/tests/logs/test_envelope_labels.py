"""The log task applies a `logs.received` envelope's labels (a webhook request's host, service, level) to each
of its lines: the API states them once per envelope, not once per line."""

import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.streams import LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.logs.analysis import LogAnalyser
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.logs.rules import Classifier, load_rules
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.consumer import Delivery
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


LABELS = [{}, {"host": "lab-h"}, {"service": "lab-svc"}, {"level": "error"}, {"host": "", "level": "debug"},
          {"host": "lab-h", "service": "lab-svc", "level": "warning"}]


@pytest.mark.parametrize("shared", LABELS)
@pytest.mark.parametrize("own", LABELS)
def test_labels_read_in_place_are_those_of_labelled(shared: dict[str, str], own: dict[str, str]) -> None:
    """The analyser reads a record's labels, else the envelope's, beside each record: what it finds is what it
    found when every record was given them first (LogsPayload.labelled)."""
    records = [LogRecord(message=message, host=host, labels={k: v.replace("lab", "own") for k, v in own.items()})
               for message in ("charge failed for order 42", "Mar  2 10:00:00 hdr-h pay[7]: disk quota exceeded")
               for host in (None, "rec-h")]
    payload = LogsPayload(records=records, labels=shared)
    envelope = Envelope(type=LOGS_RECEIVED, source="shipper", payload={})

    def analysed(payload: LogsPayload) -> tuple:
        analyser = LogAnalyser(TemplateMiner(), Classifier(load_rules()), 300)
        analysis = analyser.analyse([Delivery("0-0", envelope, payload)], {envelope.id})
        return analysis.errors, analysis.named, {t: (s.count, s.verdict) for t, s in analysis.templates.items()}

    assert analysed(payload) == analysed(payload.labelled())
