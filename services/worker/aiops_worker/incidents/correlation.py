"""Correlation on the topology graph: does a signal belong with an open incident, by which rule and through
which shared host, service or dependency; and which signal of an incident is its probable origin.

Rules, strongest first (the first that holds names the merge):
- `same_host`: the signal's host is one of the incident's hosts.
- `runs_on`: the signal's service runs on one of the incident's hosts, or one of the incident's services
  runs on the signal's host.
- `same_service`: the signal's service is one of the incident's services.
These three hold only when one side names no host: two signals placed on different hosts (a generic
program or job label on every machine) are joined only by a dependency.
- `depends_on`: a service of one side depends on a service of the other (a service's side: its own
  service and the services that run on its hosts), directly or through DEPTH services.

`reach` names, for a signal, the hosts and services an incident must list for any rule to hold, so the
aggregator compares a signal only with the incidents listing one of them (an index), not with every open one.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

DEPTH = 3  # dependency hops followed
RULES = ("same_host", "runs_on", "same_service", "depends_on")


@dataclass
class Topology:
    runs_on: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # service -> hosts
    runs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # host -> services
    depends_on: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # service -> services
    depended_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # service -> dependents

    def add_runs_on(self, service: str, host: str) -> bool:
        """Record that `service` runs on `host`; True when that is new."""
        if host in self.runs_on[service]:
            return False
        self.runs_on[service].add(host)
        self.runs[host].add(service)
        return True

    def add_depends_on(self, service: str, dependency: str) -> None:
        self.depends_on[service].add(dependency)
        self.depended_by[dependency].add(service)

    def services_of(self, hosts: Iterable[str], services: Iterable[str]) -> set[str]:
        found = set(services)
        for host in hosts:
            found |= self.runs.get(host, set())
        return found

    def dependencies(self, service: str) -> dict[str, str]:
        """Services `service` depends on (up to DEPTH hops) -> the service that directly depends on it."""
        found: dict[str, str] = {}
        frontier = {service}
        for _ in range(DEPTH):
            step = {(dep, s) for s in frontier for dep in self.depends_on.get(s, ()) if dep not in found}
            found.update({dep: s for dep, s in step if dep != service})
            frontier = {dep for dep, _ in step}
        return found

    def neighbours(self, services: set[str]) -> set[str]:
        """The services within DEPTH dependency hops of `services`, either way."""
        found: set[str] = set()
        for edges in (self.depends_on, self.depended_by):
            reached: set[str] = set()
            frontier = services
            for _ in range(DEPTH):
                frontier = {n for s in frontier for n in edges.get(s, ())} - reached
                reached |= frontier
            found |= reached
        return found


@dataclass(frozen=True)
class Side:
    """What one side of a comparison is about: a signal's host and service, or an incident's."""

    hosts: frozenset[str]
    services: frozenset[str]


def relate(topology: Topology, signal: Side, incident: Side) -> tuple[str, str] | None:
    """(rule, via) that joins a signal to an incident, or None."""
    if shared := sorted(signal.hosts & incident.hosts):
        return "same_host", f"host {shared[0]}"
    if signal.hosts and incident.hosts:  # both placed, on different hosts: only a dependency joins them
        return _dependency_either(topology, signal, incident)
    for service in sorted(signal.services):
        if on := sorted(topology.runs_on.get(service, set()) & incident.hosts):
            return "runs_on", f"{service} runs on {on[0]}"
    for host in sorted(signal.hosts):
        if on := sorted(topology.runs.get(host, set()) & incident.services):
            return "runs_on", f"{on[0]} runs on {host}"
    if shared := sorted(signal.services & incident.services):
        return "same_service", f"service {shared[0]}"
    return _dependency_either(topology, signal, incident)


def reach(topology: Topology, signal: Side) -> Side:
    """The hosts and services of which an incident must list one for `relate` to join `signal` to it (more
    may be named, never fewer): the signal's own, the hosts its services run on and the services running
    on its hosts (`runs_on`), and every service its side depends on or is depended on by, with the hosts
    they run on (`depends_on`)."""
    related = topology.neighbours(topology.services_of(signal.hosts, signal.services))
    hosts = set(signal.hosts).union(*(topology.runs_on.get(s, ()) for s in signal.services | related))
    services = related.union(signal.services, *(topology.runs.get(h, ()) for h in signal.hosts))
    return Side(frozenset(hosts), frozenset(services))


def _dependency_either(topology: Topology, signal: Side, incident: Side) -> tuple[str, str] | None:
    ours = topology.services_of(signal.hosts, signal.services)
    theirs = topology.services_of(incident.hosts, incident.services)
    return _dependency(topology, ours, theirs) or _dependency(topology, theirs, ours)


def _dependency(topology: Topology, dependents: set[str], dependencies: set[str]) -> tuple[str, str] | None:
    for service in sorted(dependents):
        reached = topology.dependencies(service)
        for dependency in sorted(dependencies & set(reached)):
            return "depends_on", f"{service} depends on {dependency}"
    return None


@dataclass(frozen=True)
class Onset:
    """One evidence entry as the origin rule reads it."""

    key: tuple[str, str]  # (group key, signal kind)
    first_seen_at: datetime
    host: str | None
    service: str | None


def origin(topology: Topology, entries: list[Onset]) -> tuple[str, str] | None:
    """The probable origin: the earliest of the most upstream entries (those the most other entries depend
    on, through their services or the services of their hosts).

    An entry's dependents are the entries of other keys whose reach (the services their services depend on)
    meets its services; a key's services are those of its last entry. They are counted once per key, through
    an index of the keys whose reach names each service: linear in the entries, where comparing every entry
    with every other was quadratic (4,000 entries: 2 s of the event loop, under the correlation lock)."""
    if not entries:
        return None
    places = {e.key: (e.host, e.service) for e in entries}  # (the last entry of each key)
    counts = Counter(e.key for e in entries)
    dependencies: dict[str, frozenset[str]] = {}
    sides: dict[tuple[str | None, str | None], tuple[frozenset[str], frozenset[str]]] = {}  # (services, reach)
    holders: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)  # service -> keys whose reach names it
    for key, (host, service) in places.items():
        side = sides.get((host, service))
        if side is None:
            services = frozenset(topology.services_of([host] if host else [], [service] if service else []))
            for s in services - dependencies.keys():
                dependencies[s] = frozenset(topology.dependencies(s))
            side = sides[host, service] = services, frozenset().union(*(dependencies[s] for s in services))
        for s in side[1]:
            holders[s][key] = counts[key]
    reaching: dict[frozenset[str], int] = {}  # services -> the entries whose key's reach meets them

    def dependents(key: tuple[str, str]) -> int:
        services, reach = sides[places[key]]
        found = reaching.get(services)
        if found is None:
            keys: dict[tuple[str, str], int] = {}
            for s in services:
                keys.update(holders.get(s, {}))
            found = reaching[services] = sum(keys.values())
        return found - (counts[key] if not reach.isdisjoint(services) else 0)  # (not its own key's entries)

    upstream = {key: dependents(key) for key in places}
    return min(entries, key=lambda e: (-upstream[e.key], e.first_seen_at, e.key)).key
