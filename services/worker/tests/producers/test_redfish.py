"""The Redfish poller against a local Redfish service serving a DMTF-style mockup tree the test changes
(tests/fakes/redfish_bmc.py): session and basic auth, metrics from Systems, Thermal and Power, and a
failed fan becoming an alert that is resolved once the fan is back, and the subscription to the BMC's events
(tried again when it fails, made again when gone from the BMC, left alone when it is the next poller's, deleted
at the end even when the poll never read the BMC's answer, or when one of them fails there, waited for no longer
than a poll), and the session of a login a cancelled poll left in flight (deleted at the close, or taken by the
next poll); what the BMC pushed is settled by the next poll's reading, unless pushed again before that poll's
commit; a failed commit is reported as such."""

import asyncio
import importlib.util
import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis

from aiops_contracts.envelope import Envelope
from aiops_contracts.pollers import (
    note_redfish_pushes,
    poller_settings,
    redfish_fingerprint,
    redfish_push_ids_key,
)
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED, METRICS_INGESTED
from aiops_worker.producers import redfish as redfish_module
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.health import health_key
from aiops_worker.producers.manager import Outcome, ProducerManager
from aiops_worker.producers.poller import CheckFailed, PolledSource, PollResult
from aiops_worker.producers.redfish import RedfishPoller
from conftest import polled, until

_spec = importlib.util.spec_from_file_location("redfish_bmc", Path(__file__).parents[4] / "tests/fakes/redfish_bmc.py")
assert _spec and _spec.loader
bmc_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bmc_module)


@pytest.fixture
async def bmc(tmp_path: Path):
    bmc_module.mockup(tmp_path)
    async with bmc_module.RedfishBmc(tmp_path) as server:
        yield server


PUSH_URL = "http://127.0.0.1:8080/webhooks/redfish/bmc-id"
FAN = "/redfish/v1/Chassis/1U/Thermal#/Fans/0"
PUSHED_KEY = "aiops-test-redfish:pushed"  # the manager names it (redfish_pushed_key)
PUSH_IDS_KEY = redfish_push_ids_key(PUSHED_KEY)


def poller(bmc, auth: str = "session", password: str = bmc_module.PASSWORD, events: bool = True,
           push_url: str | None = None, redis: Redis | None = None,
           kind: type[RedfishPoller] = RedfishPoller) -> RedfishPoller:
    settings = poller_settings("redfish", {"username": bmc_module.USERNAME, "auth": auth, "events": events},
                               {"password": password})
    return kind(PolledSource("bmc-id", "rack1-bmc", SourceKind.redfish, bmc.url, 60.0, {}, settings,
                             push_url=push_url, push_context="c" * 64 if push_url else None, redis=redis,
                             pushed_key=PUSHED_KEY if redis else None))


async def test_session_auth_reads_systems_thermal_and_power(bmc) -> None:
    redfish = poller(bmc)
    result = await redfish.poll()
    measurements = {line.split(",", 1)[0] for line in result.lines}
    assert measurements == {"redfish_system", "redfish_temperature", "redfish_fan", "redfish_power", "redfish_psu"}
    assert any("consumed_watts=344.0" in line for line in result.lines)
    assert any("reading_celsius=41.0" in line and "sensor=CPU1\\ Temp" in line for line in result.lines)
    assert result.alerts == []
    assert bmc.requests[0] == "POST /redfish/v1/SessionService/Sessions"
    bmc.expire_sessions()  # the BMC forgot the session: logged in again, the poll still succeeds
    assert len((await redfish.poll()).lines) == len(result.lines)
    await redfish.aclose()
    assert bmc.requests[-1].startswith("DELETE /redfish/v1/SessionService/Sessions/")


