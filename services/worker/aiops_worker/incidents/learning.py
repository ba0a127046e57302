"""Topology learned from labels as they arrive: a Telegraf point tagged with a host and a service (its
`service`, `app` or `job` tag, global tags included) says that the service runs on that host; so does every
log line naming a host and a program (syslog), and every alert naming a host and a service (Alertmanager
`instance` + `job`/`service`, Sentry `server_name` + its service). Their `environment` and `release`
(TOPOLOGY_LABELS: Sentry's, a Telegraf global tag, an Alertmanager label) become labels of that edge. The
aggregator learns the same from the signals it correlates; metrics, logs and alerts name the services of hosts
before anything goes wrong there.

Learning is cheap and advisory: a batch's edges are deduplicated in memory, an edge this process stored
before (with the same labels) is not written again, and PostgreSQL being down costs the edges of that batch,
never the batch (the metrics still reach InfluxDB, the lines and alerts their stores)."""

import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import re2
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.topology import host_name, service_name
from aiops_worker.incidents.store import learn_runs_on

log = logging.getLogger(__name__)

SERVICE_TAGS = ("service", "app", "job")  # the tags that name a point's service, first found wins
# Tags follow a comma. RE2 scans a batch of metric lines in about half the time re takes (its alternation tries
# every comma of every line).
_SERVICE_TAG = re2.compile(",(?:" + "|".join(map(re.escape, SERVICE_TAGS)) + ")=")
TOPOLOGY_LABELS = ("environment", "release")  # labels kept on a learned edge
MAX_REMEMBERED = 100_000  # pairs a process remembers as stored; past it, it starts over
_UNESCAPED_SPACE = re.compile(r"(?<!\\) ")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


# (service, host) -> the edge's topology labels; what a batch teaches
Edges = dict[tuple[str, str], dict[str, str]]


def edge(service: str | None, host: str | None) -> tuple[str, str] | None:
    """The normalised (service, host) of a service label and a host label, or None when one is missing."""
    host, service = host_name(host), service_name(service)
    return (service[:255], host[:255]) if host and service else None


def topology_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {name: str(labels[name])[:255] for name in TOPOLOGY_LABELS if labels.get(name)}


def merged(found: Iterable[tuple[tuple[str, str] | None, Mapping[str, str]]]) -> Edges:
    """Edges of (edge or None, labels) items, one per (service, host), labels merged (later ones win)."""
    edges: Edges = {}
    for pair, labels in found:
        if pair:
            edges[pair] = {**edges.get(pair, {}), **labels}
    return edges


def runs_on_of_lines(lines: str) -> Edges:
    """The edges named by the tags of line-protocol points. Most metrics carry no service tag, and one search of
    the whole text costs a tenth of splitting every line's tags."""
    if _SERVICE_TAG.search(lines) is None:
        return {}
    heads = {_UNESCAPED_SPACE.split(line, 1)[0] for line in lines.splitlines() if "host=" in line}
    return merged(map(_runs_on_of_head, heads))


@lru_cache(maxsize=MAX_REMEMBERED)
def _runs_on_of_head(head: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """The (service, host) a point's measurement and tags name, and its labels; remembered, as a series sends
    the same head with every point."""
    tags = dict(tag.split("=", 1) for tag in _UNESCAPED_COMMA.split(head)[1:] if "=" in tag)
    service = next((tags[name] for name in SERVICE_TAGS if tags.get(name)), None)
    return edge(service, tags.get("host")), topology_labels(tags)


class TopologyLearner:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.stored: Edges = {}

    async def learn(self, edges: Edges) -> None:
        new = {pair: labels for pair, labels in edges.items()
               if pair not in self.stored or not labels.items() <= self.stored[pair].items()}
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
        for pair, labels in new.items():
            self.stored[pair] = {**self.stored.get(pair, {}), **labels}
