"""Splunk (an authentication token, Bearer): the source's search runs as a streaming export
(POST /services/search/jobs/export, output_mode=json: one JSON object per line, read as it arrives), from
where the previous poll ended (the first from `earliest`) to now; each result becomes a log record (its
`_raw`, `host` and `_time`; `source` and `sourcetype` as labels).

A poll takes at most MAX_RESULTS records, the oldest of its window (`| sort <MAX_RESULTS> _time` ends the
search), and stops reading there. A full poll does not jump to now: the next one starts at the time of its
last record, whose records (all those sharing that time) it leaves to it, so nothing of the window is lost."""

import time
from typing import Any

import orjson

from aiops_contracts.events import LogRecord
from aiops_contracts.pollers import SplunkSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import HttpPoller
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
        async with self.api.request("POST", "/services/search/jobs/export", data=form) as response:
            async for line in response.content:
                record = _record(line)
                if record is not None:
                    records.append(record)
                if len(records) == MAX_RESULTS:
                    break  # the rest of the window is the next poll's
        self._since = until
        if len(records) == MAX_RESULTS:
            records = self._up_to_last_time(records)
        return PollResult(logs=records)

    def _up_to_last_time(self, records: list[LogRecord]) -> list[LogRecord]:
        """A full poll: the next starts at its last record's time (Splunk's earliest_time is inclusive), so
        the records of that time are left to it; all of one time (nothing before it) are kept, then passed."""
        last = records[-1].timestamp
        if last is None:
            return records
        earlier = [record for record in records if record.timestamp is None or record.timestamp < last]
        self._since = last.timestamp() if earlier else last.timestamp() + 1e-6
        return earlier or records


def _record(line: bytes) -> LogRecord | None:
    if not line.strip():
        return None
    try:
        row: dict[str, Any] = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CheckFailed("protocol", "search export: a line that is not JSON") from exc
    result = row.get("result")
    if not isinstance(result, dict) or "_raw" not in result:
        return None  # preview rows without results, messages, the last-row marker
    labels = {key: str(result[key]) for key in ("source", "sourcetype", "index") if result.get(key)}
    return LogRecord(message=str(result["_raw"])[:65_536], host=result.get("host"),
                     timestamp=result.get("_time"), labels=labels)
