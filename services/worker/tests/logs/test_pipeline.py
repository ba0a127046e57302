"""End to end inside the worker: a syslog file followed by the file tail producer, mined by the log
task, grouped by the incident task. Real Redis, PostgreSQL and ChromaDB; the real embedding model."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from aiops_contracts.db import Incident, IncidentEvent, LogTemplate
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import INCIDENTS_CHANGED, LOGS_INGESTED
from aiops_worker.incidents.task import LogIncidentTask
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.producers.file_tail import FileTailProducer
from aiops_worker.producers.settings import FileTailSettings
from aiops_worker.runtime.context import WorkerContext
from conftest import until

NOISE = [
    "{host} sshd[{pid}]: Accepted publickey for deploy from 10.0.{a}.{b} port {port} ssh2: RSA SHA256:x{pid}",
    "{host} sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy by (uid=0)",
    "{host} CRON[{pid}]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)",
    "{host} systemd[1]: Started Session {pid} of user deploy.",
    "{host} systemd-logind[{a}]: New session {pid} of user deploy.",
    "{host} dhclient[{pid}]: DHCPACK of 10.0.{a}.{b} from 10.0.0.1",
    "{host} ntpd[{pid}]: synchronized to 10.0.0.{b}, stratum 2",
    "{host} postfix/smtp[{pid}]: 4F{pid}: to=<ops{a}@example.com>, relay=mx.example.com[10.1.{a}.{b}]:25, status=sent",
    "{host} kernel: [{port}.{pid}] eth0: renamed from veth{pid}",
]
OOM = "web-1 kernel: Out of memory: Killed process {pid} (java) total-vm:{port}kB, anon-rss:{a}kB, file-rss:0kB"
DISK = "db-1 kernel: EXT4-fs error (device sda{a}): ext4_find_entry:1455: inode #{pid}: comm postgres: reading directory lblock 0"


def syslog_file(path: Path) -> int:
    """400 lines of routine syslog over 20 minutes, with two failures injected as short bursts."""
    rng = random.Random(7)
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    lines = []
    for i in range(400):
        at = start + timedelta(seconds=3 * i)
        template = NOISE[i % len(NOISE)]
        fields = {"host": rng.choice(["web-1", "web-2", "db-1"]), "pid": rng.randint(100, 99999),
                  "a": rng.randint(1, 250), "b": rng.randint(1, 250), "port": rng.randint(1024, 65000)}
        lines.append((at, template.format(**fields)))
    for k in range(4):  # failure 1: the OOM killer, 4 times within 3 seconds
        lines.append((start + timedelta(minutes=5, seconds=k), OOM.format(pid=4000 + k, port=2048000 + k, a=1024 * k)))
    for k in range(5):  # failure 2: filesystem errors, 5 times within 2 seconds
        lines.append((start + timedelta(minutes=12, seconds=k / 2), DISK.format(a=1, pid=200 + k)))
    lines.sort(key=lambda line: line[0])
    path.write_text("".join(f"{at:%b %d %H:%M:%S} {text}\n" for at, text in lines))
    return len(lines)


async def follow(ctx: WorkerContext, path: Path, expected_lines: int) -> None:
    producer = FileTailProducer(ctx, FileTailSettings(file_tail_paths=[str(path)], file_tail_from_start=True,
                                                      file_tail_interval_s=0.05))
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))

    async def all_published() -> bool:
        entries = await ctx.redis.xrange(ctx.bus.key(LOGS_INGESTED))
        return sum(len(Envelope.from_entry(f).payload["records"]) for _, f in entries) >= expected_lines

    try:
        await until(all_published, 30, "every line of the file published")
    finally:
        stop.set()
        await running


async def test_syslog_file_with_two_failures_becomes_exactly_two_incidents(log_ctx: WorkerContext, tmp_path: Path,
                                                                          drain) -> None:
    path = tmp_path / "syslog"
    total = syslog_file(path)
    await follow(log_ctx, path, total)
    await drain(LogMiningTask(log_ctx))
    await drain(LogIncidentTask(log_ctx))

    async with log_ctx.sessions() as session:
        incidents = (await session.scalars(select(Incident).order_by(Incident.first_seen_at))).all()
        lines = await session.scalar(select(func.sum(LogTemplate.count)))
        timeline = await session.scalar(select(func.count()).select_from(IncidentEvent))
    assert lines == total
    assert [(i.hosts, i.event_count, i.details["category"]) for i in incidents] == [
        (["web-1"], 4, "memory"), (["db-1"], 5, "disk")]
    assert incidents[0].severity == "critical"
    assert "Out of memory" in incidents[0].title and len(incidents[0].details["samples"]) == 4
    assert timeline >= 4
    announced = [Envelope.from_entry(f) for _, f in await log_ctx.redis.xrange(log_ctx.bus.key(INCIDENTS_CHANGED))]
    assert {e.type for e in announced} == {"incident.opened"}