async def test_basic_auth_and_wrong_password(bmc) -> None:
    basic, wrong, wrong_basic = poller(bmc, auth="basic"), poller(bmc, password="wrong"), poller(
        bmc, auth="basic", password="wrong")
    assert (await basic.poll()).lines
    with pytest.raises(CheckFailed) as refused:
        await wrong.poll()
    assert refused.value.stage == "auth"
    tested = await check_connection(wrong_basic)
    assert [(s.stage, s.ok) for s in tested.steps] == [("dns", True), ("tcp", True), ("auth", False)]
    for redfish in (basic, wrong, wrong_basic):
        await redfish.aclose()


async def test_a_failed_fan_fires_an_alert_resolved_when_it_spins_again(bmc, tmp_path: Path) -> None:
    redfish = poller(bmc)
    assert (await polled(redfish)).alerts == []
    bmc_module.mockup(tmp_path, fan_health="Critical")
    unpublished = (await redfish.poll()).alerts
    failed = (await polled(redfish)).alerts  # the first was not published: said again
    assert [(a.fingerprint, a.status) for a in failed] == [(a.fingerprint, a.status) for a in unpublished]
    by_title = {alert.title: alert for alert in failed}
    fan = by_title["Fan BaseBoard System Fan on 127.0.0.1: Critical"]
    assert (fan.severity, fan.status) == ("critical", "firing")
    assert "System 437XR1138R2 on 127.0.0.1: Critical" in by_title  # the system's health roll-up
    assert (await polled(redfish)).alerts == []  # still failed: nothing new to say
    bmc_module.mockup(tmp_path)
    healed = (await polled(redfish)).alerts
    assert {(a.fingerprint, a.status) for a in healed} == {(a.fingerprint, "resolved") for a in failed}
    await redfish.aclose()


async def test_subscribes_to_the_bmcs_events_once_and_unsubscribes_when_stopped(bmc) -> None:
    push_url = PUSH_URL
    died = poller(bmc, push_url=push_url)
    await died.poll()  # subscribed, then its replica died without unsubscribing
    await died.api.aclose()
    redfish, not_wanted = poller(bmc, push_url=push_url), poller(bmc, push_url=push_url, events=False)
    await redfish.poll()
    await redfish.poll()
    await not_wanted.poll()
    [subscription] = bmc.subscriptions.values()  # the stale one replaced, one per poller, none when not wanted
    assert (subscription["Destination"], subscription["Context"].partition(".")[0], subscription["Protocol"]) == (
        push_url, "c" * 64, "Redfish")
    assert "DELETE /redfish/v1/EventService/Subscriptions/1" in bmc.requests  # the dead replica's
    await redfish.aclose()
    assert bmc.subscriptions == {}
    assert bmc.requests[-1].startswith("DELETE /redfish/v1/SessionService/Sessions/")
    await not_wanted.aclose()


async def test_a_failed_subscription_is_tried_again_while_polling_goes_on(bmc, monkeypatch) -> None:
    monkeypatch.setattr(redfish_module, "SUBSCRIBE_RETRY_S", 0.0)
    redfish = poller(bmc, push_url=PUSH_URL)
    bmc.events_unavailable = True
    assert (await redfish.poll()).lines and bmc.subscriptions == {}
    bmc.events_unavailable = False
    await redfish.poll()
    assert [s["Destination"] for s in bmc.subscriptions.values()] == [PUSH_URL]
    await redfish.aclose()


async def test_a_subscription_gone_from_the_bmc_is_made_again_within_a_few_polls(bmc) -> None:
    """A handover's former replica may delete the subscription of the next one: it read its own Context at a
    path, and its DELETE came once the next had deleted that one and the BMC had given its new one the same id
    (a BMC's restart loses them too). The poller checks that its own is still there every few polls."""
    redfish = poller(bmc, push_url=PUSH_URL)
    await redfish.poll()
    [(path, subscription)] = bmc.subscriptions.items()
    del bmc.subscriptions[path]  # as the former replica's DELETE did
    listed = bmc.requests.count(f"GET {bmc_module.SUBSCRIPTIONS}")
    for _ in range(redfish_module.RECHECK_EVERY_POLLS - 1):
        await redfish.poll()
    assert bmc.subscriptions == {} and bmc.requests.count(f"GET {bmc_module.SUBSCRIPTIONS}") == listed  # cheap
    await redfish.poll()
    [again] = bmc.subscriptions.values()
    assert (again["Destination"], again["Context"]) == (PUSH_URL, subscription["Context"])
    for _ in range(redfish_module.RECHECK_EVERY_POLLS):  # found there: left as it is
        await redfish.poll()
    assert list(bmc.subscriptions.values()) == [again]
    await redfish.aclose()
    assert bmc.subscriptions == {}


