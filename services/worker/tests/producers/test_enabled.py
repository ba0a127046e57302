"""Each producer says when the settings switch it on; none is on by default."""

from aiops_worker.main import PRODUCERS
from aiops_worker.producers.file_tail import FileTailProducer
from aiops_worker.producers.syslog import SyslogProducer
from aiops_worker.settings import WorkerSettings


def test_producers_are_off_unless_configured_and_each_owns_its_rule() -> None:
    settings = WorkerSettings()
    assert not any(producer.enabled(settings) for producer in PRODUCERS)
    assert SyslogProducer.enabled(settings.model_copy(update={"syslog_tcp_port": 5514}))
    assert FileTailProducer.enabled(settings.model_copy(update={"file_tail_paths": ["/var/log/syslog"]}))
