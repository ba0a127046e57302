"""The enrichment's shape (also the schema an LLM must answer in), and the no-LLM enrichment: the same
evidence turned into a title, summary, probable cause, impact, next checks and a severity recommendation by
rules and templates, saying so. Quoted text from logs and alerts stays quoted: nothing in it is acted on."""

from pydantic import BaseModel, Field

from aiops_contracts.events import Severity
from aiops_worker.enrichment.evidence import Evidence

RULES_NOTE = "Built by rules from the evidence (no LLM configured or available)."
# Next checks per failure-rule category (aiops_worker/logs/rules.yml) and per alert source.
CHECKS = {
    "database": "Check the database's connections, locks and slow queries.",
    "network": "Check connectivity, DNS and the peer's health from the affected hosts.",
    "memory": "Check memory use and OOM kills on the affected hosts.",
    "disk": "Check free disk space and inode use on the affected hosts.",
    "anomaly-detector": "Compare the anomalous metric with the deploys and traffic of the same window.",
    "sentry": "Open the Sentry issue and the release that introduced it.",
    "alertmanager": "Check the firing Prometheus rule and its recent history.",
}


class Enrichment(BaseModel):
    title: str = Field(max_length=200)
    summary: str = Field(max_length=2_000)
    probable_cause: str = Field(max_length=1_000)
    evidence: list[str] = Field(max_length=12)
    impact: str = Field(max_length=500)
    next_checks: list[str] = Field(max_length=8)
    severity_recommendation: Severity


def by_rules(ev: Evidence) -> Enrichment:
    where = _listing(ev.hosts or ev.services) or "an unnamed component"
    top = ev.templates[0].template if ev.templates else (ev.alerts[0].title if ev.alerts else ev.title)
    span = f"{ev.first_seen_at:%Y-%m-%d %H:%M}–{ev.last_seen_at:%H:%M} UTC"
    summary = (f"{ev.event_count} {ev.kind or 'signal'} event(s) on {where}, {span}. "
               f"Most frequent: \"{_cut(top)}\". {len(ev.alerts)} linked alert(s), {len(ev.anomalies)} anomaly(ies) "
               f"nearby, {len(ev.similar)} similar past incident(s). {RULES_NOTE}")
    return Enrichment(title=_cut(f"{ev.severity.capitalize()}: {top} on {where}", 200), summary=summary,
                      probable_cause=_cause(ev), evidence=_evidence(ev), impact=_impact(ev),
                      next_checks=_checks(ev), severity_recommendation=_severity(ev))


def _cause(ev: Evidence) -> str:
    if ev.anomalies:
        a = ev.anomalies[0]
        return _cut(f"An anomaly on {a.host} preceded or accompanied it: \"{a.title}\" (alert {a.id}).", 1_000)
    if ev.category:
        return f"Log lines matched the '{ev.category}' failure rule on {_listing(ev.hosts) or 'the affected hosts'}."
    if ev.similar:
        p = ev.similar[0]
        return _cut(f"Looks like past incident {p.id} (\"{p.title}\"), resolved in {p.minutes_to_resolve} min "
                    f"by {p.resolved_by}.", 1_000)
    return "Not determined from the evidence: no failure rule, anomaly or similar past incident matched."


def _evidence(ev: Evidence) -> list[str]:
    lines = [f"template {t.id}: \"{_cut(t.template, 160)}\" ×{t.count}" for t in ev.templates[:4]]
    lines += [f"alert {a.id} ({a.source}, {a.severity}): \"{_cut(a.title, 160)}\" ×{a.count}"
              + (f", from release {a.release}" if a.release else "") for a in ev.alerts[:4]]
    lines += [f"anomaly {a.id} on {a.host}: \"{_cut(a.title, 160)}\"" for a in ev.anomalies[:2]]
    lines += [f"past incident {p.id}: \"{_cut(p.title, 120)}\", resolved in {p.minutes_to_resolve} min by "
              f"{p.resolved_by}{'; actions: ' + ', '.join(p.actions) if p.actions else ''}" for p in ev.similar[:2]]
    return lines or [f"{ev.event_count} event(s) grouped as \"{_cut(ev.title, 160)}\""]


def _impact(ev: Evidence) -> str:
    return (f"{len(ev.hosts)} host(s) ({_listing(ev.hosts) or 'none named'}), "
            f"{len(ev.services)} service(s) ({_listing(ev.services) or 'none named'}).")


def _checks(ev: Evidence) -> list[str]:
    keys = [ev.category, *(t.category for t in ev.templates), *(a.source for a in ev.alerts + ev.anomalies)]
    checks = list(dict.fromkeys(CHECKS[k] for k in keys if k in CHECKS))
    if ev.similar:
        checks.append(f"Read how past incident {ev.similar[0].id} was resolved.")
    return (checks or ["Read the sample lines and the linked alerts on the incident page."])[:8]


def _severity(ev: Evidence) -> Severity:
    current = Severity(ev.severity)
    if ev.event_count >= 1_000 or len(ev.hosts) >= 5:
        return Severity.critical if current in (Severity.critical, Severity.high) else Severity.high
    return current


def _listing(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _cut(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
