"""Datadog pollers against a local server speaking Datadog's documented HTTP API (tests/fakes/vendor_apis.py,
answers from Datadog's documented examples): auth, pagination, rate limits (429 and its reset header), the log
limit of a poll and what the results become."""

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from aiops_contracts.sources import SourceKind
from aiops_worker.producers import datadog
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.datadog import DatadogPoller
from conftest import fake, polled
from conftest import polled_source as source

vendors = fake("vendor_apis")


DATADOG_KEYS = {"api_key": vendors.DATADOG_API_KEY, "application_key": vendors.DATADOG_APP_KEY}


async def test_datadog_metrics_and_paginated_logs_after_a_rate_limit() -> None:
    async with vendors.Datadog() as api:
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {
            "metric_queries": ["avg:system.cpu.user{*} by {host}"], "log_query": "status:error"}, DATADOG_KEYS))
        api.rate_limit_once = True  # 429 with X-RateLimit-Reset: 1 (seconds) first
        started = time.monotonic()
        result = await poller.poll()
        assert time.monotonic() - started >= 1.0
        assert [line.split(" ")[0] for line in result.lines] == ["system.cpu.user,host=web-1,source=datadog-1,team=sre"] * 2
        assert [(r.message, r.host, r.labels) for r in result.logs] == [
            ("upstream timed out", "i-0123", {"service": "agent", "status": "error"}),
            ("payment failed", "i-0123", {"service": "agent", "status": "error"})]
        paths = [(method, path) for method, path, _ in api.requests]
        assert paths.count(("GET", "/api/v1/query")) == 2 and paths.count(("GET", "/api/v2/logs/events")) == 2
        query = next(q for _, path, q in api.requests if path == "/api/v1/query")
        assert query["query"] == "avg:system.cpu.user{*} by {host}" and int(query["to"]) > int(query["from"])
        await poller.aclose()


class DatadogUnclearReset(vendors.Datadog):
    def rate_limited(self) -> web.Response:
        return web.json_response({"errors": ["Rate limit exceeded"]}, status=429, headers={"Retry-After": "soon"})


async def test_a_429_with_an_unreadable_reset_header_waits_a_second_and_retries() -> None:
    async with DatadogUnclearReset() as api:
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {"metric_queries": ["avg:system.cpu.user{*}"]},
                                     DATADOG_KEYS))
        api.rate_limit_once = True
        started = time.monotonic()
        result = await poller.poll()
        assert time.monotonic() - started >= 1.0 and result.lines
        await poller.aclose()


class DatadogWindow(vendors.Datadog):
    """Log events at `times` (millisecond datetimes), answered oldest first as `sort=timestamp` asks, from filter[from]
    to filter[to] (both inclusive), page[limit] at a time, page[cursor] (here the offset) for the next page."""

    times: list[datetime] = []

    def routes(self) -> list[web.RouteDef]:
        async def logs(request: web.Request) -> web.Response:
            start, end = (datetime.fromisoformat(request.query[f"filter[{k}]"]) for k in ("from", "to"))
            matching = [(n, at) for n, at in enumerate(self.times) if start <= at <= end]
            offset, size = int(request.query.get("page[cursor]", 0)), int(request.query["page[limit]"])
            body: dict = {"meta": {"status": "done"}, "data": [
                {"id": f"AAAA{n}", "type": "log", "attributes": self.attributes(n, at)}
                for n, at in matching[offset:offset + size]]}
            if offset + size < len(matching):
                body["meta"]["page"] = {"after": str(offset + size)}
            return web.json_response(body)

        return [web.get("/api/v2/logs/events", logs)]

    def attributes(self, n: int, at: datetime) -> dict:
        return {"timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "host": "i-0123",
                "service": "agent", "status": "error", "message": f"event {n}"}


def limited(outcome: str) -> float:
    return REGISTRY.get_sample_value("aiops_worker_datadog_log_polls_limited_total", {"outcome": outcome}) or 0.0


def limit_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("datadog log limit reached")]


async def polls_of(api: DatadogWindow, count: int, log_limit: int) -> list[list[str]]:
    """The messages each of `count` polls of a Datadog source with this `log_limit` read, each poll published."""
    poller = DatadogPoller(source(SourceKind.datadog, api.url, {"log_query": "status:error", "log_limit": log_limit},
                                  DATADOG_KEYS))
    polls = [[r.message for r in (await polled(poller)).logs] for _ in range(count)]
    await poller.aclose()
    return polls


