"""The candidate index of the incident aggregator (incidents/aggregator.py): a signal is compared only with the
incidents that list a host or service its rules can reach (`correlation.reach`) and whose span meets its time, in
the same order and with the same result as comparing it with every candidate; and its key's earlier episodes
(rule 5) are found by the keys their evidence holds."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from aiops_contracts.db import Incident
from aiops_worker.incidents.correlation import Side

EPOCH, MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


class Candidates:
    """The incidents signals may correlate with, in the order they became candidates, indexed by the hosts
    and services they list and the group keys their evidence holds, with their time spans. Kept up to date by
    the aggregation: an incident it opens is added, a host or service it lists, a key it holds and its span are
    indexed after each change. The index holds ranks (the order they became candidates) and spans in
    microseconds, cheaper to hash, sort and compare than ids and datetimes."""

    def __init__(self, incidents: Iterable[Incident] = ()) -> None:
        self.incidents: dict[uuid.UUID, Incident] = {}
        self._rank: dict[uuid.UUID, int] = {}
        self._ranked: list[Incident] = []  # rank -> incident
        self._spans: dict[int, tuple[int, int]] = {}  # rank -> (first, last seen)
        self._by_host: dict[str, set[int]] = defaultdict(set)
        self._by_service: dict[str, set[int]] = defaultdict(set)
        self._by_key: dict[str, set[int]] = defaultdict(set)
        for incident in incidents:
            self.add(incident)

    def add(self, incident: Incident) -> None:
        rank = self._rank.setdefault(incident.id, len(self._rank))
        if rank == len(self._ranked):
            self._ranked.append(incident)
        else:
            self._ranked[rank] = incident
        self.incidents[incident.id] = incident
        self.index(incident)

    def index(self, incident: Incident) -> None:
        """(Re-)index a candidate's span and every host and service it lists (nothing for another incident)."""
        rank = self._rank.get(incident.id)
        if rank is not None:
            self._spans[rank] = _microseconds(incident.first_seen_at), _microseconds(incident.last_seen_at)
            for host in incident.hosts:
                self._by_host[host].add(rank)
            for service in incident.services:
                self._by_service[service].add(rank)

    def hold(self, incident_id: uuid.UUID, key: str) -> None:
        """Index that a candidate's evidence holds `key` (nothing for another incident)."""
        rank = self._rank.get(incident_id)
        if rank is not None:
            self._by_key[key].add(rank)

    def listing(self, side: Side, start: datetime, end: datetime) -> list[Incident]:
        """The candidates listing one of the side's hosts or services whose span meets [start, end], in
        candidate order."""
        ranks = set().union(*(self._by_host.get(h, ()) for h in side.hosts),
                            *(self._by_service.get(s, ()) for s in side.services))
        return self._meeting(ranks, start, end)

    def holding(self, key: str, start: datetime, end: datetime) -> list[Incident]:
        """The candidates holding `key` whose span meets [start, end], in candidate order."""
        return self._meeting(self._by_key.get(key, set()), start, end)

    def _meeting(self, ranks: set[int], start: datetime, end: datetime) -> list[Incident]:
        low, high, spans = _microseconds(start), _microseconds(end), self._spans
        return [self._ranked[rank] for rank in sorted(r for r in ranks if spans[r][0] <= high and low <= spans[r][1])]


def _microseconds(at: datetime) -> int:
    return (at - EPOCH) // MICROSECOND
