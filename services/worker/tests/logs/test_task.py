"""The log task on real stores: counts and trend, prototypes in ChromaDB, redelivery, restart, budget."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident, LogMinerState, LogPrototype, LogTemplateCount, TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.incidents.task import LogIncidentTask
from aiops_worker.logs import store
from aiops_worker.logs import task as logs_task
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.consumer import StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from services.worker.tests.logs.conftest import LINES, logs_envelope, saved_state, templates, without_embeddings


async def test_lines_become_counted_templates_with_prototypes(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES, "env-1")])
    await drain(LogMiningTask(log_ctx))
    stored = await templates(log_ctx)
    oom = stored["Out of memory: Killed process <*> (java)"]
    assert (oom.count, oom.severity, oom.category) == (2, "critical", "memory")
    # Another word in the slot is another template, but the same kind of event: the same prototype.
    assert stored["Out of memory: Killed process <*> (python)"].prototype_id == oom.prototype_id
    assert stored["Started Session <*> of user deploy."].prototype_id != oom.prototype_id
    assert sum(t.count for t in stored.values()) == len(LINES)
    assert all(t.prototype_id for t in stored.values())
    async with log_ctx.sessions() as session:
        buckets = (await session.execute(select(LogTemplateCount.bucket_start, LogTemplateCount.count)
                                         .where(LogTemplateCount.template_id == oom.id))).all()
        prototypes = await session.scalar(select(func.count()).select_from(LogPrototype))
    # RFC 3164 has no year: this one, or the last one while March 2 is more than a day ahead (January, February).
    now = datetime.now(UTC)
    march_2 = datetime(now.year, 3, 2, 10, 0, tzinfo=UTC)
    assert buckets == [(march_2 if march_2 - now <= timedelta(days=1) else march_2.replace(year=now.year - 1), 2)]
    assert 1 <= prototypes <= len(stored)
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    events = announced.payload["events"]
    assert announced.id == "env-1"
    assert [(e["host"], e["service"], e["category"]) for e in events] == [
        ("web-1", "kernel", "memory"), ("web-1", "kernel", "memory"), ("web-1", "kernel", "memory"),
        ("db-1", "postgres", "database")]
    assert events[0]["prototype_id"] == oom.prototype_id


async def test_redelivery_is_not_counted_twice_and_restart_keeps_ids(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES, "env-1")])
    await drain(LogMiningTask(log_ctx))
    before = {t: (row.id, row.count) for t, row in (await templates(log_ctx)).items()}
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES, "env-1"), logs_envelope(LINES[:1], "env-2")])
    await drain(LogMiningTask(log_ctx))  # a new task: the miner comes back from PostgreSQL
    after = {t: (row.id, row.count) for t, row in (await templates(log_ctx)).items()}
    oom = "Out of memory: Killed process <*> (java)"
    assert after[oom] == (before[oom][0], 3)
    assert {t: i for t, (i, _) in after.items()} == {t: i for t, (i, _) in before.items()}
    assert await redis.xlen(bus.key(LOGS_TEMPLATED)) == 3  # env-1 announced again, env-2 once


async def test_an_envelope_twice_in_one_batch_is_counted_once(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    # The file tail republishes the lines it had not committed after a crash: both copies may be read together.
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES, "env-1"), logs_envelope(LINES, "env-1")])
    await drain(LogMiningTask(log_ctx))
    assert sum(t.count for t in (await templates(log_ctx)).values()) == len(LINES)
    async with log_ctx.sessions() as session:
        assert await session.scalar(select(func.sum(LogTemplateCount.count))) == len(LINES)


async def test_templates_over_the_embedding_budget_are_routed_by_the_periodic_pass(bus: Bus, log_ctx: WorkerContext, redis,
                                                                                   drain) -> None:
    settings = log_ctx.settings.model_copy(update={"log_embed_inline_max": 1})
    ctx = WorkerContext(settings=settings, redis=redis, sessions=log_ctx.sessions, influx=log_ctx.influx)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES)])
    task = LogMiningTask(ctx)
    await task.start()
    await StreamConsumer.run(task, asyncio.Event(), drain=True)  # the stream only, without the final pass
    assert sum(1 for t in (await templates(ctx)).values() if t.prototype_id is None) >= 2
    await task.cluster_unassigned()
    assert all(t.prototype_id for t in (await templates(ctx)).values())


async def test_a_line_over_the_budget_is_dead_lettered_alone(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    wide = "job " + " ".join(str(i) for i in range(40))  # 41 tokens: a second one needs 41 comparisons
    ctx = without_embeddings(log_ctx, log_line_max_comparisons=30)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([LINES[0], wide, wide.replace("1", "7"), LINES[3]],
                                                            "env-1")])
    await drain(LogMiningTask(ctx))
    assert sum(t.count for t in (await templates(ctx)).values()) == 3
    (dead,) = await redis.xrange(bus.dead_letter_key(LOGS_INGESTED))
    envelope = Envelope.from_entry(dead[1])
    assert envelope.id == "env-1:2"
    assert [r["message"] for r in envelope.payload["records"]] == [wide.replace("1", "7")]
    assert b"LineTooCostly" in dead[1][b"error"]
    assert await redis.xpending(bus.key(LOGS_INGESTED), LogMiningTask.name) == {
        "pending": 0, "min": None, "max": None, "consumers": []}


async def test_analysis_leaves_the_event_loop_to_the_other_tasks(bus: Bus, log_ctx: WorkerContext, redis) -> None:
    """A coroutine running beside the task sees the miner part-way through one envelope: the analysis does
    not hold the loop for a whole batch."""
    lines = [f"worker {i} took {i % 97}ms on shard s{i % 5}" for i in range(4000)]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines)])
    task = LogMiningTask(without_embeddings(log_ctx))
    await task.start()
    seen: set[int] = set()
    running = asyncio.create_task(StreamConsumer.run(task, asyncio.Event(), drain=True))
    while not running.done():
        seen.add(task.miner.work.candidates)
        await asyncio.sleep(0)
    await running
    assert any(0 < candidates < len(lines) - 1 for candidates in seen)


async def saved_large_state(ctx: WorkerContext, count: int) -> dict:
    """A saved miner state of `count` templates (distinct, no digit), as stored for the task."""
    words = ["".join(chr(97 + i // 26 ** k % 26) for k in range(4)) for i in range(count)]
    clusters = [{"cluster_id": f"t{i}", "tokens": [f"{slot}{word}" for slot in "abcdef"], "size": 1, "seq": i}
                for i, word in enumerate(words)]
    state = {**TemplateMiner().to_state(), "clusters": clusters, "next_seq": len(clusters)}
    async with ctx.sessions.begin() as session:
        await session.execute(insert(LogMinerState).values(name=LogMiningTask.name, state=state))
    return state


async def test_saving_the_miner_state_leaves_the_event_loop_to_the_other_tasks(
        bus: Bus, log_ctx: WorkerContext, redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building and encoding the state (~400 ms of the loop at 20,000 templates) runs on a thread, not the loop's."""
    ctx = without_embeddings(log_ctx)
    state = await saved_large_state(ctx, 1_000)
    threads: list[int] = []

    def state_json(miner: TemplateMiner) -> str:
        threads.append(threading.get_ident())
        return real_state_json(miner)

    real_state_json = logs_task._state_json
    monkeypatch.setattr(logs_task, "_state_json", state_json)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(["a line never seen before"])])  # learned: state saved
    task = LogMiningTask(ctx)
    await task.start()
    await StreamConsumer.run(task, asyncio.Event(), drain=True)

    saved = await saved_state(ctx)
    assert saved is not None and len(saved["clusters"]) == len(state["clusters"]) + 1
    assert threads and threading.get_ident() not in threads


