"""notifications.yml: receivers (Slack incoming webhook, generic webhook, email over SMTP, PagerDuty Events v2)
and a routing list like Alertmanager's: the first route whose matchers hold (or every matching one with
`continue`) gathers the incident into its receiver's group (`group_by`); a group is told group_wait after it
opens, then looked at every group_interval and told again when what it holds changed, or after repeat_interval
unchanged (notifications/flush.py). Validated at start; an error names the line (the automations loader's rule).
The worker stores the receivers, without their secrets, for the API to show."""

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import NotificationReceiver
from aiops_contracts.events import IncidentChangedPayload, Severity
from aiops_contracts.outbound import redacted
from aiops_contracts.strict import Strict
from aiops_worker.yaml_file import invalid, read_yaml

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class Receiver(Strict):
    """slack / webhook: a url; email: `to`; pagerduty: Events API v2 (its routing key is the secret
    PAGERDUTY_ROUTING_KEYS[name] of the worker's environment; url only to point elsewhere)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    kind: Literal["slack", "webhook", "email", "pagerduty"]
    url: str | None = None
    to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _target(self) -> "Receiver":
        if self.kind == "pagerduty":
            self.url = self.url or PAGERDUTY_EVENTS_URL
        if (self.kind == "email") != bool(self.to) or (self.kind != "email") != bool(self.url):
            raise ValueError("slack and webhook receivers need a url, email receivers a `to` list")
        return self


class Inhibition(Strict):
    """An open incident of `source_severity` on a host mutes that host's incidents of `target_severity`
    (a critical host-down mutes its warnings)."""

    source_severity: list[Severity] = Field(default_factory=lambda: [Severity.critical])
    target_severity: list[Severity] = Field(default_factory=lambda: [Severity.low, Severity.medium, Severity.high])


class Route(Strict):
    receiver: str
    severity: list[Severity] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)  # globs on the incident's hosts
    services: list[str] = Field(default_factory=list)
    group_by: list[Literal["incident", "host", "service", "severity"]] = Field(default_factory=lambda: ["incident"])
    group_wait_s: float = Field(default=30, ge=0)  # a new group waits this long for its kin before it is told
    group_interval_s: float = Field(default=300, gt=0)  # a group that changed is told again at most this often
    repeat_interval_s: float = Field(default=4 * 3600, gt=0)  # a group in the same state is told again after this
    continue_: bool = Field(default=False, alias="continue")

    def matches(self, incident: IncidentChangedPayload) -> bool:
        return ((not self.severity or incident.severity in self.severity)
                and (not self.hosts or any(fnmatchcase(h, p) for h in incident.hosts for p in self.hosts))
                and (not self.services or any(fnmatchcase(s, p) for s in incident.services for p in self.services)))

    def group_key(self, incident: IncidentChangedPayload) -> str:
        parts = {"incident": incident.incident_id, "host": ",".join(incident.hosts),
                 "service": ",".join(incident.services), "severity": incident.severity.value}
        return "|".join(parts[name] for name in self.group_by)


class Routing(Strict):
    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    inhibit: list[Inhibition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_receivers(self) -> "Routing":
        names = {r.name for r in self.receivers}
        unknown = [r.receiver for r in self.routes if r.receiver not in names]
        if unknown:
            raise ValueError(f"routes name unknown receivers: {unknown}")
        return self

    def routes_for(self, incident: IncidentChangedPayload) -> list[tuple[int, Route]]:
        """The matching routes with their place in the list (which tells their groups apart)."""
        chosen = []
        for index, route in enumerate(self.routes):
            if route.matches(incident):
                chosen.append((index, route))
                if not route.continue_:
                    break
        return chosen

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)

    def stored_receivers(self) -> list[dict[str, Any]]:
        """Rows of notification_receivers: a URL only as scheme and host (a Slack URL's path is its secret)."""
        return [{"name": r.name, "kind": r.kind, "target": ", ".join(r.to) if r.kind == "email" else redacted(r.url or ""),
                 "routes": [route.model_dump(mode="json", by_alias=True, exclude={"receiver"})
                            for route in self.routes if route.receiver == r.name]} for r in self.receivers]


class RoutingError(ValueError):
    """notifications.yml is not valid; the message names the file, line and field."""


def load_routing(path: str) -> Routing:
    if not path:
        return Routing()
    root, data = read_yaml(Path(path), RoutingError)
    try:
        return Routing.model_validate(data)
    except ValidationError as exc:
        raise RoutingError(invalid(path, root, exc)) from exc


async def install_receivers(sessions: async_sessionmaker[AsyncSession], routing: Routing) -> None:
    """At worker start: notification_receivers becomes the file's receivers."""
    rows = routing.stored_receivers()
    async with sessions.begin() as session:
        await session.execute(delete(NotificationReceiver).where(
            NotificationReceiver.name.not_in([r["name"] for r in rows])))
        for row in rows:
            stmt = insert(NotificationReceiver).values(**row)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=[NotificationReceiver.name],
                set_={"kind": stmt.excluded.kind, "target": stmt.excluded.target, "routes": stmt.excluded.routes}))
