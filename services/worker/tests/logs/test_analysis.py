"""The log analyser keeps nothing of a batch once it is analysed: a header timestamp's instant is remembered for
its batch only (a year-less one depends on the batch's `now`)."""

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_worker.logs.analysis import LogAnalyser
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.logs.rules import Classifier, load_rules
from aiops_worker.runtime.consumer import Delivery


def test_a_batchs_timestamp_texts_are_forgotten_once_it_is_analysed() -> None:
    analyser = LogAnalyser(TemplateMiner(), Classifier(load_rules()), 300)
    lines = [f"Mar  2 10:00:0{n} web-1 sshd[7]: session opened for user {n}" for n in range(3)]
    envelope = Envelope(type=LOGS_RECEIVED, source="shipper", payload={})
    payload = LogsPayload(records=[LogRecord(message=line) for line in lines])
    analysis = analyser.analyse([Delivery("0-0", envelope, payload)], {envelope.id})
    assert analysis.lines == 3 and analysis.templates
    assert not analyser._instants
