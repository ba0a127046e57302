"""ThousandEyes (API v7, OAuth bearer token): the network results of the source's tests (all the account's
tests when none are listed: GET /v7/tests) over the last `window` (GET /v7/test-results/{id}/network, following
`_links.next`). Each agent's round is one point of `thousandeyes_network` (tags test, test_id, agent;
fields avg_latency_ms, min_latency_ms, max_latency_ms, loss_percent, jitter_ms), sent once: rounds already
sent are skipped, a round counting as sent once the poll's result is published (its commit). A test whose
results fail does not hold back the others: theirs are published (PartsFailed), its own read again next poll."""

from collections import ChainMap
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiops_contracts.pollers import ThousandEyesSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import REQUEST_ERRORS, HttpPoller, pages
from aiops_worker.producers.poller import PartsFailed, PolledSource, PollResult

FIELDS = {"avgLatency": "avg_latency_ms", "minLatency": "min_latency_ms", "maxLatency": "max_latency_ms",
          "loss": "loss_percent", "jitter": "jitter_ms"}


class ThousandEyesPoller(HttpPoller[ThousandEyesSettings]):
    kind = SourceKind.thousandeyes

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source, ThousandEyesSettings)
        self._last_round: dict[tuple[str, str], int] = {}  # (test, agent) -> the last round sent

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}", "Accept": "application/hal+json"}

    async def check(self) -> None:
        await self.api.request_json("GET", "/v7/tests")

    async def poll(self) -> PollResult:
        tests = {test_id: test_id for test_id in self.settings.test_ids}
        if not tests:
            async for page in pages(self.api, "/v7/tests", {}, _next_link):
                tests |= {str(t["testId"]): str(t.get("testName") or t["testId"]) for t in page.get("tests") or []}
        result, sent, failures = PollResult(), dict[tuple[str, str], int](), dict[str, Exception]()
        for test_id, name in tests.items():
            rounds = ChainMap[tuple[str, str], int]({}, self._last_round)  # this test's new rounds, then those sent
            try:
                result.lines += await self._test_lines(test_id, name, rounds)
            except REQUEST_ERRORS as exc:  # read again by the next poll; the other tests go on
                failures[test_id] = exc
                continue
            sent |= rounds.maps[0]

        async def commit() -> None:
            self._last_round |= sent
        result.commit = commit
        if failures:
            raise PartsFailed(result, failures, parts=len(tests))
        return result

    async def _test_lines(self, test_id: str, name: str, rounds: ChainMap[tuple[str, str], int]) -> list[str]:
        lines = []
        path = f"/v7/test-results/{quote(test_id, safe='')}/network"  # ids from the listing are the API's
        async for page in pages(self.api, path, {"window": self.settings.window}, _next_link):
            name = str((page.get("test") or {}).get("testName") or name)
            lines += [line for row in page.get("results") or [] if (line := self._line(test_id, name, row, rounds))]
        return lines

    def _line(self, test_id: str, name: str, row: dict[str, Any], rounds: ChainMap[tuple[str, str], int]) -> str | None:
        agent, round_id = str(row.get("agentName") or row.get("agentId")), int(row.get("roundId") or 0)
        if round_id <= rounds.get((test_id, agent), -1):
            return None
        rounds[(test_id, agent)] = round_id
        fields = {target: float(row[field]) for field, target in FIELDS.items() if row.get(field) is not None}
        if not fields:
            return None
        moment = datetime.fromisoformat(str(row["date"]).replace("Z", "+00:00")) if row.get("date") else None
        time_ns = int(moment.timestamp() * 1e9) if moment else round_id * 1_000_000_000
        return self.point("thousandeyes_network", {"test": name, "test_id": test_id, "agent": agent}, fields, time_ns)


def _next_link(page: Any) -> tuple[str, dict[str, Any]] | None:
    href = ((page.get("_links") or {}).get("next") or {}).get("href")
    return (href, {}) if href else None
