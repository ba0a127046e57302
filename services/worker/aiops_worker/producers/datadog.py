"""Datadog (API and application keys): timeseries queries (GET /api/v1/query) become metrics, a log search
(GET /api/v2/logs/events, cursor-paginated) becomes log records. Each poll reads from where the previous one
ended (the first from one interval back), so points and logs are not read twice; it moves there only once its
result is published (its commit): a poll not published is read again.

Logs: a poll takes at most `log_limit` events, the oldest of its window (`sort=timestamp`). A full poll does not
jump to now: the next one starts at the time of its last event (filter[from] is inclusive), whose events it leaves
to it (producers/log_records.py), so nothing of the window is lost or read twice. A full poll whose events are all
of one millisecond keeps them, and the next starts at that millisecond again, leaving out (by event id) the events
of it already read: more events of one millisecond than `log_limit` take several polls, each reading `log_limit`
new ones, until that millisecond is read; none is skipped or read twice. Both are logged and counted. (Each of
those polls fetches again the events of that millisecond already read, to leave them out: N events of one
millisecond cost about N²/(2·log_limit) events fetched over N/log_limit polls, e.g. 55,000 for 10,000 events and a
limit of 1,000. Datadog's page cursor would avoid it, but it belongs to one query, filter[to] included, which
the next poll's window changes; far more events than that in one millisecond are not realistic.) Events of a
full poll without a readable time are kept with the earlier ones and, as the poller cannot tell where the next
poll's window places them, left out by id by it too.
A message longer than a log line becomes consecutive records; an odd host or time is read as far as it can be
(producers/log_records.py).

Metrics: the measurement is the Datadog metric name, the field `value`, the tags the series' tag set
(`host:web-1` → host=web-1) plus the source's labels and `source`.
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from aiops_contracts.events import LogRecord
from aiops_contracts.influx import IDENTIFIER
from aiops_contracts.pollers import DatadogSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import HttpPoller, NextPage, pages
from aiops_worker.producers.log_records import log_records
from aiops_worker.producers.poller import PolledSource, PollResult

log = logging.getLogger(__name__)
LOG_PAGE_LIMIT = 1000  # Datadog's maximum page[limit]
LIMITED = Counter("aiops_worker_datadog_log_polls_limited_total", "Datadog log polls that reached log_limit, by what "
                  "became of the rest: deferred to the next poll, within_millisecond (all its events of one "
                  "millisecond: the next poll reads on in it), or skipped (no event has a time)", ["outcome"])


class DatadogPoller(HttpPoller[DatadogSettings]):
    kind = SourceKind.datadog

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, DatadogSettings)
        self._since = time.time() - source.interval_s  # epoch seconds read up to: metrics
        self._logs_since = self._since  # logs (behind `_since` while a full poll left events to the next)
        # The events of the `_logs_since` millisecond already read (and those without a time a full poll kept):
        # grows by log_limit a poll while that millisecond fills polls (see Logs above for what that costs).
        self._logs_read: frozenset[str] = frozenset()

    def headers(self) -> dict[str, str]:
        return {"DD-API-KEY": self.settings.api_key.get_secret_value(),
                "DD-APPLICATION-KEY": self.settings.application_key.get_secret_value(), "Accept": "application/json"}

    async def check(self) -> None:
        await self.api.request_json("GET", "/api/v1/validate")
        await self._query_logs(time.time() - 60, time.time(), limit=1, read=frozenset())

    async def poll(self) -> PollResult:
        until = time.time()
        result = PollResult()
        for query in self.settings.metric_queries:
            body = await self.api.request_json("GET", "/api/v1/query", params={
                "from": int(self._since), "to": int(until), "query": query})
            for series in body.get("series") or []:
                result.lines += self._series_lines(series)
        logs_since, logs_read = until, frozenset[str]()
        if self.settings.log_query:
            result.logs, logs_since, logs_read = await self._poll_logs(until)

        async def commit() -> None:
            self._since, self._logs_since, self._logs_read = until, logs_since, logs_read
        result.commit = commit
        return result

    async def _poll_logs(self, until: float) -> tuple[list[LogRecord], float, frozenset[str]]:
        """The window's records, where the next poll's starts, and the events of that millisecond they hold."""
        limit = self.settings.log_limit
        events = await self._query_logs(self._logs_since, until, limit=limit, read=self._logs_read)
        records = [record for _, _, event_records in events for record in event_records]
        if len(events) < limit:
            return records, until, frozenset()
        last = max((at for _, at, _ in events if at is not None), default=None)
        if last is None:  # no event has a time: nowhere to start the next query but the window's end
            self._limited(None, "skipped")
            return records, until, frozenset()
        # The events of the latest millisecond are left to the next poll, which starts there, unless they are all
        # the poll read: then they are kept, and the next poll leaves them out (those of that millisecond before too).
        earlier = [(key, at, event_records) for key, at, event_records in events if at is None or at < last]
        kept = earlier or events
        read = self._logs_read if last.timestamp() == self._logs_since else frozenset()
        # Kept events without a time count as earlier, but Datadog may place them at `last`: the next poll, which
        # starts there, leaves them out too (else they fill it again, that poll read and published again for good).
        read |= {key for key, at, _ in kept if at is None or at == last}
        self._limited(last.timestamp(), "deferred" if earlier else "within_millisecond")
        return [record for _, _, event_records in kept for record in event_records], last.timestamp(), read

    def _limited(self, resume_at: float | None, outcome: str) -> None:
        """A full poll: deferred: the records of its latest millisecond are the next poll's, which starts at
        `resume_at`; within_millisecond: all its events are of that millisecond, the next poll reads on in it;
        skipped: no event has a time (the next poll starts at the window's end)."""
        LIMITED.labels(outcome).inc()
        facts = {"source": self.source.name, "log_limit": self.settings.log_limit,
                 "resume_at": None if resume_at is None else _iso(resume_at), "outcome": outcome}
        log.warning({"deferred": "datadog log limit reached: the rest of the window is the next poll's",
                     "within_millisecond": "datadog log limit reached by events of one millisecond: the next poll "
                                           "reads on in it",
                     "skipped": "datadog log limit reached by events without a time: the rest of the window is "
                                "skipped"}[outcome], extra=facts)

    def _series_lines(self, series: dict[str, Any]) -> list[str]:
        metric = str(series.get("metric") or "")
        if not IDENTIFIER.fullmatch(metric):
            return []
        tags = dict(tag.split(":", 1) for tag in series.get("tag_set") or [] if ":" in tag)
        return [self.point(metric, tags, {"value": float(value)}, int(ms) * 1_000_000)
                for ms, value in series.get("pointlist") or [] if value is not None and ms / 1000 > self._since]

    async def _query_logs(self, since: float, until: float, limit: int,
                          read: frozenset[str]) -> list[tuple[str, datetime | None, list[LogRecord]]]:
        """Up to `limit` events of the window not `read` already, oldest first: (its key, time, records) each."""
        params = {"filter[query]": self.settings.log_query or "*", "filter[from]": _iso(since),
                  "filter[to]": _iso(until), "page[limit]": min(limit + len(read), LOG_PAGE_LIMIT), "sort": "timestamp"}
        events: list[tuple[str, datetime | None, list[LogRecord]]] = []
        async for page in pages(self.api, "/api/v2/logs/events", params, _next_cursor(params)):
            for event in page.get("data") or []:
                attributes = event.get("attributes") or {}
                key = _event_key(event, attributes)
                if key in read:
                    continue
                labels = {k: str(attributes[k]) for k in ("service", "status") if attributes.get(k)}
                records = log_records(str(attributes.get("message") or ""), host=attributes.get("host"),
                                      timestamp=attributes.get("timestamp"), labels=labels)
                events.append((key, records[0].timestamp, records))
                if len(events) == limit:
                    return events
        return events


def _event_key(event: dict[str, Any], attributes: dict[str, Any]) -> str:
    """The event's id (Datadog gives every event one); without one, what it says."""
    if event.get("id"):
        return f"id:{event['id']}"
    return "event:" + "|".join(str(attributes.get(k)) for k in ("timestamp", "host", "service", "status", "message"))


def _next_cursor(params: dict[str, Any]) -> NextPage:
    def next_page(page: Any) -> tuple[str, dict[str, Any]] | None:
        after = ((page.get("meta") or {}).get("page") or {}).get("after")
        return ("/api/v2/logs/events", {**params, "page[cursor]": after}) if after else None
    return next_page


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
