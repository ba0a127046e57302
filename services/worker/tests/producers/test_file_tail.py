"""File tail: multi-line records, rotation, truncation, restarts, a crash between publish and save, event ids
that stay new when content starts over, and records longer than the read limit or than a log line."""

import os
from pathlib import Path

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOG_LINE_MAX_CHARS
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.producers.file_tail import FileTailProducer, split_records
from aiops_worker.producers.settings import FileTailSettings
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.idempotency import claim_new_events

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
    return FileTailProducer(ctx, FileTailSettings(file_tail_paths=[str(path)], file_tail_from_start=True))


async def cycle(producer: FileTailProducer, publish: bool = True) -> list[Envelope]:
    """What the base loop does once: poll, publish, confirm."""
    envelopes = await producer.poll()
    if envelopes and publish:
        await producer.ctx.bus.publish_many(LOGS_INGESTED, envelopes)
        await producer.published(envelopes)
    return envelopes


async def messages(bus: Bus) -> list[str]:
    return [r["message"] for _, f in await bus.redis.xrange(bus.key(LOGS_INGESTED)) for r in Envelope.from_entry(f).payload["records"]]


async def drain_file(producer: FileTailProducer) -> None:
    for _ in range(3):
        await cycle(producer)


async def test_restart_neither_skips_nor_repeats(bus: Bus, worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo\n")
    await drain_file(producer_for(worker_ctx, path))
    with path.open("a") as f:
        f.write("three\nfour\n")
    await drain_file(producer_for(worker_ctx, path))  # a new process: offsets come from Redis
    assert await messages(bus) == ["one", "two", "three", "four"]


async def test_nul_inside_a_line_is_replaced(bus: Bus, worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"disk\x00 full\n")
    await drain_file(producer_for(worker_ctx, path))
    assert await messages(bus) == ["disk\ufffd full"]


async def test_rotation_finishes_the_old_file_then_reads_the_new_one(bus: Bus, worker_ctx: WorkerContext, redis,
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
    assert await messages(bus) == ["a1", "a2", "b1", "b2"]


async def test_truncation_starts_over(bus: Bus, worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old line 1\nold line 2\n")
    producer = producer_for(worker_ctx, path)
    await drain_file(producer)
    path.write_text("new\n")  # copytruncate
    await drain_file(producer)
    assert await messages(bus) == ["old line 1", "old line 2", "new"]


async def test_crash_between_publish_and_save_republishes_the_same_envelope(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                           tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("x1\nx2\n")
    producer = producer_for(worker_ctx, path)
    await producer.poll()  # first poll holds back the last record
    first = await producer.poll()
    await bus.publish_many(LOGS_INGESTED, first)  # ... and the process dies before published()
    with path.open("a") as f:
        f.write("x3\n")
    again = await producer_for(worker_ctx, path).poll()
    assert [e.id for e in again] == [e.id for e in first]
    assert again[0].payload == first[0].payload


async def test_a_new_file_is_read_from_its_end_by_default(bus: Bus, worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("history\n")
    producer = FileTailProducer(worker_ctx, FileTailSettings(file_tail_paths=[str(path)]))
    await drain_file(producer)
    with path.open("a") as f:
        f.write("fresh\n")
    await drain_file(producer)
    assert await messages(bus) == ["fresh"]


LINES = "alpha\nbeta\ngamma\n"


async def envelope_ids(bus: Bus) -> list[str]:
    return [Envelope.from_entry(f).id for _, f in await bus.redis.xrange(bus.key(LOGS_INGESTED))]


async def assert_new_to_the_ledger(ctx: WorkerContext, ids: list[str]) -> None:
    """What the log task would do with them: an id it saw before is dropped as already handled."""
    async with ctx.sessions() as session, session.begin():
        assert await claim_new_events(session, "logs-mining", ids) == set(ids)


async def test_lines_written_again_after_truncation_get_new_ids(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.touch()
    producer = producer_for(worker_ctx, path)
    for round_ in range(3):
        with path.open("a") as f:  # the same bytes at the same offsets each round
            f.write(LINES)
        await drain_file(producer)
        if round_ == 1:
            producer = producer_for(worker_ctx, path)  # a restart: the truncation is found at open
        os.truncate(path, 0)  # copytruncate
        await cycle(producer)
        if round_ == 0:
            producer = producer_for(worker_ctx, path)  # a restart after the truncation was seen
    assert await messages(bus) == ["alpha", "beta", "gamma"] * 3
    ids = await envelope_ids(bus)
    assert len(ids) == len(set(ids)) >= 3
    await assert_new_to_the_ledger(worker_ctx, ids)


async def test_files_rotated_onto_the_same_name_get_new_ids(bus: Bus, worker_ctx: WorkerContext, redis, tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(LINES)
    producer = producer_for(worker_ctx, path)
    await drain_file(producer)
    for _ in range(3):  # replacing app.log.1 frees the old file's inode: the next app.log may get it again
        os.rename(path, tmp_path / "app.log.1")
        path.write_text(LINES)
        for _ in range(4):
            await cycle(producer)
    assert await messages(bus) == ["alpha", "beta", "gamma"] * 4
    ids = await envelope_ids(bus)
    assert len(ids) == len(set(ids))
    await assert_new_to_the_ledger(worker_ctx, ids)


async def test_a_file_rotated_while_the_worker_was_down_is_read_from_its_start(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                                tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.touch()
    settings = FileTailSettings(file_tail_paths=[str(path)])  # new files: from their end
    await drain_file(FileTailProducer(worker_ctx, settings))
    path.write_text(LINES)
    await drain_file(FileTailProducer(worker_ctx, settings))
    os.rename(path, tmp_path / "app.log.1")
    path.write_text(LINES + "delta\n")  # the path is known: this is its next file, not one seen for the first time
    await drain_file(FileTailProducer(worker_ctx, settings))
    assert await messages(bus) == ["alpha", "beta", "gamma", "alpha", "beta", "gamma", "delta"]
    ids = await envelope_ids(bus)
    assert len(ids) == len(set(ids))


async def test_a_record_longer_than_the_limit_is_cut_and_the_file_goes_on(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    long_line = "x" * 2500
    path.write_text("before\n" + long_line)  # no newline yet: a writer still at it, or one that never ends it
    producer = FileTailProducer(worker_ctx, FileTailSettings(file_tail_paths=[str(path)], file_tail_from_start=True,
                                                             file_tail_max_record_bytes=1024))
    for _ in range(4):
        await cycle(producer)
    with path.open("a") as f:
        f.write("\nafter\n")
    for _ in range(4):
        await cycle(producer)
    received = await messages(bus)
    assert received[0] == "before" and received[-1] == "after"
    assert "".join(received[1:-1]) == long_line
    assert all(len(piece) <= 1024 for piece in received)


async def test_a_record_longer_than_a_log_line_is_published_whole_in_pieces(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    trace = "ERROR boom\n" + "".join(f"\tat frame{i}.method(File.java:{i})\n" for i in range(4_000))  # 145,790 chars
    path.write_text(trace + "INFO next\n")
    producer = FileTailProducer(worker_ctx, FileTailSettings(file_tail_paths=[str(path)], file_tail_from_start=True,
                                                             logs_envelope_max_records=2))
    await drain_file(producer)
    received = await messages(bus)
    assert [len(piece) for piece in received] == [LOG_LINE_MAX_CHARS, LOG_LINE_MAX_CHARS, 14_718, 9]
    assert "".join(received[:-1]) == trace.rstrip("\n") and received[-1] == "INFO next"
    ids = await envelope_ids(bus)  # the third piece starts an envelope of its own: not under the first one's id
    assert len(ids) == len(set(ids)) == 3
    await assert_new_to_the_ledger(worker_ctx, ids)


async def test_an_unreadable_path_is_skipped_and_the_other_files_are_read(bus: Bus, worker_ctx: WorkerContext, redis,
                                                                         tmp_path: Path, caplog) -> None:
    directory, good = tmp_path / "a-directory", tmp_path / "app.log"
    directory.mkdir()
    good.write_text("one\ntwo\n")
    paths = [str(directory), str(good / "under-a-file"), str(good)]  # IsADirectoryError, NotADirectoryError, ok
    producer = FileTailProducer(worker_ctx, FileTailSettings(file_tail_paths=paths, file_tail_from_start=True))
    await drain_file(producer)
    assert await messages(bus) == ["one", "two"]
    warned = [r for r in caplog.records if r.getMessage().startswith("file not readable")]
    assert sorted(r.path for r in warned) == sorted(paths[:2])  # once each, not at every poll
    assert {r.error.split(":")[0] for r in warned} == {"IsADirectoryError", "NotADirectoryError"}
    directory.rmdir()  # readable at a later poll: followed from then on
    directory.write_text("three\n")
    await drain_file(producer)
    assert await messages(bus) == ["one", "two", "three"]
