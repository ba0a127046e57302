"""Pollers: the worker's producers of polled sources, one instance per enabled row of `sources` whose kind is
in aiops_contracts/pollers.py (SNMP agents, Redfish BMCs, Datadog, Splunk, ThousandEyes ...).

A poller only knows its protocol: `poll()` reads the source once and returns a PollResult (metrics as InfluxDB
line protocol built with `self.point()`, alerts built with `self.alert()`, log records). The manager
(producers/manager.py) owns everything else: which replica polls which source (a Redis lease), the schedule,
the per-poll timeout (`settings.timeout_s`), back-off after failures, bounded concurrency, publishing onto
the metrics, alerts and logs streams, health (Redis and Prometheus) and the "test connection" action.

Adding a kind, e.g. `github_actions`:
1. aiops_contracts/sources.py: a SourceKind member; aiops_contracts/pollers.py: its settings model (config
   fields plain, credential fields `SecretStr`) and one line in POLLER_SETTINGS.
2. aiops_worker/producers/github_actions.py: `class GithubActionsPoller(Poller)` with `kind`, `poll()`, and
   where it helps `check()` (raise CheckFailed("auth" | "protocol", why); the DNS, TCP and TLS stages are
   checked before it by producers/checks.py) and `aclose()` (close clients). HTTP APIs subclass
   producers/http.py's HttpPoller (typed settings, its client closed with it, auth headers from `headers()`,
   429 and reset headers, errors classified for the connection test).
3. One line in POLLERS in aiops_worker/producers/registry.py; a test against a local server speaking the API.
A poller may keep state between polls (previous counters for rates, a cursor): a restart of its source
(changed settings, another replica taking over) builds a new instance, so that state starts empty.

Position: what marks records as done (a cursor or time window, the runs or rounds read, a listing's ETag, the
alerts already sent) changes only in the result's `commit()`, which the manager awaits once the result is in the
streams. A poll that fails (or is cut by the timeout), or whose publish fails (Redis down, a stream at its backlog
cap), changes nothing: the next poll reads the same records again. A poller of several parts (repositories, jobs,
tests) raises PartsFailed when some fail: the others' result is published and committed, the failed parts keep
their position, and the source is not backed off unless every part failed (PartsFailed's `parts`, how many it has).
"""

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from redis.asyncio import Redis

from aiops_contracts.events import AlertPayload, LogRecord, SignalKind
from aiops_contracts.influx import encode_point
from aiops_contracts.pipelines import PipelineRunPayload
from aiops_contracts.pollers import PollerSettings
from aiops_contracts.sources import SourceKind

CheckStage = Literal["config", "dns", "tcp", "tls", "auth", "protocol", "timeout"]


@dataclass(frozen=True)
class PolledSource:
    """A source row as a poller sees it: settings validated and credentials opened."""

    id: str
    name: str
    kind: SourceKind
    target: str
    interval_s: float
    labels: Mapping[str, str]
    settings: PollerSettings
    push_url: str | None = None  # where its device may push events to the API (a Redfish event subscription)
    push_context: str | None = None  # the secret the device sends back with them
    redis: Redis | None = None  # where the API notes what the device pushed (Redfish)
    pushed_key: str | None = None  # the hash there (Redfish: redfish_pushed_key)


async def _no_position() -> None:
    """A poll that moves no position (a poller reading current state only)."""


@dataclass
class PollResult:
    lines: list[str] = field(default_factory=list)  # InfluxDB line protocol, one point each
    alerts: list[AlertPayload] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    runs: list[PipelineRunPayload] = field(default_factory=list)  # CI/CD runs (GitHub Actions, Jenkins)
    commit: Callable[[], Awaitable[None]] = _no_position  # moves the poller's position past this result

    @property
    def points(self) -> int:
        return len(self.lines) + len(self.alerts) + len(self.logs) + len(self.runs)


class CheckFailed(Exception):
    """A connection test (or poll) failed at `stage`: the message says what, for people."""

    def __init__(self, stage: CheckStage, message: str) -> None:
        super().__init__(message)
        self.stage: CheckStage = stage
        self.message = message


class PartsFailed(CheckFailed):
    """Some of a source's `parts` (repositories, jobs, tests) failed, the others were read: `result` is theirs, and
    its commit moves past them only. The stage is the first failure's, the message names each failed part."""

    def __init__(self, result: PollResult, failures: Mapping[str, Exception], *, parts: int) -> None:
        stage = getattr(next(iter(failures.values())), "stage", "protocol")
        super().__init__(stage, "; ".join(f"{part}: {str(exc) or repr(exc)}" for part, exc in failures.items()))
        self.result = result
        self.whole = len(failures) >= parts  # every part failed: the source itself is failing


class Poller(ABC):
    kind: ClassVar[SourceKind]

    def __init__(self, source: PolledSource) -> None:
        self.source = source

    @abstractmethod
    async def poll(self) -> PollResult:
        """Read the source once, the position left as it was (the result's `commit` moves it). Raise on failure
        (CheckFailed says the stage); the manager times it out."""

    async def check(self) -> None:
        """The protocol and auth stages of a connection test; by default one poll."""
        await self.poll()

    async def aclose(self) -> None:
        """Release clients; called once when the source stops here."""

    def point(self, measurement: str, tags: Mapping[str, str], fields: Mapping[str, Any], time_ns: int) -> str:
        """A line of this source: its labels and `source` tag added (the point's own tags win)."""
        return encode_point(measurement, {**self.source.labels, "source": self.source.name, **tags}, fields, time_ns)

    def alert(self, **fields: Any) -> AlertPayload:
        """An alert of this source, its labels added to the alert's own."""
        labels = {**self.source.labels, **fields.pop("labels", {})}
        return AlertPayload(labels=labels, signal=SignalKind.alert, **fields)