async def test_a_subscription_check_that_fails_leaves_the_poll_and_the_subscription_as_they_are(bmc) -> None:
    redfish = poller(bmc, push_url=PUSH_URL)
    await redfish.poll()
    subscriptions = dict(bmc.subscriptions)
    bmc.fail_requests.add(f"GET {bmc_module.SUBSCRIPTIONS}")
    for _ in range(redfish_module.RECHECK_EVERY_POLLS):
        assert (await redfish.poll()).lines
    assert bmc.requests[-1] != f"POST {bmc_module.SUBSCRIPTIONS}" and bmc.subscriptions == subscriptions
    bmc.fail_requests.clear()
    del bmc.subscriptions[next(iter(subscriptions))]
    for _ in range(redfish_module.RECHECK_EVERY_POLLS):  # checked again: gone, made again
        await redfish.poll()
    assert len(bmc.subscriptions) == 1
    await redfish.aclose()


async def test_a_stopped_poller_leaves_the_next_pollers_subscription_alone(bmc) -> None:
    handed_over, taking_over = poller(bmc, push_url=PUSH_URL), poller(bmc, push_url=PUSH_URL)
    await handed_over.poll()
    await taking_over.poll()  # deletes the earlier one; the BMC gives the new one the same id
    [(path, subscription)] = bmc.subscriptions.items()
    await handed_over.aclose()
    assert bmc.subscriptions == {path: subscription}
    assert bmc.requests[-1].startswith("DELETE /redfish/v1/SessionService/Sessions/")  # its session ended still
    await taking_over.aclose()
    assert bmc.subscriptions == {}


async def test_a_subscription_whose_answer_the_poll_never_read_is_deleted_when_stopped(bmc) -> None:
    redfish = poller(bmc, push_url=PUSH_URL)
    bmc.answer_subscriptions.clear()
    polling = asyncio.create_task(redfish.poll())

    async def created() -> bool:
        return bool(bmc.subscriptions)

    await until(created, 10, "the subscription created on the BMC")
    polling.cancel()  # the source disabled (or the poll timed out) before the BMC answered
    bmc.answer_subscriptions.set()
    await asyncio.gather(polling, return_exceptions=True)
    await redfish.aclose()
    assert bmc.subscriptions == {}


async def test_a_bmc_that_never_answers_the_unsubscribe_holds_the_close_no_longer_than_a_poll(bmc) -> None:
    redfish = poller(bmc, push_url=PUSH_URL)
    redfish.settings = redfish.settings.model_copy(update={"timeout_s": 0.5})
    await redfish.poll()
    bmc.answer_unsubscribes.clear()
    try:
        async with asyncio.timeout(30):  # aiohttp's own bound is 5 minutes, which a reconcile or a stop waited
            await redfish.aclose()
    finally:
        bmc.answer_unsubscribes.set()
    assert redfish.api.session.closed  # the client is closed all the same


@pytest.mark.parametrize("failing", ["GET", "DELETE"])
async def test_a_subscription_failing_at_stop_does_not_leave_the_pollers_others(bmc, caplog, failing: str) -> None:
    redfish = poller(bmc, push_url=PUSH_URL)
    await redfish.poll()
    [(failed, subscription)] = bmc.subscriptions.items()
    others = bmc.subscribe("http://10.0.0.9/events", "another client's")
    left = bmc.subscribe(PUSH_URL, subscription["Context"])  # of this poller too: an earlier subscribe left it
    bmc.fail_requests.add(f"{failing} {failed}")  # the BMC fails on that one: the loop goes on with the others
    with caplog.at_level(logging.WARNING, logger=redfish_module.__name__):
        await redfish.aclose()
    assert left not in bmc.subscriptions and set(bmc.subscriptions) == {failed, others}
    [warning] = [record for record in caplog.records if getattr(record, "subscription", None) == failed]
    assert "500" in warning.error
    assert bmc.requests[-1].startswith("DELETE /redfish/v1/SessionService/Sessions/") and bmc.tokens == {}


