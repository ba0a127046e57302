"""Splunk and ThousandEyes pollers against local servers speaking their documented HTTP APIs
(tests/fakes/vendor_apis.py, answers from the vendors' documented examples): auth, pagination, streaming,
rate limits (503/429 and the vendor's reset header) and what the results become. Datadog's: test_datadog.py."""

import time
from datetime import UTC, datetime

import orjson
import pytest
from aiohttp import web
from pydantic import ValidationError

from aiops_contracts import bus as bus_module
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOG_LINE_MAX_CHARS, LogRecord
from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.producers import splunk
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.log_records import before_last_time
from aiops_worker.producers.manager import Outcome, ProducerManager
from aiops_worker.producers.poller import CheckFailed, PartsFailed
from aiops_worker.producers.splunk import MAX_RESULTS, SplunkPoller
from aiops_worker.producers.thousandeyes import ThousandEyesPoller
from aiops_worker.runtime.context import WorkerContext
from conftest import fake, polled
from conftest import polled_source as source

vendors = fake("vendor_apis")


async def test_splunk_export_streams_results_as_log_records() -> None:
    async with vendors.Splunk() as api:
        poller = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "index=main error"},
                                     {"token": vendors.SPLUNK_TOKEN}))
        api.rate_limit_once = True  # 503 with Retry-After: 1
        result = await poller.poll()
        assert [(r.message, r.host, r.labels["sourcetype"]) for r in result.logs] == [
            ("2024-05-01 10:00:01 ERROR db connection refused", "db-1", "app"),
            ("2024-05-01 10:00:02 ERROR retry failed", "db-1", "app")]
        form = next(q for _, path, q in api.requests if path == "/services/search/jobs/export" and "search" in q)
        assert (form["search"], form["earliest_time"], form["output_mode"]) == (
            f"search index=main error | sort {MAX_RESULTS} _time", "-5m", "json")
        await result.commit()  # published: the next poll goes on from here
        second = await poller.poll()  # from where the first ended
        assert len(second.logs) == 2
        assert float([q for _, p, q in api.requests if "search" in q][-1]["earliest_time"]) > 0
        assert (await check_connection(poller)).ok
        await poller.aclose()
        wrong = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "x"}, {"token": "wrong"}))
        with pytest.raises(CheckFailed) as refused:
            await wrong.poll()
        assert refused.value.stage == "auth"
        await wrong.aclose()


class SplunkWindow(vendors.Splunk):
    """Events one per second (two at 10:00:03), sent oldest first as `| sort <n> _time` asks, from
    earliest_time (epoch seconds, inclusive) on."""

    SECONDS = [1, 2, 3, 3, 4, 5]

    def routes(self) -> list[web.RouteDef]:
        async def export(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            earliest, limit = float(str(form["earliest_time"])), int(str(form["search"]).split("| sort ")[1].split()[0])
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            base = 1_714_557_600  # 2024-05-01T10:00:00Z
            rows = [(base + second, n) for n, second in enumerate(self.SECONDS) if base + second >= earliest]
            for at, n in rows[:limit]:
                await response.write(orjson.dumps({"preview": False, "result": self.result(n, at)}) + b"\n")
            await response.write_eof()
            return response

        return [web.post("/services/search/jobs/export", export)]

    def result(self, n: int, at: int) -> dict:
        return {"_raw": self.raw(n), "_time": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(at))}Z",
                "host": "db-1", "sourcetype": "app"}

    def raw(self, n: int) -> str:
        return f"event {n}"


async def test_a_full_splunk_poll_resumes_after_its_last_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(splunk, "MAX_RESULTS", 4)
    async with SplunkWindow() as api:
        poller = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "error", "earliest": "0"},
                                     {"token": vendors.SPLUNK_TOKEN}))
        polls = [[r.message for r in (await polled(poller)).logs] for _ in range(4)]
        # Each full poll (4) keeps those before its last record's time and leaves that time to the next.
        assert polls == [["event 0", "event 1"], ["event 2", "event 3", "event 4"], ["event 5"], []]
        await poller.aclose()


class SplunkLongEvent(SplunkWindow):
    """Event 2 is three log lines long."""

    def raw(self, n: int) -> str:
        return "x" * (2 * LOG_LINE_MAX_CHARS + 10) if n == 2 else super().raw(n)


async def test_a_splunk_result_longer_than_a_log_line_is_split_and_counts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(splunk, "MAX_RESULTS", 4)
    async with SplunkLongEvent() as api:
        poller = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "error", "earliest": "0"},
                                     {"token": vendors.SPLUNK_TOKEN}))
        polls = [(await polled(poller)).logs for _ in range(4)]
        await poller.aclose()
    # Its pieces are one result of the four a poll reads, and stay together at their time.
    assert [[r.message[:7] for r in logs] for logs in polls] == [
        ["event 0", "event 1"], ["x" * 7] * 3 + ["event 3", "event 4"], ["event 5"], []]
    pieces = polls[1][:3]
    assert [len(r.message) for r in pieces] == [LOG_LINE_MAX_CHARS, LOG_LINE_MAX_CHARS, 10]
    assert {(r.host, r.timestamp, r.labels["sourcetype"]) for r in pieces} == {
        ("db-1", datetime(2024, 5, 1, 10, 0, 3, tzinfo=UTC), "app")}