async def test_a_full_datadog_log_poll_resumes_at_its_last_record(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(datadog, "LOG_PAGE_LIMIT", 3)  # the limit (4) ends within the second page
    deferred = limited("deferred")
    async with DatadogWindow() as api:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [base + timedelta(seconds=s) for s in (1, 2, 3, 3, 4, 5)]  # two at 3 s
        polls = await polls_of(api, 4, log_limit=4)
    # Each full poll (4) keeps those before its last record's time and leaves that time to the next.
    assert polls == [["event 0", "event 1"], ["event 2", "event 3", "event 4"], ["event 5"], []]
    assert limited("deferred") == deferred + 2
    assert [(r.source, r.outcome, r.resume_at) for r in limit_warnings(caplog)] == [
        ("datadog-1", "deferred", api.times[n].isoformat().replace("+00:00", "Z")) for n in (2, 5)]


async def test_more_datadog_events_of_one_millisecond_than_the_limit_are_each_read_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Five events of one millisecond, a limit of 2 and pages of 2: the polls go on within that millisecond (from it
    again, leaving out the events of it they already read, by id) until it is read, then go past it."""
    monkeypatch.setattr(datadog, "LOG_PAGE_LIMIT", 2)
    within = limited("within_millisecond")
    async with DatadogWindow() as api:
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [at] * 5 + [at + timedelta(seconds=1)]
        polls = await polls_of(api, 5, log_limit=2)
    assert polls == [["event 0", "event 1"], ["event 2", "event 3"], ["event 4"], ["event 5"], []]
    assert limited("within_millisecond") == within + 2
    assert [r.outcome for r in limit_warnings(caplog)] == ["within_millisecond"] * 2 + ["deferred"]


class DatadogUntimedEvents(DatadogWindow):
    """Events 1 and 3 have a time the poller cannot read (Datadog still answers them in their place)."""

    def attributes(self, n: int, at: datetime) -> dict:
        return {**super().attributes(n, at), **({"timestamp": "yesterday"} if n in (1, 3) else {})}


async def test_datadog_events_without_a_time_in_a_full_poll_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full poll keeps its events without a time (they are taken for earlier ones) and the next starts at its last
    time: they are left out there by id, like the events of that millisecond read, so none is read twice and the
    polls go on (they once filled every poll again with the same events)."""
    monkeypatch.setattr(datadog, "LOG_PAGE_LIMIT", 2)
    async with DatadogUntimedEvents() as api:
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [at] * 4 + [at + timedelta(seconds=1)]
        polls = await polls_of(api, 5, log_limit=2)
    assert polls == [["event 1"], ["event 0", "event 2"], ["event 3"], ["event 4"], []]


async def test_a_datadog_poll_within_one_millisecond_not_committed_is_read_again() -> None:
    async with DatadogWindow() as api:
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [at] * 3
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {"log_query": "status:error", "log_limit": 2},
                                      DATADOG_KEYS))
        await polled(poller)  # events 0 and 1
        first = await poller.poll()
        again = await poller.poll()  # the first was not published: the same events again
        assert [r.message for r in first.logs] == [r.message for r in again.logs] == ["event 2"]
        await again.commit()
        assert (await poller.poll()).logs == []
        await poller.aclose()


async def test_datadog_wrong_keys_are_an_auth_failure() -> None:
    async with vendors.Datadog() as api:
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {}, {**DATADOG_KEYS, "api_key": "wrong"}))
        tested = await check_connection(poller)
        assert [(s.stage, s.ok) for s in tested.steps] == [("dns", True), ("tcp", True), ("auth", False)]
        await poller.aclose()


async def test_a_host_name_dns_cannot_encode_fails_the_connection_test_at_dns() -> None:
    poller = DatadogPoller(source(SourceKind.datadog, f"https://{'a' * 64}.example", {}, DATADOG_KEYS))
    tested = await check_connection(poller)
    assert [(s.stage, s.ok) for s in tested.steps] == [("dns", False)] and "not a valid host name" in tested.steps[0].message
    await poller.aclose()


async def test_a_datadog_poll_not_committed_is_read_again() -> None:
    async with DatadogWindow() as api:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [base + timedelta(seconds=s) for s in (1, 2)]
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {"log_query": "status:error"}, DATADOG_KEYS))
        first = await poller.poll()
        again = await poller.poll()  # the first was not published: its window is read again
        assert [r.message for r in first.logs] == [r.message for r in again.logs] == ["event 0", "event 1"]
        await again.commit()
        assert (await poller.poll()).logs == []
        await poller.aclose()


class DatadogOddEvents(DatadogWindow):
    def attributes(self, n: int, at: datetime) -> dict:
        odd = {1: {"host": "h" * 300}, 2: {"timestamp": "yesterday"}, 3: {"host": ["web-1", "web-2"]}}
        return {**super().attributes(n, at), **odd.get(n, {})}


async def test_a_datadog_event_with_an_odd_host_or_time_is_read_as_far_as_it_can_be() -> None:
    async with DatadogOddEvents() as api:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        api.times = [base + timedelta(seconds=s) for s in (1, 2, 3, 4, 5)]
        poller = DatadogPoller(source(SourceKind.datadog, api.url, {"log_query": "status:error"}, DATADOG_KEYS))
        logs = (await poller.poll()).logs
        await poller.aclose()
    assert [(r.message, r.host, r.timestamp) for r in logs] == [
        ("event 0", "i-0123", api.times[0]), ("event 1", "h" * 255, api.times[1]), ("event 2", "i-0123", None),
        ("event 3", "web-1", api.times[3]), ("event 4", "i-0123", api.times[4])]
