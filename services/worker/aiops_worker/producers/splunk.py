"""Splunk (an authentication token, Bearer): the source's search runs as a streaming export
(POST /services/search/jobs/export, output_mode=json: one JSON object per line, read as it arrives), from
where the previous poll ended (the first from `earliest`) to now; each result becomes a log record (its
`_raw`, `host` and `_time`; `source` and `sourcetype` as labels)."""

import time
from typing import Any

import orjson

from aiops_contracts.events import LogRecord
from aiops_contracts.pollers import SplunkSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import HttpApi
from aiops_worker.producers.poller import CheckFailed, PolledSource, Poller, PollResult

MAX_RESULTS = 10_000  # records per poll, at most; the rest of the window waits for the next poll's search


class SplunkPoller(Poller):
    kind = SourceKind.splunk

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source)
        assert isinstance(source.settings, SplunkSettings)
        self.settings = source.settings
        self.api = HttpApi(source.target, headers={"Authorization": f"Bearer {self.settings.token.get_secret_value()}"},
                           verify_tls=self.settings.verify_tls)
        self._since: str | float = self.settings.earliest  # a Splunk time modifier, then epoch seconds

    async def aclose(self) -> None:
        await self.api.aclose()

    async def check(self) -> None:
        info = await self.api.request_json("GET", "/services/server/info", params={"output_mode": "json"})
        if not isinstance(info, dict) or "entry" not in info:
            raise CheckFailed("protocol", "GET /services/server/info: not a Splunk answer")

    async def poll(self) -> PollResult:
        until = time.time()
        search = self.settings.search.strip()
        form = {"search": search if search.startswith(("search ", "|")) else f"search {search}",
                "earliest_time": str(self._since), "latest_time": f"{until:.3f}", "output_mode": "json"}
        records: list[LogRecord] = []
        async with self.api.request("POST", "/services/search/jobs/export", data=form) as response:
            async for line in response.content:
                record = _record(line)
                if record is not None and len(records) < MAX_RESULTS:
                    records.append(record)
        self._since = until
        return PollResult(logs=records)


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