async def login_cancelled_once_created(bmc, redfish: RedfishPoller) -> None:
    """A poll of `redfish` cancelled (the source disabled, or the poll timed out) once the BMC created the
    session of its login, before it answered."""
    bmc.answer_sessions.clear()
    polling = asyncio.create_task(redfish.poll())

    async def created() -> bool:
        return bool(bmc.tokens)

    await until(created, 10, "the session created on the BMC")
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)


async def test_a_session_whose_login_was_cancelled_is_deleted_when_stopped(bmc) -> None:
    redfish = poller(bmc)
    await login_cancelled_once_created(bmc, redfish)
    bmc.answer_sessions.set()  # the BMC answers after all: its session is known, and ended at the close
    await redfish.aclose()
    assert bmc.tokens == {}
    assert bmc.requests[-1].startswith("DELETE /redfish/v1/SessionService/Sessions/")


async def test_the_poll_after_a_cancelled_login_takes_its_session(bmc) -> None:
    redfish = poller(bmc)
    await login_cancelled_once_created(bmc, redfish)
    bmc.answer_sessions.set()
    assert (await redfish.poll()).lines  # the login in flight: no second session, which would be left behind
    assert bmc.requests.count("POST /redfish/v1/SessionService/Sessions") == 1
    await redfish.aclose()
    assert bmc.tokens == {}


async def test_a_login_the_bmc_never_answers_holds_the_close_no_longer_than_a_poll(bmc) -> None:
    redfish = poller(bmc)
    redfish.settings = redfish.settings.model_copy(update={"timeout_s": 0.5})
    await login_cancelled_once_created(bmc, redfish)
    try:
        async with asyncio.timeout(30):  # the session never answered, its path unknown: nothing to delete
            await redfish.aclose()
    finally:
        bmc.answer_sessions.set()
    assert redfish.api.session.closed


async def test_the_polls_reading_settles_what_the_bmc_pushed(bmc, tmp_path: Path, redis: Redis) -> None:
    redfish, pushed = poller(bmc, redis=redis), PUSHED_KEY
    # Values as the API noted them before pushes had ids (the status alone): read and settled all the same.
    await redis.hset(pushed, mapping={FAN: "firing", "/redfish/v1/Systems/1/Storage/1/Drives/0": "firing"})
    unpublished = await redfish.poll()
    assert len(await redis.hkeys(pushed)) == 2  # settled only once its result is published
    [resolved] = (await polled(redfish)).alerts  # the poll reads the fan OK: the pushed Warning is resolved
    assert unpublished.alerts == [resolved]
    assert (resolved.fingerprint, resolved.status) == (redfish_fingerprint("bmc-id", FAN), "resolved")
    assert await redis.hkeys(pushed) == [b"/redfish/v1/Systems/1/Storage/1/Drives/0"]  # not read: as pushed

    bmc_module.mockup(tmp_path, fan_health="Critical")
    assert FAN in {alert.labels["component"] for alert in (await polled(redfish)).alerts}
    await redis.hset(pushed, FAN, "resolved")  # a pushed OK for a fan still failing
    [fired_again] = (await polled(redfish)).alerts
    assert (fired_again.fingerprint, fired_again.status, fired_again.severity) == (
        redfish_fingerprint("bmc-id", FAN), "firing", "critical")
    assert (await polled(redfish)).alerts == []
    await redfish.aclose()


