"""The log task on real stores: counts and trend, prototypes in ChromaDB, redelivery, restart, budget."""

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from aiops_contracts.bus import Bus
from aiops_contracts.db import Incident, LogMinerState, LogPrototype, LogTemplate, LogTemplateCount, TopologyEdge
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.streams import LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.incidents.task import LogIncidentTask
from aiops_worker.logs import bound, store
from aiops_worker.logs import task as logs_task
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.consumer import StreamConsumer
from aiops_worker.runtime.context import WorkerContext

LINES = [
    "<3>Mar  2 10:00:01 web-1 kernel: Out of memory: Killed process 4242 (java)",
    "<3>Mar  2 10:00:02 web-1 kernel: Out of memory: Killed process 4343 (java)",
    "<3>Mar  2 10:00:02 web-1 kernel: Out of memory: Killed process 4444 (python)",
    "<30>Mar  2 10:00:03 web-2 systemd[1]: Started Session 12 of user deploy.",
    "<30>Mar  2 10:00:04 web-2 systemd[1]: Started Session 13 of user deploy.",
    "<30>Mar  2 10:00:05 web-2 systemd[1]: Started Session 14 of user root.",
    "<27>Mar  2 10:00:06 db-1 postgres[77]: could not connect to server: Connection refused",
]


def logs_envelope(lines: list[str], envelope_id: str | None = None) -> Envelope:
    payload = LogsPayload(records=[LogRecord(message=line) for line in lines]).model_dump(mode="json")
    extra = {"id": envelope_id} if envelope_id else {}
    return Envelope(type=LOGS_RECEIVED, source="test", payload=payload, **extra)


async def templates(ctx: WorkerContext) -> dict[str, LogTemplate]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(LogTemplate).where(LogTemplate.merged_into.is_(None)))
        return {t.template: t for t in rows}


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


def without_embeddings(ctx: WorkerContext, **settings) -> WorkerContext:
    settings = ctx.settings.model_copy(update={"log_embeddings_enabled": False, **settings})
    return WorkerContext(settings=settings, redis=ctx.redis, sessions=ctx.sessions, influx=ctx.influx)


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


async def saved_state(ctx: WorkerContext) -> dict | None:
    async with ctx.sessions() as session:
        saved = await store.load_miner_state(session, LogMiningTask.name)
    return saved and json.loads(saved)


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


GARBAGE = ["<14>Mar  2 10:00:0{} web-1 app: " + " ".join(word * 3 for word in words)
           for words in ("abcd", "efgh", "ijkl", "mnop", "qrst", "uvwx", "yzab", "cdef")]


async def test_a_batch_past_the_template_bound_counts_every_line(bus: Bus, log_ctx: WorkerContext, redis,
                                                                  drain) -> None:
    """The miner forgets templates within the batch that handed out their ids: their lines are still counted
    under them, and the saved state stays at the bound."""
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    lines = [line.format(1) for line in GARBAGE] + [LINES[-1]]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines, "env-1")])
    await drain(LogMiningTask(ctx))
    stored = await templates(ctx)
    assert len(stored) == len(lines) and all(t.count == 1 for t in stored.values())
    state = await saved_state(ctx)
    assert state is not None and len(state["clusters"]) == 3
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    (event,) = announced.payload["events"]
    assert event["template"] == "could not connect to server: Connection refused"


async def test_a_template_back_after_the_bound_forgot_its_survivor_is_live_again(bus: Bus, log_ctx: WorkerContext,
                                                                                  redis, drain) -> None:
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    opened = "<86>Mar  2 10:00:0{} web-1 sshd[9]: session opened for user {} by (uid=0)"
    for lines in ([opened.format(1, "root"), opened.format(2, "cyrus")], [opened.format(3, "news")],
                  [line.format(4) for line in GARBAGE], [opened.format(5, "cyrus")]):
        await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines)])
        await drain(LogMiningTask(ctx))
    # cyrus's template merged into root's, whose group the garbage then evicted; cyrus's first template came
    # back under its old id: the row counts again, no longer an alias (its earlier count stayed with root's).
    stored = await templates(ctx)
    assert stored["session opened for user <*> by (uid=<*>)"].count == 3
    assert stored["session opened for user cyrus by (uid=<*>)"].count == 1


async def test_a_batch_forgetting_more_ids_than_the_miner_remembers_counts_every_line_with_its_template(
        bus: Bus, log_ctx: WorkerContext, redis, drain, monkeypatch) -> None:
    """The miner's record of forgotten ids is short; the batch's own record of them is not: no id the batch
    counted lines under is ever unknown to it (a KeyError there failed the batch on every retry)."""
    monkeypatch.setattr(bound, "_EVICTED_MEMO", 2)
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    lines = [line.format(1) for line in GARBAGE] + [LINES[-1]]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines, "env-1")])
    await drain(LogMiningTask(ctx))
    stored = await templates(ctx)
    expected = {line.split("app: ")[1] for line in lines[:-1]} | {"could not connect to server: Connection refused"}
    assert set(stored) == expected and all(t.count == 1 for t in stored.values())
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    (event,) = announced.payload["events"]
    assert event["template"] == "could not connect to server: Connection refused"


