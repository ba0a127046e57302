"""The candidate index changes nothing but speed: on a generated scenario (fixed seeds; a random topology, hosts
and services named or not, logs and alerts, keys firing again after their incidents resolved), aggregating with
the index places every signal in the same incident, by the same rule and `via`, as comparing each signal with
every candidate."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aiops_contracts.db import Incident
from aiops_contracts.events import AlertStatus, AlertStoredPayload, LogEvent, Severity
from aiops_worker.incidents.aggregator import Aggregation, Known, Policy
from aiops_worker.incidents.candidates import Candidates
from aiops_worker.incidents.correlation import Side
from aiops_worker.incidents.signals import Signal, signal_from_alert, signal_from_log

T0 = datetime(2026, 3, 2, tzinfo=UTC)
LOGS = Policy(window=timedelta(seconds=5), reopen=timedelta(hours=1), sample_limit=3, correlate=timedelta(minutes=10))
ALERTS = Policy(window=timedelta(minutes=10), reopen=timedelta(hours=1), sample_limit=3, correlate=timedelta(minutes=10))


class FullScan(Candidates):
    """The reference: every candidate whose span meets [start, end], in candidate order."""

    def listing(self, side: Side, start: datetime, end: datetime) -> list[Incident]:
        return [i for i in self.incidents.values() if i.first_seen_at <= end and start <= i.last_seen_at]


def scenario(seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[list[Signal]]]:
    """(dependencies, declared runs_on pairs, batches of signals)."""
    rng = random.Random(seed)
    hosts, services = [f"host-{i}" for i in range(200)], [f"svc-{i}" for i in range(150)]
    dependencies = [(rng.choice(services), rng.choice(services)) for _ in range(120)]
    runs_on = [(rng.choice(services), rng.choice(hosts)) for _ in range(100)]
    signals = []
    for n in range(2000):
        at = T0 + timedelta(seconds=rng.uniform(0, 3 * 3600))
        host = rng.choice(hosts) if rng.random() < 0.5 else None
        service = rng.choice(services) if rng.random() < 0.6 else None
        eid = f"e-{seed}-{n}"
        if rng.random() < 0.5:
            signals.append(signal_from_log(LogEvent(
                event_id=eid, template_id=f"tpl-{rng.randrange(8)}", template="failed <*>", message="failed",
                host=host, service=service, severity=Severity.high, occurred_at=at), eid))
        else:
            alert = AlertStoredPayload(alert_id=eid, fingerprint=f"fp-{rng.randrange(40)}", title="alert",
                                       severity=Severity.high, status=AlertStatus.firing, source="grafana",
                                       host=host, service=service)
            signals.append(signal_from_alert(alert, eid, at))
    signals.sort(key=lambda s: s.at)
    late = {i for i in range(len(signals)) if rng.random() < 0.1}  # delivered a batch or a few later
    arrival = sorted(range(len(signals)), key=lambda i: i + (rng.randint(40, 200) if i in late else 0))
    batches = [sorted((signals[i] for i in arrival[b:b + 40]), key=lambda s: s.at) for b in range(0, len(arrival), 40)]
    return dependencies, runs_on, batches


def placements(seed: int, candidates: Candidates) -> list[tuple[int, str, str]]:
    """Per signal: the first signal of its incident (incident ids are random), the rule and `via` it joined by."""
    dependencies, runs_on, batches = scenario(seed)
    known = Known(latest={}, candidates=candidates)
    for service, dependency in dependencies:
        known.topology.add_depends_on(service, dependency)
    for service, host in runs_on:
        known.topology.add_runs_on(service, host)
    first: dict[uuid.UUID, int] = {}
    placed = []
    for batch in batches:
        aggregation = Aggregation(LOGS, known)
        for signal in batch:
            aggregation.policy = LOGS if signal.key.startswith("log:") else ALERTS
            incident = aggregation.add(signal)
            entry = known.evidence[incident.id][signal.entry]
            placed.append((first.setdefault(incident.id, len(placed)), entry["rule"], entry["via"]))
    return placed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_index_places_signals_like_a_full_scan(seed: int) -> None:
    indexed = placements(seed, Candidates())
    assert indexed == placements(seed, FullScan())
    rules = {rule for _, rule, _ in indexed}
    assert {"same_host", "runs_on", "same_service", "depends_on", "opened"} <= rules  # every rule was met