async def test_restoring_the_miner_state_leaves_the_event_loop_to_the_other_tasks(
        log_ctx: WorkerContext, redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding the state and rebuilding the miner (~250-370 ms of the loop at 20,000 templates, at start and after
    a batch whose transaction failed) run on a thread, not the loop's."""
    ctx = without_embeddings(log_ctx)
    state = await saved_large_state(ctx, 1_000)
    threads: list[int] = []

    def restore_miner(*args: Any) -> TemplateMiner:
        threads.append(threading.get_ident())
        return real_restore_miner(*args)

    real_restore_miner = logs_task._restore_miner
    monkeypatch.setattr(logs_task, "_restore_miner", restore_miner)
    task = LogMiningTask(ctx)
    await task.start()
    assert len(task.miner.clusters) == len(state["clusters"])
    assert threads and threading.get_ident() not in threads


async def test_nul_in_a_line_is_stored_and_the_miner_state_saved(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    ctx = without_embeddings(log_ctx)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(["disk\0 full on sda1", LINES[0]])])
    await drain(LogMiningTask(ctx))
    assert await redis.xlen(bus.dead_letter_key(LOGS_INGESTED)) == 0
    stored = await templates(ctx)
    assert "disk\ufffd full on sda1" in stored
    state = await saved_state(ctx)
    assert state is not None and len(state["clusters"]) == 2


