"""What would have fired compared with what did: counts and a list of differences.

Incidents are compared by the events they hold (envelope ids, which the replay keeps): a replayed incident
sharing no event with a stored one was `created`; a stored one sharing none with the replay was `not_created`;
a replayed incident holding events of several stored ones `merged` them; a stored one whose events went to
several replayed ones was `split`. The replay's incidents are those it opened and those of its starting state
that replayed events joined (a snapshot's, which keep their stored ids). Only stored incidents holding replayed
events are compared (an event the archive does not have cannot say where it would go). Alerts are compared by envelope id (anomaly alerts have
deterministic ids), automations by the number of runs per rule.
"""

import uuid
from collections import Counter
from typing import Any

from aiops_contracts.db import Incident
from aiops_contracts.envelope import Envelope
from aiops_worker.replay.engine import Outcome
from aiops_worker.replay.inputs import Did

MAX_CHANGES = 200  # differences listed (the counts are complete)


def compare(outcome: Outcome, did: Did, archived_alerts: list[Envelope], replayed: set[str]) -> dict[str, Any]:
    stored = {i: events & replayed for i, events in did.members.items() if events & replayed}
    owner = {event: incident for incident, events in stored.items() for event in events}
    changes: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    would_by_stored: dict[uuid.UUID, list[Incident]] = {i: [] for i in stored}
    incidents = [*outcome.incidents, *outcome.continued]
    for incident in incidents:
        sources = {owner[e] for e in outcome.members[incident.id] if e in owner}
        for source in sources:
            would_by_stored[source].append(incident)
        if not sources:
            counts["created"] += 1
            changes.append({"change": "created", "incident": _summary(incident, len(outcome.members[incident.id]))})
        elif len(sources) > 1:
            counts["merged"] += 1
            changes.append({"change": "merged", "incident": _summary(incident, len(outcome.members[incident.id])),
                            "from": [_summary(did.incidents[s], len(stored[s])) for s in sorted(sources, key=str)]})
    for source, into in would_by_stored.items():
        if not into:
            counts["not_created"] += 1
            changes.append({"change": "not_created", "incident": _summary(did.incidents[source], len(stored[source]))})
        elif len(into) > 1:
            counts["split"] += 1
            changes.append({"change": "split", "incident": _summary(did.incidents[source], len(stored[source])),
                            "into": [_summary(i, len(outcome.members[i.id])) for i in into]})
    changes += _alert_changes(outcome.alerts, [e for e in archived_alerts if e.payload.get("status") == "firing"], counts)
    changes += _automation_changes(Counter(rule for rule, _ in outcome.automations),
                                   Counter(rule for rule, _ in did.automations), counts)
    return {
        "would": {"incidents": len(incidents), "alerts": len(outcome.alerts),
                  "automations": len(outcome.automations)},
        "did": {"incidents": len(did.members), "alerts": sum(1 for e in archived_alerts if e.payload.get("status") == "firing"),
                "automations": len(did.automations), "incidents_compared": len(stored)},
        "diff": {key: counts[key] for key in ("created", "not_created", "merged", "split", "alerts_added",
                                              "alerts_removed", "automations_added", "automations_removed")},
        "changes": changes[:MAX_CHANGES],
        "changes_truncated": len(changes) > MAX_CHANGES,
    }


def _alert_changes(would: list[Envelope], did: list[Envelope], counts: Counter[str]) -> list[dict[str, Any]]:
    would_ids, did_ids = {e.id for e in would}, {e.id for e in did}
    changes = []
    for change, envelopes, others in (("alert_added", would, did_ids), ("alert_removed", did, would_ids)):
        for envelope in envelopes:
            if envelope.id not in others:
                counts[change.replace("alert_", "alerts_")] += 1
                changes.append({"change": change, "alert": _alert(envelope)})
    return changes


def _automation_changes(would: Counter[str], did: Counter[str], counts: Counter[str]) -> list[dict[str, Any]]:
    changes = []
    for rule in sorted(would.keys() | did.keys()):
        delta = would[rule] - did[rule]
        if delta:
            change = "automation_added" if delta > 0 else "automation_removed"
            counts[change.replace("automation_", "automations_")] += abs(delta)
            changes.append({"change": change, "rule": rule, "would": would[rule], "did": did[rule]})
    return changes


def _summary(incident: Incident, events: int) -> dict[str, Any]:
    return {"id": str(incident.id), "title": incident.title, "group_key": incident.group_key,
            "severity": incident.severity, "hosts": list(incident.hosts), "services": list(incident.services),
            "first_seen_at": incident.first_seen_at.isoformat(), "events": events}


def _alert(envelope: Envelope) -> dict[str, Any]:
    payload = envelope.payload
    return {"id": envelope.id, "source": envelope.source, "title": payload.get("title"), "host": payload.get("host"),
            "severity": payload.get("severity"), "at": payload.get("occurred_at") or envelope.time.isoformat()}
