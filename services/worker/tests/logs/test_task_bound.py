"""The log task past the template bound (log_max_templates): forgotten ids counted and recorded merged, the
prototype map across restarts."""

from typing import Any

import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.logs import bound, store
from aiops_worker.logs.mining import TemplateMiner
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.context import WorkerContext
from services.worker.tests.logs.conftest import LINES, logs_envelope, saved_state, templates, without_embeddings

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