async def test_a_push_arriving_between_the_poll_and_its_commit_is_left_to_the_next_poll(bmc, redis: Redis) -> None:
    redfish = poller(bmc, redis=redis)
    await redis.hset(PUSHED_KEY, FAN, "firing")
    result = await redfish.poll()  # reads the fan OK: the pushed Warning is resolved
    await redis.hset(PUSHED_KEY, FAN, "resolved")  # the BMC pushes again before the result is published
    await result.commit()
    assert await redis.hget(PUSHED_KEY, FAN) == b"resolved"  # not what the poll read: not settled by it
    assert (await polled(redfish)).alerts == [] and await redis.hkeys(PUSHED_KEY) == []
    await redfish.aclose()


async def test_a_push_of_the_same_status_arriving_between_the_poll_and_its_commit_is_left_to_the_next_poll(
        bmc, redis: Redis) -> None:
    """The API notes each push with an id of its own beside the status: the commit tells the push it read from a
    later one that says the same (a fan failing again after the poll read it OK), which the next poll settles."""
    redfish = poller(bmc, redis=redis)
    await note_redfish_pushes(redis, PUSHED_KEY, {FAN: "firing"}, "push-1", 3600)
    result = await redfish.poll()  # reads the fan OK: the pushed Warning is resolved
    [resolved] = result.alerts
    await note_redfish_pushes(redis, PUSHED_KEY, {FAN: "firing"}, "push-2", 3600)  # pushed again before the commit
    await result.commit()
    assert (await redis.hget(PUSHED_KEY, FAN), await redis.hget(PUSH_IDS_KEY, FAN)) == (b"firing", b"push-2")
    assert (await polled(redfish)).alerts == [resolved]  # the next poll reads it OK again: resolved again
    assert await redis.hkeys(PUSHED_KEY) == [] and await redis.hkeys(PUSH_IDS_KEY) == []
    await redfish.aclose()


async def test_pushes_noted_and_settled_by_services_of_before_during_a_rolling_upgrade(bmc, redis: Redis) -> None:
    """The status alone is in the pushed hash, as before pushes had ids: a worker of before reads and settles it
    (deleting the status, not its id); an API of before then notes a status with no id of its own, which this
    poller reads with the id left behind and settles all the same."""
    redfish = poller(bmc, redis=redis)
    await note_redfish_pushes(redis, PUSHED_KEY, {FAN: "firing"}, "push-1", 3600)
    assert await redis.hgetall(PUSHED_KEY) == {FAN.encode(): b"firing"}  # what a worker of before compares
    await redis.hdel(PUSHED_KEY, FAN)  # a worker of before settled it: its compare-and-delete knows one hash
    await redis.hset(PUSHED_KEY, FAN, "firing")  # an API of before notes the status alone
    [resolved] = (await polled(redfish)).alerts
    assert (resolved.fingerprint, resolved.status) == (redfish_fingerprint("bmc-id", FAN), "resolved")
    assert await redis.hkeys(PUSHED_KEY) == [] and await redis.hkeys(PUSH_IDS_KEY) == []
    await redfish.aclose()


class CommitRefused(RedfishPoller):
    """Once a poll read the pushed hash, something else holds its key: the poll's commit fails there."""

    async def poll(self) -> PollResult:
        result = await super().poll()
        await self.source.redis.set(PUSHED_KEY, "not a hash")
        return result


async def test_a_failed_commit_is_told_apart_from_a_failed_publish(bmc, redis: Redis, worker_ctx) -> None:
    await redis.hset(PUSHED_KEY, FAN, "firing")
    redfish = poller(bmc, redis=redis, kind=CommitRefused)
    assert await ProducerManager(worker_ctx).poll_once(redfish) == Outcome.failed
    health = await redis.hgetall(health_key(worker_ctx.settings, "bmc-id"))
    assert health[b"last_error"].startswith(b"commit: WRONGTYPE")
    [metrics] = [Envelope.from_entry(fields) for _, fields in await redis.xrange(worker_ctx.bus.key(METRICS_INGESTED))]
    [resolved] = await redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))  # published: counted
    assert int(health[b"points_total"]) == metrics.payload["count"] + 1
    await redfish.aclose()
