"""The enrichment prompt: trusted facts (counts, ids, times) as plain text, everything that came from a
monitored system (templates, sample lines, alert titles, host and service names) as delimited data."""

import json
from typing import Any

from aiops_contracts.llm import untrusted
from aiops_contracts.llm.prompts import DATA_RULE
from aiops_worker.enrichment.evidence import Evidence
from aiops_worker.enrichment.rules import Enrichment

SYSTEM = (
    "You are an SRE assistant explaining one incident of a monitoring platform. "
    f"{DATA_RULE} Base every statement on the evidence given; cite template, alert and incident ids; "
    "say 'not determined' rather than guess. Answer with one JSON object matching this schema: "
    f"{json.dumps(Enrichment.model_json_schema())}"
)


def messages(ev: Evidence) -> list[dict[str, Any]]:
    facts = (f"Incident {ev.incident_id}: {ev.event_count} events, severity {ev.severity}, status {ev.status}, "
             f"from {ev.first_seen_at.isoformat()} to {ev.last_seen_at.isoformat()}.")
    blocks = [untrusted("incident title, hosts, services",
                        f"{ev.title}\nhosts: {', '.join(ev.hosts)}\nservices: {', '.join(ev.services)}")]
    blocks += [untrusted(f"log template {t.id} (x{t.count}, category {t.category})", t.template) for t in ev.templates]
    blocks += [untrusted("sample log line", s) for s in ev.samples]
    blocks += [untrusted(f"alert {a.id} ({a.source}, {a.severity}, x{a.count}, host {a.host}, release {a.release})",
                         a.title)
               for a in ev.alerts]
    blocks += [untrusted(f"anomaly alert {a.id} (host {a.host})", a.title) for a in ev.anomalies]
    blocks += [untrusted(f"past incident {p.id} (resolved in {p.minutes_to_resolve} min by {p.resolved_by}; "
                         f"actions: {', '.join(p.actions) or 'none'})", f"{p.title}\n{p.summary}") for p in ev.similar]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join([facts, *blocks])}]


def cache_key(ev: Evidence) -> str:
    """Similar incidents (same templates or alert titles, severity and size class) on the same hosts and
    services share one answer: its title and summary, copied onto the incident, name them."""
    shapes = sorted(t.id for t in ev.templates) or sorted({a.title for a in ev.alerts}) or [ev.title]
    where = json.dumps([sorted(set(ev.hosts)), sorted(set(ev.services))], separators=(",", ":"))
    return f"{ev.severity}:{ev.event_count and len(str(ev.event_count))}:{'|'.join(shapes)}:{where}"
