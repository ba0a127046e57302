"""Datadog (API and application keys): timeseries queries (GET /api/v1/query) become metrics, a log search
(GET /api/v2/logs/events, cursor-paginated) becomes log records. Each poll reads from where the previous one
ended (the first from one interval back), so points and logs are not read twice; it moves there only once its
result is published (its commit): a poll not published is read again.

Logs: a poll takes at most `log_limit` events, the oldest of its window (`sort=timestamp`). A full poll does not
jump to now: the next one starts at the time of its last event (filter[from] is inclusive), whose events it leaves
to it (producers/log_records.py), so nothing of the window is lost or read twice. Only more events of one
millisecond than `log_limit` cannot be split: the rest of that millisecond is skipped. Both are logged and counted.
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
from aiops_worker.producers.log_records import before_last_time, log_records
from aiops_worker.producers.poller import PolledSource, PollResult

log = logging.getLogger(__name__)
LOG_PAGE_LIMIT = 1000  # Datadog's maximum page[limit]
TIME_RESOLUTION_S = 0.001  # of log event timestamps
LIMITED = Counter("aiops_worker_datadog_log_polls_limited_total", "Datadog log polls that reached log_limit, by what "
                  "became of the rest: deferred to the next poll, or skipped (over log_limit events of one millisecond)",
                  ["outcome"])


class DatadogPoller(HttpPoller[DatadogSettings]):
    kind = SourceKind.datadog

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, DatadogSettings)
        self._since = time.time() - source.interval_s  # epoch seconds read up to: metrics
        self._logs_since = self._since  # logs (behind `_since` while a full poll left events to the next)

    def headers(self) -> dict[str, str]:
        return {"DD-API-KEY": self.settings.api_key.get_secret_value(),
                "DD-APPLICATION-KEY": self.settings.application_key.get_secret_value(), "Accept": "application/json"}

    async def check(self) -> None:
        await self.api.request_json("GET", "/api/v1/validate")
        await self._query_logs(time.time() - 60, time.time(), limit=1)

    async def poll(self) -> PollResult:
        until = time.time()
        result = PollResult()
        for query in self.settings.metric_queries:
            body = await self.api.request_json("GET", "/api/v1/query", params={
                "from": int(self._since), "to": int(until), "query": query})
            for series in body.get("series") or []:
                result.lines += self._series_lines(series)
        logs_since = until
        if self.settings.log_query:
            result.logs, logs_since = await self._poll_logs(until)

        async def commit() -> None:
            self._since, self._logs_since = until, logs_since
        result.commit = commit
        return result

    async def _poll_logs(self, until: float) -> tuple[list[LogRecord], float]:
        """The window's records, and where the next poll's starts."""
        limit = self.settings.log_limit
        records, events = await self._query_logs(self._logs_since, until, limit=limit)
        resume_at = None
        if events == limit:
            kept, resume_at = before_last_time(records, TIME_RESOLUTION_S)
            self._limited(resume_at, left=len(records) - len(kept))
            records = kept
        return records, until if resume_at is None else resume_at

    def _limited(self, resume_at: float | None, left: int) -> None:
        """A full poll: `left` records it read are the next poll's, from `resume_at` on; none: those past the limit
        are of the latest event's millisecond (or no event has a time), where no query can start (they are skipped)."""
        outcome = "deferred" if left else "skipped"
        LIMITED.labels(outcome).inc()
        facts = {"source": self.source.name, "log_limit": self.settings.log_limit,
                 "resume_at": None if resume_at is None else _iso(resume_at), "outcome": outcome}
        log.warning("datadog log limit reached: the rest of the window is the next poll's" if left else
                    "datadog log limit reached by events of one millisecond: any more of it skipped", extra=facts)

    def _series_lines(self, series: dict[str, Any]) -> list[str]:
        metric = str(series.get("metric") or "")
        if not IDENTIFIER.fullmatch(metric):
            return []
        tags = dict(tag.split(":", 1) for tag in series.get("tag_set") or [] if ":" in tag)
        return [self.point(metric, tags, {"value": float(value)}, int(ms) * 1_000_000)
                for ms, value in series.get("pointlist") or [] if value is not None and ms / 1000 > self._since]

    async def _query_logs(self, since: float, until: float, limit: int) -> tuple[list[LogRecord], int]:
        """Up to `limit` events of the window, oldest first: their records, and how many events they are."""
        params = {"filter[query]": self.settings.log_query or "*", "filter[from]": _iso(since),
                  "filter[to]": _iso(until), "page[limit]": min(limit, LOG_PAGE_LIMIT), "sort": "timestamp"}
        records: list[LogRecord] = []
        events = 0
        async for page in pages(self.api, "/api/v2/logs/events", params, _next_cursor(params)):
            for event in page.get("data") or []:
                attributes = event.get("attributes") or {}
                labels = {k: str(attributes[k]) for k in ("service", "status") if attributes.get(k)}
                records += log_records(str(attributes.get("message") or ""), host=attributes.get("host"),
                                       timestamp=attributes.get("timestamp"), labels=labels)
                events += 1
                if events == limit:
                    return records, events
        return records, events


def _next_cursor(params: dict[str, Any]) -> NextPage:
    def next_page(page: Any) -> tuple[str, dict[str, Any]] | None:
        after = ((page.get("meta") or {}).get("page") or {}).get("after")
        return ("/api/v2/logs/events", {**params, "page[cursor]": after}) if after else None
    return next_page


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
