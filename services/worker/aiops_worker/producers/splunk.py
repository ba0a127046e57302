"""Splunk (an authentication token, Bearer): the source's search runs as a streaming export
(POST /services/search/jobs/export, output_mode=json: one JSON object per line, read as it arrives), from
where the previous published poll ended (the first from `earliest`) to now: a poll moves there once its result is
published (its commit), so one not published is read again. Each result becomes a log record (its `_raw`, `host`
and `_time`, read as far as they can be: producers/log_records.py; `source` and `sourcetype` as labels).

A poll takes at most MAX_RESULTS records, the oldest of its window (`| sort <MAX_RESULTS> _time` ends the
search), and stops reading there. A full poll does not jump to now: the next one starts at the time of its
last record, whose records (all those sharing that time) it leaves to it, so nothing of the window is lost.
A `_raw` longer than a log line becomes consecutive records (producers/log_records.py), counted as one result."""

import time
from typing import Any

import orjson

from aiops_contracts.events import LogRecord
from aiops_contracts.pollers import SplunkSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import HttpPoller
from aiops_worker.producers.log_records import before_last_time, log_records
from aiops_worker.producers.poller import CheckFailed, PolledSource, PollResult

MAX_RESULTS = 10_000  # records per poll, at most; the rest of the window waits for the next poll's search


class SplunkPoller(HttpPoller[SplunkSettings]):
    kind = SourceKind.splunk

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, SplunkSettings)
        self._since: str | float = self.settings.earliest  # a Splunk time modifier, then epoch seconds

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    async def check(self) -> None:
        info = await self.api.request_json("GET", "/services/server/info", params={"output_mode": "json"})
        if not isinstance(info, dict) or "entry" not in info:
            raise CheckFailed("protocol", "GET /services/server/info: not a Splunk answer")

    async def poll(self) -> PollResult:
        until = time.time()
        search = self.settings.search.strip()
        search = search if search.startswith(("search ", "|")) else f"search {search}"
        form = {"search": f"{search} | sort {MAX_RESULTS} _time", "earliest_time": str(self._since),
                "latest_time": f"{until:.3f}", "output_mode": "json"}
        records: list[LogRecord] = []
        results = 0
        async with self.api.request("POST", "/services/search/jobs/export", data=form) as response:
            async for line in response.content:
                pieces = _records(line)
                results += bool(pieces)
                records += pieces
                if results == MAX_RESULTS:
                    break  # the rest of the window is the next poll's
        resume_at = None
        if results == MAX_RESULTS:  # the next starts at its last record's time (earliest_time is inclusive)
            records, resume_at = before_last_time(records, resolution_s=1e-6)
        since = until if resume_at is None else resume_at

        async def commit() -> None:
            self._since = since
        return PollResult(logs=records, commit=commit)


def _records(line: bytes) -> list[LogRecord]:
    """A result's records (one, or the pieces of a `_raw` longer than a log line); none for other lines."""
    if not line.strip():
        return []
    try:
        row: dict[str, Any] = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CheckFailed("protocol", "search export: a line that is not JSON") from exc
    result = row.get("result")
    if not isinstance(result, dict) or "_raw" not in result:
        return []  # preview rows without results, messages, the last-row marker
    labels = {key: str(result[key]) for key in ("source", "sourcetype", "index") if result.get(key)}
    return log_records(str(result["_raw"]), host=result.get("host"), timestamp=result.get("_time"), labels=labels)
