"""The replay's log lines as the live log task announces them, the miner's bound forgetting templates included."""

import time

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.replay import ReplayChanges
from aiops_worker.incidents.correlation import Topology
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.replay.engine import Inputs, Outcome, _log_signals, candidate_of
from aiops_worker.replay.start import Start, StartingState
from aiops_worker.settings import WorkerSettings

FAILED = "<11>Mar  2 10:00:0{} web-1 sshd[9]: login failed for user {} from gateway"
GARBAGE = ["<14>Mar  2 10:00:09 web-1 app: " + " ".join(word * 3 for word in words)
           for words in ("abcd", "efgh", "ijkl", "mnop", "qrst", "uvwx")]


def test_a_line_whose_template_the_bound_forgot_is_replayed_under_the_id_and_template_it_was_counted_under(
        worker_settings: WorkerSettings) -> None:
    """The cyrus line's template merged into root's, whose group the garbage then made the miner forget: the live
    task counts and announces the line under root's id and template (its survivor when forgotten), the replay too."""
    lines = [FAILED.format(1, "root"), FAILED.format(2, "cyrus"), FAILED.format(3, "news"), *GARBAGE]
    envelope = Envelope(type=LOGS_RECEIVED, source="test",
                        payload=LogsPayload(records=[LogRecord(message=line) for line in lines]).model_dump(mode="json"))
    settings = worker_settings.model_copy(update={"log_max_templates": 3})
    inputs = Inputs(alerts=[], logs=[envelope], points=[], topology=Topology(), metrics=False,
                    start=Start(StartingState.fresh, {}))
    signals = list(_log_signals(inputs, candidate_of(settings, ReplayChanges(), []), Outcome(), time.monotonic() + 60))
    assert [s.title for s in signals] == ["login failed for user <*> from gateway"] * 3
    root = TemplateMiner().add("login failed for user root from gateway").template_id  # its first template's hash
    assert {s.template_id for s in signals} == {root}
