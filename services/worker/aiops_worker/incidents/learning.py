"""Topology learned from labels as they arrive: a Telegraf point tagged with a host and a service (its
`service`, `app` or `job` tag, global tags included) says that the service runs on that host; so does every
log line naming a host and a program (syslog), and every alert naming a host and a service (Alertmanager
`instance` + `job`/`service`, Sentry `server_name` + its service). Their `environment` and `release`
(TOPOLOGY_LABELS: Sentry's, a Telegraf global tag, an Alertmanager label) become labels of that edge. The
aggregator learns the same from the signals it correlates; metrics, logs and alerts name the services of hosts
before anything goes wrong there.

Learning is cheap and advisory: a batch's edges are deduplicated in memory, an edge this process stored
before (with the same labels) is not written again, and PostgreSQL being down costs the edges of that batch,
never the batch (the metrics still reach InfluxDB, the lines and alerts their stores).

The names are the clients' own, so everything is bounded: the table holds at most TOPOLOGY_MAX_LEARNED_EDGES
learned edges (new ones past it are counted in aiops_worker_topology_edges_refused_total, logged once per
task, and not asked for again for REFUSED_FORGOTTEN_AFTER_S: neither by `learn` nor by the incident tasks, which
`store` what their batches teach in their own transaction; then asked for once more, as an admin may have made
room by deleting edges), a learner remembers hashes, not names, and only series heads of at most
MAX_CACHED_HEAD characters are cached."""

import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from time import monotonic

import re2
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.topology import host_name, service_name
from aiops_worker.incidents.store import learn_runs_on
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)

EDGES_REFUSED = Counter("aiops_worker_topology_edges_refused_total",
                        "Learned topology edges not stored: the table held TOPOLOGY_MAX_LEARNED_EDGES learned edges")

SERVICE_TAGS = ("service", "app", "job")  # the tags that name a point's service, first found wins
# Tags follow a comma. RE2 scans a batch of metric lines in about half the time re takes (its alternation tries
# every comma of every line).
_SERVICE_TAG = re2.compile(b",(?:" + b"|".join(re2.escape(tag.encode()) for tag in SERVICE_TAGS) + b")=")
TOPOLOGY_LABELS = ("environment", "release")  # labels kept on a learned edge
MAX_REMEMBERED = 100_000  # edges a learner remembers as stored, and as refused (past it, it starts over); heads cached
MAX_CACHED_HEAD = 1024  # characters of a series head (measurement and tags) cached at most
# The refused edges are forgotten this long after the first of them was refused: an admin deleting edges
# (DELETE /topology/edges/{id}) makes room that no process could otherwise see before it restarts.
REFUSED_FORGOTTEN_AFTER_S = 600.0
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


def runs_on_of_lines(lines: str | bytes) -> Edges:
    """The edges named by the tags of line-protocol points (text, or its UTF-8 bytes as the metrics writer reads
    them). Most metrics carry no service tag, and one search of the whole text costs a tenth of splitting every
    line's tags: the bytes are searched as they are, and decoded only when a service tag may be among them."""
    if _SERVICE_TAG.search(lines.encode() if isinstance(lines, str) else lines) is None:
        return {}
    if isinstance(lines, bytes):
        lines = lines.decode(errors="replace")  # a byte that is not UTF-8 spoils its tag, not the batch
    heads = {_UNESCAPED_SPACE.split(line, 1)[0] for line in lines.splitlines() if "host=" in line}
    return merged(_cached_runs_on_of_head(head) if len(head) <= MAX_CACHED_HEAD else _runs_on_of_head(head)
                  for head in heads)


def _runs_on_of_head(head: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """The (service, host) a point's measurement and tags name, and its labels."""
    tags = dict(tag.split("=", 1) for tag in _UNESCAPED_COMMA.split(head)[1:] if "=" in tag)
    service = next((tags[name] for name in SERVICE_TAGS if tags.get(name)), None)
    return edge(service, tags.get("host")), topology_labels(tags)


# Remembered, as a series sends the same head with every point; series keys reach 64 KB, so long ones are not.
_cached_runs_on_of_head = lru_cache(maxsize=MAX_REMEMBERED)(_runs_on_of_head)


class TopologyLearner:
    """Writes what a task learns. It remembers hashes, not names: of the (edge, labels) it stored, and of the edges
    the table's bound refused; at most MAX_REMEMBERED small ints each (about 7 MB) however long or many the names
    are."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.sessions = ctx.sessions
        self.limit = ctx.settings.topology_max_learned_edges
        self.seen: set[int] = set()  # (edge, labels) stored: not written again
        self.refused: set[int] = set()  # edges the table had no room for: not asked for, nor counted, again...
        self.refused_until = 0.0  # ...before this monotonic time, when they are forgotten
        self.refused_before = False  # the bound is logged once per learner, then only counted

    async def learn(self, edges: Edges) -> None:
        new = {pair: labels for pair, labels in edges.items() if _remembered(pair, labels) not in self.seen}
        if not new:
            return
        try:
            async with self.sessions.begin() as session:
                stored = await self.store(session, new)
        except (OSError, SQLAlchemyError) as exc:
            log.warning("topology edges not stored", extra={"edges": len(new), "error": repr(exc)})
            return
        _remember(self.seen, (_remembered(pair, labels) for pair, labels in stored.items()))

    async def store(self, session: AsyncSession, edges: Edges) -> Edges:
        """Write `edges` in the session's transaction, but those the table had no room for before (the incident
        tasks call this with every batch: their topology, read from the table, lacks a refused edge each time), until
        the learner forgets them. Those it has no room for now are counted and remembered. Returns the edges
        written."""
        if self.refused and monotonic() >= self.refused_until:
            self.refused.clear()
        asked = {pair: labels for pair, labels in edges.items() if hash(pair) not in self.refused}
        refused = await learn_runs_on(session, asked, limit=self.limit)
        if refused:
            self._refuse(refused)
        return {pair: labels for pair, labels in asked.items() if pair not in refused}

    def _refuse(self, refused: set[tuple[str, str]]) -> None:
        if not self.refused:
            self.refused_until = monotonic() + REFUSED_FORGOTTEN_AFTER_S
        _remember(self.refused, map(hash, refused))
        EDGES_REFUSED.inc(len(refused))
        if not self.refused_before:
            self.refused_before = True
            log.warning("topology full: new learned edges are not stored", extra={
                "limit": self.limit, "setting": "TOPOLOGY_MAX_LEARNED_EDGES", "refused": len(refused),
                "example": min(refused)})


def _remembered(pair: tuple[str, str], labels: dict[str, str]) -> int:
    return hash((pair, tuple(sorted(labels.items()))))


def _remember(memory: set[int], hashes: Iterable[int]) -> None:
    """Add hashes to a learner's memory, which starts over rather than pass MAX_REMEMBERED."""
    new = set(hashes)
    if len(memory) + len(new) > MAX_REMEMBERED:
        memory.clear()
    memory |= new
