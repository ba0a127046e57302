"""The probable origin of an incident (correlation.origin): the same answer as comparing every evidence entry with
every other (the rule as first written, kept here as the reference), at a cost linear in the entries: the aggregator
computes it for every changed incident of a batch, on the event loop and under the correlation lock."""

import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiops_worker.incidents.correlation import Onset, Topology, origin

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def reference(topology: Topology, entries: list[Onset]) -> tuple[str, str] | None:
    """The rule by its definition: O(n^2) in the entries."""
    if not entries:
        return None
    services = {e.key: topology.services_of([e.host] if e.host else [], [e.service] if e.service else [])
                for e in entries}
    reach = {e.key: set().union(*(topology.dependencies(s) for s in services[e.key])) for e in entries}

    def dependents(entry: Onset) -> int:
        return sum(1 for other in entries if other.key != entry.key and reach[other.key] & services[entry.key])

    return min(entries, key=lambda e: (-dependents(e), e.first_seen_at, e.key)).key


def generated(rng: random.Random, n: int) -> tuple[Topology, list[Onset]]:
    """A random topology over a few hosts and services (chains, cycles, shared dependencies) and an incident's
    entries: keys repeated under several kinds, entries without host or service, equal onsets."""
    hosts, services = [f"h{i}" for i in range(rng.randint(1, 6))], [f"s{i}" for i in range(rng.randint(1, 10))]
    topology = Topology()
    for _ in range(rng.randint(0, 12)):
        topology.add_depends_on(rng.choice(services), rng.choice(services))
    for _ in range(rng.randint(0, 8)):
        topology.add_runs_on(rng.choice(services), rng.choice(hosts))
    keys = [f"k{i}" for i in range(rng.randint(1, max(1, n)))]
    entries = [Onset((rng.choice(keys), rng.choice(["log", "alert", "error"])),
                     T0 + timedelta(seconds=rng.randint(0, 20)),
                     rng.choice([None, *hosts]), rng.choice([None, *services])) for _ in range(n)]
    return topology, entries


def test_same_origin_as_comparing_every_entry_with_every_other() -> None:
    rng = random.Random(20261130)
    for trial in range(2000):
        topology, entries = generated(rng, rng.randint(0, 40))
        assert origin(topology, entries) == reference(topology, entries), trial


def test_the_origin_is_the_earliest_of_the_most_depended_on() -> None:
    topology = Topology()
    topology.add_depends_on("checkout", "postgres")
    topology.add_runs_on("postgres", "db-1")
    entries = [Onset(("sentry", "error"), T0, None, "checkout"),
               Onset(("log:fatal:db-1", "log"), T0 + timedelta(seconds=5), "db-1", None),
               Onset(("alert:host:db-1", "anomaly"), T0 + timedelta(seconds=9), "db-1", None)]
    assert origin(topology, entries) == ("log:fatal:db-1", "log")
    assert origin(topology, []) is None


def work(function: Callable[[], Any]) -> int:
    """The calls (Python and C) and generator steps `function` makes: a measure of work, whatever the machine's load."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(previous)
    return count


def incident(n: int) -> tuple[Topology, list[Onset]]:
    """n entries of one fault: log templates on the hosts of a service chain, alerts and errors of its services."""
    topology = Topology()
    for service, dependency in [("web", "api"), ("api", "postgres"), ("api", "redis"), ("worker", "postgres")]:
        topology.add_depends_on(service, dependency)
    for service, host in [("web", "web-1"), ("api", "app-1"), ("worker", "app-1"), ("postgres", "db-1"),
                          ("redis", "cache-1")]:
        topology.add_runs_on(service, host)
    places = [("web-1", None), ("app-1", "api"), ("db-1", None), ("cache-1", "redis"), (None, "worker"), (None, None)]
    entries = [Onset((f"log:t{i}:{places[i % 6][0]}", "log" if i % 3 else "error"), T0 + timedelta(seconds=i),
                     *places[i % len(places)]) for i in range(n)]
    return topology, entries


def test_the_cost_is_linear_in_the_entries() -> None:
    small, large = incident(400), incident(4000)
    assert origin(*large) == ("log:t2:db-1", "log")
    assert reference(*small) == origin(*small)
    # Ten times the entries, at most about ten times the work (comparing each with each: a hundred times).
    assert work(lambda: origin(*large)) < 12 * work(lambda: origin(*small))