def recorded_merges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The merges the task records from now on (each still recorded in PostgreSQL)."""
    recorded: list[tuple[str, str]] = []
    record_merges = store.record_merges

    async def spy(session: Any, merges: list[tuple[str, str]]) -> None:
        recorded.extend(merges)
        await record_merges(session, merges)

    monkeypatch.setattr(store, "record_merges", spy)
    return recorded


async def test_an_id_forgotten_then_back_and_merged_in_one_batch_is_recorded_merged_into_its_live_survivor(
        bus: Bus, log_ctx: WorkerContext, redis, drain, monkeypatch) -> None:
    """news's template merged into root's, the garbage made the miner forget their group, and all three came back
    and merged again, now into cyrus's (the oldest again): news is recorded merged into cyrus's, not into the
    root's it had when forgotten."""
    recorded = recorded_merges(monkeypatch)
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    failed = "<11>Mar  2 10:00:0{} web-1 sshd[9]: login failed for user {} from gateway"
    lines = ([failed.format(1, user) for user in ("root", "cyrus", "news")] + [line.format(2) for line in GARBAGE[:3]]
             + [failed.format(3, user) for user in ("cyrus", "root", "news")])
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines, "env-1")])
    task = LogMiningTask(ctx)
    await drain(task)
    ids = {user: TemplateMiner().add(f"login failed for user {user} from gateway").template_id
           for user in ("root", "cyrus", "news")}
    assert task.miner.resolve(ids["news"]) == ids["cyrus"] in task.miner.clusters
    assert [new for old, new in recorded if old == ids["news"]] == [ids["cyrus"]]
    assert all(task.miner.resolve(old) == new for old, new in recorded if old in task.miner.aliases)


async def test_the_prototype_map_forgets_what_the_miner_forgot(bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    failed = "<11>Mar  2 10:00:0{} web-1 sshd[9]: login failed for user {} from gateway"
    task = LogMiningTask(ctx)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([failed.format(1, user) for user in ("root", "cyrus", "news")])])
    await drain(task)
    (root,) = task.miner.clusters
    assert root in task.prototype_of
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([line.format(2) for line in GARBAGE])])
    await drain(task)
    assert root not in task.miner.clusters
    assert set(task.prototype_of) <= set(task.miner.clusters) | set(task.miner.aliases)


async def test_a_restarted_task_maps_and_routes_only_the_templates_its_miner_holds(
        bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    """The rows of templates the miner forgot stay (prototype_id NULL when never routed): a restarted task
    neither loads them into its map nor routes them again."""
    flooded = without_embeddings(log_ctx, log_max_templates=3)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([line.format(1) for line in GARBAGE], "env-1")])
    await drain(LogMiningTask(flooded))
    assert len(await templates(flooded)) == len(GARBAGE)
    settings = log_ctx.settings.model_copy(update={"log_max_templates": 3})
    restarted = LogMiningTask(WorkerContext(settings=settings, redis=redis, sessions=log_ctx.sessions,
                                            influx=log_ctx.influx))
    await restarted.start()
    held = set(restarted.miner.clusters) | set(restarted.miner.aliases)
    assert len(held) == 3
    assert set(restarted.prototype_of) == held
    await restarted.cluster_unassigned()
    routed = {t.id for t in (await templates(flooded)).values() if t.prototype_id is not None}
    assert routed == held
    assert set(restarted.prototype_of) == held


async def test_an_id_forgotten_into_a_survivor_merged_later_in_the_batch_counts_under_the_last_survivor(
        bus: Bus, log_ctx: WorkerContext, redis, drain) -> None:
    """cyrus's template merged into root's, the bound forgot cyrus's id, then root's group joined the older
    variant's (two words where root's has one): cyrus's line counts and is announced under the variant's id."""
    ctx = without_embeddings(log_ctx, log_max_templates=4)
    failed = "<11>Mar  2 10:00:0{} web-1 sshd[9]: alpha beta login failed for user {} from gateway"
    lines = [failed.format(1, "web01 web02"), *(failed.format(2, user) for user in ("root", "cyrus", "news")),
             "<11>Mar  2 10:00:03 web-1 app: disk one full", failed.format(4, "web03 web04")]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines, "env-1")])
    task = LogMiningTask(ctx)
    await drain(task)
    variant = TemplateMiner().add("alpha beta login failed for user web01 web02 from gateway").template_id
    assert task.miner.resolve(TemplateMiner().add("alpha beta login failed for user root from gateway").template_id) \
        == variant in task.miner.clusters
    stored = await templates(ctx)
    assert {t.id: t.count for t in stored.values() if "login" in t.template} == {variant: 5}
    (announced,) = [Envelope.from_entry(f) for _, f in await redis.xrange(bus.key(LOGS_TEMPLATED))]
    assert [e["template_id"] for e in announced.payload["events"] if "login" in e["message"]] == [variant] * 5


async def test_an_alias_forgotten_then_back_and_merged_again_is_recorded_merged_into_its_new_survivor(
        bus: Bus, log_ctx: WorkerContext, redis, drain, monkeypatch) -> None:
    """news's id was merged into root's before the batch; the garbage made the miner forget the group, and all
    three came back and merged, now into cyrus's: news is recorded merged again, into cyrus's."""
    recorded = recorded_merges(monkeypatch)
    ctx = without_embeddings(log_ctx, log_max_templates=3)
    failed = "<11>Mar  2 10:00:0{} web-1 sshd[9]: login failed for user {} from gateway"
    task = LogMiningTask(ctx)
    await bus.publish_many(LOGS_INGESTED, [logs_envelope([failed.format(1, user) for user in ("root", "cyrus", "news")])])
    await drain(task)
    ids = {user: TemplateMiner().add(f"login failed for user {user} from gateway").template_id
           for user in ("root", "cyrus", "news")}
    assert task.miner.resolve(ids["news"]) == ids["root"]
    recorded.clear()
    lines = [line.format(2) for line in GARBAGE[:3]] + [failed.format(3, user) for user in ("cyrus", "root", "news")]
    await bus.publish_many(LOGS_INGESTED, [logs_envelope(lines)])
    await drain(task)
    assert task.miner.resolve(ids["news"]) == ids["cyrus"] in task.miner.clusters
    assert [new for old, new in recorded if old == ids["news"]] == [ids["cyrus"]]
