"""Topology learned from the labels of metrics: a Telegraf point tagged with a host and a service (its
`service`, `app` or `job` tag, global tags included) says that the service runs on that host. Signals
teach the same as they arrive (the aggregator learns from every alert and error line naming both: Alertmanager
`instance` + `job`/`service`, Sentry `server_name` + its `service` tag, syslog host + program); metrics name
the services of hosts before anything goes wrong there.

Learning is advisory: an edge this process stored before is not written again, and PostgreSQL being down
costs the edges of that batch, never the batch (the metrics still reach InfluxDB)."""

import logging
import re
from functools import lru_cache

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.topology import host_name, service_name
from aiops_worker.incidents.store import learn_runs_on

log = logging.getLogger(__name__)

SERVICE_TAGS = ("service", "app", "job")  # the tags that name a point's service, first found wins
MAX_REMEMBERED = 100_000  # pairs a process remembers as stored; past it, it starts over
_UNESCAPED_SPACE = re.compile(r"(?<!\\) ")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def runs_on_of_lines(lines: str) -> set[tuple[str, str]]:
    """(service, host) pairs named by the tags of line-protocol points."""
    heads = {_UNESCAPED_SPACE.split(line, 1)[0] for line in lines.splitlines() if "host=" in line}
    return {pair for pair in map(_runs_on_of_head, heads) if pair}


@lru_cache(maxsize=MAX_REMEMBERED)
def _runs_on_of_head(head: str) -> tuple[str, str] | None:
    """The (service, host) a point's measurement and tags name; remembered, as a series sends the same head
    with every point."""
    tags = dict(tag.split("=", 1) for tag in _UNESCAPED_COMMA.split(head)[1:] if "=" in tag)
    host = host_name(tags.get("host"))
    service = next((service_name(tags[name]) for name in SERVICE_TAGS if tags.get(name)), None)
    return (service[:255], host[:255]) if host and service else None


class TopologyLearner:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.stored: set[tuple[str, str]] = set()

    async def learn(self, pairs: set[tuple[str, str]]) -> None:
        new = pairs - self.stored
        if not new:
            return
        try:
            async with self.sessions.begin() as session:
                await learn_runs_on(session, new)
        except (OSError, SQLAlchemyError) as exc:
            log.warning("topology edges not stored", extra={"edges": len(new), "error": repr(exc)})
            return
        if len(self.stored) + len(new) > MAX_REMEMBERED:
            self.stored.clear()
        self.stored |= new
