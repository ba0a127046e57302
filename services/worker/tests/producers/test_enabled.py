"""Each producer owns its settings model and says when those settings switch it on; none is on by default.
The settings are read from the environment under the names they had in WorkerSettings."""

import pytest

from aiops_worker.main import PRODUCERS, build_tasks
from aiops_worker.producers.base import Producer
from aiops_worker.producers.file_tail import FileTailProducer
from aiops_worker.producers.settings import FileTailSettings, SyslogSettings
from aiops_worker.producers.syslog import SyslogProducer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.settings import WorkerSettings


def test_producers_are_off_unless_configured_and_each_owns_its_rule() -> None:
    assert not any(producer.enabled(producer.settings_model()) for producer in PRODUCERS)
    assert SyslogProducer.enabled(SyslogSettings(syslog_tcp_port=5514))
    assert FileTailProducer.enabled(FileTailSettings(file_tail_paths=["/var/log/syslog"]))


def test_producer_settings_keep_their_env_names_and_leave_the_worker_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSLOG_UDP_PORT", "5514")
    monkeypatch.setenv("FILE_TAIL_PATHS", '["/var/log/syslog"]')
    monkeypatch.setenv("LOGS_ENVELOPE_MAX_RECORDS", "7")
    assert SyslogSettings().syslog_udp_port == 5514
    assert FileTailSettings().file_tail_paths == ["/var/log/syslog"]
    assert FileTailSettings().logs_envelope_max_records == SyslogSettings().logs_envelope_max_records == 7
    worker_fields = set(WorkerSettings.model_fields)
    assert not worker_fields & (set(SyslogSettings.model_fields) | set(FileTailSettings.model_fields))


async def test_the_worker_builds_a_configured_producer_with_its_own_settings(worker_ctx: WorkerContext,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSLOG_TCP_PORT", "5514")
    built = [task for task in build_tasks(worker_ctx) if isinstance(task, Producer)]
    assert [type(producer) for producer in built] == [SyslogProducer]
    assert built[0].settings == SyslogSettings(syslog_tcp_port=5514)
    scaled = worker_ctx.settings.model_copy(update={"worker_role": "scaled"})  # producers keep state: `single` only
    scaled_ctx = WorkerContext(settings=scaled, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                               influx=worker_ctx.influx)
    assert not [task for task in build_tasks(scaled_ctx) if isinstance(task, Producer)]