async def test_forwarded_syslog_lines_are_templated_without_their_header(bus: Bus, log_ctx: WorkerContext, redis,
                                                                         drain) -> None:
    lines = [f'{{"log": "Nov  3 12:00:0{i} web-{i} postgres[{100 + i}]: FATAL: too many connections"}}'
             for i in range(3)]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines)])
    await drain(LogMiningTask(without_embeddings(log_ctx)))
    assert list(await templates(log_ctx)) == ["FATAL: too many connections"]
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    assert [(e["host"], e["service"]) for e in announced.payload["events"]] == [
        ("web-0", "postgres"), ("web-1", "postgres"), ("web-2", "postgres")]


async def test_every_line_teaches_which_programs_run_on_which_hosts(bus: Bus, log_ctx: WorkerContext, redis,
                                                                    drain) -> None:
    """Routine lines too (systemd's sessions are no signal), each (program, host) written once."""
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(LINES), logs_envelope(LINES[3:5])])
    await drain(LogMiningTask(without_embeddings(log_ctx)))
    async with log_ctx.sessions() as session:
        edges = (await session.execute(select(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target,
                                              TopologyEdge.origin).order_by(TopologyEdge.source))).all()
    assert edges == [("runs_on", "kernel", "web-1", "learned"), ("runs_on", "postgres", "db-1", "learned"),
                     ("runs_on", "systemd", "web-2", "learned")]


async def test_a_line_stamped_far_from_now_takes_the_time_it_was_received(bus: Bus, log_ctx: WorkerContext, redis,
                                                                          drain) -> None:
    """Year 1 (a clock never set) or 9999 reads as no stamp, so the line is stored and grouped at its envelope's
    time (the incident's windows around year 1 overflowed: its whole envelope was retried, then dead-lettered)."""
    ctx = without_embeddings(log_ctx)
    lines = [f"{stamp} ERROR [main] app: out of memory" for stamp in ("0001-01-01 00:00:00", "9999-12-31 23:59:59")]
    envelope = logs_envelope(lines, "env-1")
    await bus.publish_many(LOGS_INGESTED, [envelope])
    await drain(LogMiningTask(ctx))
    await drain(LogIncidentTask(ctx))
    assert [await redis.xlen(bus.dead_letter_key(s)) for s in (LOGS_INGESTED, LOGS_TEMPLATED)] == [0, 0]
    assert (await redis.xpending(bus.key(LOGS_TEMPLATED), LogIncidentTask.name))["pending"] == 0
    assert (await templates(ctx))["out of memory"].count == 2
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in announced.payload["events"]] == [envelope.time] * 2
    async with ctx.sessions() as session:
        (incident,) = await session.scalars(select(Incident))
    assert (incident.first_seen_at, incident.last_seen_at, incident.event_count) == (envelope.time, envelope.time, 2)


async def test_a_batch_retried_after_its_transaction_failed_is_learned_once_with_its_merges(
        bus: Bus, log_ctx: WorkerContext, redis, drain, monkeypatch) -> None:
    """PostgreSQL drops the connection once the batch's state is written, before it commits: the retried batch
    counts its lines once in the miner and records the merge it made."""
    ctx = without_embeddings(log_ctx)
    opened = "<86>Mar  2 10:00:0{} web-1 sshd[9]: session opened for user {} by (uid=0)"
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([opened.format(1, "root"), opened.format(2, "cyrus")])])
    await drain(LogMiningTask(ctx))
    assert len(await templates(ctx)) == 2
    save_miner_state, failures = store.save_miner_state, []

    async def save_then_lose_the_connection(session, name, state) -> None:
        await save_miner_state(session, name, state)
        if not failures:
            failures.append(name)
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    monkeypatch.setattr(store, "save_miner_state", save_then_lose_the_connection)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([opened.format(3, "news")])])
    await drain(LogMiningTask(ctx))
    assert failures
    (merged,) = (await templates(ctx)).values()  # the cyrus template merged into the root one, with its count
    assert (merged.template, merged.count) == ("session opened for user <*> by (uid=<*>)", 3)
    state = await saved_state(ctx)
    assert state is not None and sum(cluster["size"] for cluster in state["clusters"]) == 3
