"""Datadog (API and application keys): timeseries queries (GET /api/v1/query) become metrics, a log search
(GET /api/v2/logs/events, cursor-paginated) becomes log records. Each poll reads from where the previous one
ended (the first from one interval back), so points and logs are not read twice.

Metrics: the measurement is the Datadog metric name, the field `value`, the tags the series' tag set
(`host:web-1` → host=web-1) plus the source's labels and `source`.
"""

import time
from datetime import UTC, datetime
from typing import Any

from aiops_contracts.events import LogRecord
from aiops_contracts.influx import IDENTIFIER
from aiops_contracts.pollers import DatadogSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import HttpPoller, NextPage, pages
from aiops_worker.producers.poller import PolledSource, PollResult

LOG_PAGE_LIMIT = 1000  # Datadog's maximum page[limit]


class DatadogPoller(HttpPoller[DatadogSettings]):
    kind = SourceKind.datadog

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, DatadogSettings)
        self._since = time.time() - source.interval_s  # epoch seconds read up to

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
        if self.settings.log_query:
            result.logs = await self._query_logs(self._since, until, limit=self.settings.log_limit)
        self._since = until
        return result

    def _series_lines(self, series: dict[str, Any]) -> list[str]:
        metric = str(series.get("metric") or "")
        if not IDENTIFIER.fullmatch(metric):
            return []
        tags = dict(tag.split(":", 1) for tag in series.get("tag_set") or [] if ":" in tag)
        return [self.point(metric, tags, {"value": float(value)}, int(ms) * 1_000_000)
                for ms, value in series.get("pointlist") or [] if value is not None and ms / 1000 > self._since]

    async def _query_logs(self, since: float, until: float, limit: int) -> list[LogRecord]:
        params = {"filter[query]": self.settings.log_query or "*", "filter[from]": _iso(since),
                  "filter[to]": _iso(until), "page[limit]": min(limit, LOG_PAGE_LIMIT), "sort": "timestamp"}
        records: list[LogRecord] = []
        async for page in pages(self.api, "/api/v2/logs/events", params, _next_cursor(params)):
            for event in page.get("data") or []:
                attributes = event.get("attributes") or {}
                labels = {k: str(attributes[k]) for k in ("service", "status") if attributes.get(k)}
                records.append(LogRecord(message=str(attributes.get("message") or "")[:65_536],
                                         host=attributes.get("host"), timestamp=attributes.get("timestamp"),
                                         labels=labels))
            if len(records) >= limit:
                return records[:limit]
        return records


def _next_cursor(params: dict[str, Any]) -> NextPage:
    def next_page(page: Any) -> tuple[str, dict[str, Any]] | None:
        after = ((page.get("meta") or {}).get("page") or {}).get("after")
        return ("/api/v2/logs/events", {**params, "page[cursor]": after}) if after else None
    return next_page


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