async def test_thousandeyes_results_follow_next_links_and_are_sent_once() -> None:
    async with vendors.ThousandEyes() as api:
        poller = ThousandEyesPoller(source(SourceKind.thousandeyes, api.url, {"window": "10m"},
                                           {"token": vendors.THOUSANDEYES_TOKEN}))
        api.rate_limit_once = True  # 429 with x-organization-rate-limit-reset: an epoch time
        result = await poller.poll()
        assert len(result.lines) == 2  # two pages, one round each
        assert all(line.startswith("thousandeyes_network,agent=Frankfurt\\,\\ Germany,source=thousandeyes-1,team=sre,"
                                   "test=api.example.com,test_id=281474976710706 ") for line in result.lines)
        assert "avg_latency_ms=250.0" in result.lines[1]
        assert (await poller.poll()).lines == result.lines  # not committed (not published): sent again
        await result.commit()
        assert (await poller.poll()).lines == []  # the same rounds again: nothing new
        await poller.aclose()


class ThousandEyesBrokenTest(vendors.ThousandEyes):
    """Test 13's results answer 500."""

    def routes(self) -> list[web.RouteDef]:
        async def broken(_: web.Request) -> web.Response:
            return web.json_response({"error": "internal error"}, status=500)

        return [web.get("/v7/test-results/13/network", broken), *super().routes()]


async def test_a_thousandeyes_test_that_fails_does_not_hold_back_the_others() -> None:
    async with ThousandEyesBrokenTest() as api:
        poller = ThousandEyesPoller(source(SourceKind.thousandeyes, api.url, {
            "window": "10m", "test_ids": ["13", "281474976710706"]}, {"token": vendors.THOUSANDEYES_TOKEN}))
        with pytest.raises(PartsFailed) as failed:
            await poller.poll()
        assert len(failed.value.result.lines) == 2 and failed.value.message.startswith("13: GET ")
        await failed.value.result.commit()  # published: those rounds are sent
        with pytest.raises(PartsFailed) as again:
            await poller.poll()
        assert again.value.result.lines == []
        await poller.aclose()


def test_thousandeyes_test_ids_must_be_test_ids() -> None:
    """A test id goes into the results URL's path: "../" or a query in it is refused when the source is saved."""
    with pytest.raises(ValidationError, match="test_ids.0"):
        poller_settings(SourceKind.thousandeyes.value, {"test_ids": ["../../users?x="]}, {"token": "t"})
    assert poller_settings(SourceKind.thousandeyes.value, {"test_ids": ["281474976710706"]}, {"token": "t"})


def test_a_full_poll_resumes_at_its_latest_record_time_though_its_last_record_has_none() -> None:
    """A last record without a time does not end the window: the rest of it past the limit would be skipped."""
    t1, t2 = datetime(2026, 11, 30, 12, tzinfo=UTC), datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
    records = [LogRecord(message="a", timestamp=t1), LogRecord(message="b", timestamp=t2), LogRecord(message="c")]
    kept, resume_at = before_last_time(records, 0.001)
    assert ([r.message for r in kept], resume_at) == (["a", "c"], t2.timestamp())


async def test_a_poll_a_full_stream_refused_is_delivered_once_by_the_next_polls(worker_ctx, monkeypatch) -> None:
    """The publish fails (StreamBacklogFull: the logs stream at its backlog cap): the poll is not committed, so the
    next polls read its window again, and every record reaches the stream exactly once."""
    monkeypatch.setattr(splunk, "MAX_RESULTS", 4)
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    settings = worker_ctx.settings.model_copy(update={"stream_maxlen_factor": 10 / LOGS_INGESTED.maxlen})
    ctx = WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                        influx=worker_ctx.influx)
    pollers, key = ProducerManager(ctx), ctx.bus.key(LOGS_INGESTED)
    assert ctx.bus.maxlen(LOGS_INGESTED) == 10
    await ctx.bus.ensure_group(LOGS_INGESTED, "logs")
    await ctx.bus.publish_many(LOGS_INGESTED, [Envelope(type="logs.received", source="filler", payload={})] * 9)
    async with SplunkWindow() as api:
        poller = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "error", "earliest": "0"},
                                     {"token": vendors.SPLUNK_TOKEN}))
        assert await pollers.poll_once(poller) == Outcome.failed  # 9 of 10 unread: refused
        await ctx.redis.xgroup_setid(key, "logs", "$")  # the consumers caught up
        assert [await pollers.poll_once(poller) for _ in range(4)] == [Outcome.ok] * 4
        await poller.aclose()
    envelopes = [Envelope.from_entry(fields) for _, fields in await ctx.redis.xrange(key)][9:]
    assert [r["message"] for e in envelopes for r in e.payload["records"]] == [f"event {n}" for n in range(6)]


class SplunkOddResults(SplunkWindow):
    """Splunk's JSON gives a multivalue field as an array; a host past 255 characters; a time no one can read."""

    def result(self, n: int, at: int) -> dict:
        odd = {1: {"host": ["db-1", "db-2"]}, 2: {"host": "h" * 300}, 3: {"_time": "not a time"}}
        return {**super().result(n, at), **odd.get(n, {})}


async def test_a_splunk_result_with_an_odd_host_or_time_is_read_as_far_as_it_can_be() -> None:
    async with SplunkOddResults() as api:
        poller = SplunkPoller(source(SourceKind.splunk, api.url, {"search": "error", "earliest": "0"},
                                     {"token": vendors.SPLUNK_TOKEN}))
        logs = (await poller.poll()).logs
        await poller.aclose()
    assert [(r.message, r.host, r.timestamp is None) for r in logs] == [
        ("event 0", "db-1", False), ("event 1", "db-1", False), ("event 2", "h" * 255, False),
        ("event 3", "db-1", True), ("event 4", "db-1", False), ("event 5", "db-1", False)]
