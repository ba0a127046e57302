"""File tail: multi-line records, rotation, truncation, restarts, and a crash between publish and save."""

import os
from pathlib import Path

from aiops_contracts.bus import publish_many
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.producers.file_tail import FileTailProducer, split_records
from aiops_worker.runtime.context import WorkerContext

TRACE = (b"2026-03-02 10:00:00 ERROR app: request failed\nTraceback (most recent call last):\n"
         b"  File \"app.py\", line 3, in handler\nValueError: bad\n")


def test_stack_trace_lines_join_their_record_and_the_last_record_waits() -> None:
    data = TRACE + b"2026-03-02 10:00:01 INFO app: next\n"
    records, end = split_records(data, 100, flush=False)
    assert records == [(100, TRACE.rstrip(b"\n"))]
    assert end == 100 + len(TRACE)  # the last record may go on: it is read again next time
    flushed, end = split_records(data, 100, flush=True)
    assert [start for start, _ in flushed] == [100, 100 + len(TRACE)]
    assert end == 100 + len(data)


def test_java_stack_trace_is_one_record() -> None:
    data = (b"ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\nCaused by: y\n"
            b"\tat d.E.f(E.java:2)\n\t... 3 more\nINFO ok\n")
    records, _ = split_records(data, 0, flush=True)
    assert [r.split(b"\n")[0] for _, r in records] == [b"ERROR boom", b"INFO ok"]
    assert records[0][1].endswith(b"\t... 3 more")


def producer_for(ctx: WorkerContext, path: Path) -> FileTailProducer:
    settings = ctx.settings.model_copy(update={"file_tail_paths": [str(path)], "file_tail_from_start": True})
    return FileTailProducer(WorkerContext(settings=settings, redis=ctx.redis, sessions=ctx.sessions, influx=ctx.influx))


async def cycle(producer: FileTailProducer, publish: bool = True) -> list[Envelope]:
    """What the base loop does once: poll, publish, confirm."""
    envelopes = await producer.poll()
    if envelopes and publish:
        await publish_many(producer.redis, LOGS_INGESTED, envelopes)
        await producer.published(envelopes)
    return envelopes


async def messages(redis) -> list[str]:
    return [r["message"] for _, f in await redis.xrange(LOGS_INGESTED.name) for r in Envelope.from_entry(f).payload["records"]]


async def drain_file(producer: FileTailProducer) -> None:
    for _ in range(3):
        await cycle(producer)


async def test_restart_neither_skips_nor_repeats(worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo\n")
    await drain_file(producer_for(worker_ctx, path))
    with path.open("a") as f:
        f.write("three\nfour\n")
    await drain_file(producer_for(worker_ctx, path))  # a new process: offsets come from Redis
    assert await messages(redis) == ["one", "two", "three", "four"]


async def test_rotation_finishes_the_old_file_then_reads_the_new_one(worker_ctx: WorkerContext, redis,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("a1\n")
    producer = producer_for(worker_ctx, path)
    await drain_file(producer)
    with path.open("a") as f:
        f.write("a2\n")
    os.rename(path, tmp_path / "app.log.1")
    path.write_text("b1\nb2\n")
    for _ in range(5):
        await cycle(producer)
    assert await messages(redis) == ["a1", "a2", "b1", "b2"]


async def test_truncation_starts_over(worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old line 1\nold line 2\n")
    producer = producer_for(worker_ctx, path)
    await drain_file(producer)
    path.write_text("new\n")  # copytruncate
    await drain_file(producer)
    assert await messages(redis) == ["old line 1", "old line 2", "new"]


async def test_crash_between_publish_and_save_republishes_the_same_envelope(worker_ctx: WorkerContext, redis,
                                                                           tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("x1\nx2\n")
    producer = producer_for(worker_ctx, path)
    await producer.poll()  # first poll holds back the last record
    first = await producer.poll()
    await publish_many(redis, LOGS_INGESTED, first)  # ... and the process dies before published()
    with path.open("a") as f:
        f.write("x3\n")
    again = await producer_for(worker_ctx, path).poll()
    assert [e.id for e in again] == [e.id for e in first]
    assert again[0].payload == first[0].payload


async def test_a_new_file_is_read_from_its_end_by_default(worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("history\n")
    settings = worker_ctx.settings.model_copy(update={"file_tail_paths": [str(path)]})
    producer = FileTailProducer(WorkerContext(settings=settings, redis=redis, sessions=worker_ctx.sessions,
                                              influx=worker_ctx.influx))
    await drain_file(producer)
    with path.open("a") as f:
        f.write("fresh\n")
    await drain_file(producer)
    assert await messages(redis) == ["fresh"]
