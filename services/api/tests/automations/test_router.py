"""/api/v1/automations: rule CRUD for admins (file rules read-only), runs with their output, and approvals by
operators: audited, on the incident's timeline, announced for the worker, refused once expired."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app
from aiops_api.settings import ApiSettings
from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus
from aiops_contracts.db import AuditEntry, AutomationRule, AutomationRun, Incident, IncidentEvent
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import AUTOMATIONS_APPROVED

RULE = {"name": "restart-web", "trigger": {"events": ["incident.opened"], "hosts": ["web-*"]},
        "action": {"kind": "ansible", "playbook": "memory_cleanup.yml"}, "guards": {"destructive": True}}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_admin_creates_edits_toggles_and_deletes_a_rule(client, auth, sessions):
    assert (await client.post("/api/v1/automations/rules", json=RULE, headers=auth(Role.operator))).status_code == 403
    created = await client.post("/api/v1/automations/rules", json=RULE, headers=auth(Role.admin))
    assert created.status_code == 201 and created.json()["origin"] == "api"
    again = await client.post("/api/v1/automations/rules", json=RULE, headers=auth(Role.admin))
    assert again.status_code == 409 and "restart-web" in again.json()["detail"]
    changed = {**RULE, "guards": {"cooldown_s": 60}}
    put = await client.put("/api/v1/automations/rules/restart-web", json=changed, headers=auth(Role.admin))
    assert put.json()["spec"]["guards"]["cooldown_s"] == 60
    off = await client.patch("/api/v1/automations/rules/restart-web", json={"enabled": False}, headers=auth(Role.admin))
    assert off.json()["enabled"] is False
    listed = await client.get("/api/v1/automations/rules", headers=auth(Role.viewer))
    assert [r["name"] for r in listed.json()] == ["restart-web"]
    assert (await client.delete("/api/v1/automations/rules/restart-web", headers=auth(Role.admin))).status_code == 204
    async with sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["automation_rule.created", "automation_rule.updated", "automation_rule.toggled",
                       "automation_rule.deleted"]


@pytest.mark.parametrize(("body", "field"), [
    ({**RULE, "action": {"kind": "ansible", "playbook": "/etc/passwd"}}, "playbook"),
    ({**RULE, "trigger": {"events": []}}, "events"),
    ({**RULE, "name": "Bad Name"}, "name"),
    # the worker's AWX token would go to this host: the platform's address is the worker's setting
    ({**RULE, "action": {"kind": "awx", "url": "https://attacker.example", "template_id": 7}}, "AWX_URL"),
])
async def test_invalid_rule_is_refused_naming_the_field(client, auth, body, field):
    response = await client.post("/api/v1/automations/rules", json=body, headers=auth(Role.admin))
    assert response.status_code == 422 and field in response.text


@pytest.mark.parametrize("placeholder", ["{title}", "{details}", "{key}"])
async def test_an_extra_var_naming_a_fact_never_put_in_is_refused_at_create_and_update(client, auth, placeholder):
    """{title} is free text, {details} not a plain value, {key} not put in: each would fail every run, so the admin
    learns it here, by the action field and the placeholder."""
    bad = {**RULE, "action": {**RULE["action"], "extra_vars": {"cleanup_dir": f"/var/log/{placeholder}", "n": 3}}}
    response = await client.post("/api/v1/automations/rules", json=bad, headers=auth(Role.admin))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "action"] and "cleanup_dir" in error["msg"] and placeholder in error["msg"]
    good = {**RULE, "action": {**RULE["action"], "extra_vars": {"cleanup_dir": "/var/log/{service}/{host}"}}}
    assert (await client.post("/api/v1/automations/rules", json=good, headers=auth(Role.admin))).status_code == 201
    response = await client.put("/api/v1/automations/rules/restart-web", json=bad, headers=auth(Role.admin))
    assert response.status_code == 422 and placeholder in response.text


async def test_an_extra_var_naming_no_fact_is_accepted_as_written(client, auth):
    """Only the event's facts are placeholders (as in the worker): Jinja, a shell variable or another name stays."""
    extra_vars = {"jinja": "{{inventory_hostname}}", "jinja_fact": "{{title}}", "shell": "${HOME}/x",
                  "other": "/srv/{hostname}"}
    body = {**RULE, "action": {**RULE["action"], "extra_vars": extra_vars}}
    response = await client.post("/api/v1/automations/rules", json=body, headers=auth(Role.admin))
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["action"]["extra_vars"] == extra_vars


async def test_a_stored_rule_naming_free_text_still_loads(client, auth, sessions):
    """The check is the API's on what an admin writes: rules stored before it (or from automations.yml) stay
    readable, and their runs fail naming the placeholder (the worker's placeholders.py)."""
    spec = {**RULE, "action": {**RULE["action"], "extra_vars": {"note": "{title}"}}}
    async with sessions.begin() as session:
        session.add(AutomationRule(name="restart-web", origin="file", enabled=True, spec=spec))
    listed = await client.get("/api/v1/automations/rules", headers=auth(Role.admin))
    assert listed.status_code == 200 and listed.json()[0]["spec"]["action"]["extra_vars"] == {"note": "{title}"}


async def test_rules_from_the_file_are_read_only_here(client, auth, sessions):
    async with sessions.begin() as session:
        session.add(AutomationRule(name="restart-web", origin="file", enabled=True, spec=RULE))
    response = await client.put("/api/v1/automations/rules/restart-web", json=RULE, headers=auth(Role.admin))
    assert response.status_code == 409 and "automations.yml" in response.json()["detail"]


async def awaiting(sessions, expires_in: timedelta, spec: dict = RULE) -> AutomationRun:
    incident = Incident(id=uuid.uuid4(), group_key="k", title="web down", summary="", severity="critical",
                        status="open", event_count=1, hosts=["web-1"], services=[], details={},
                        first_seen_at=T0, last_seen_at=T0)
    run = AutomationRun(id=uuid.uuid4(), rule_name="restart-web", trigger_key=uuid.uuid4().hex, target="web-1",
                        incident_id=incident.id, status="awaiting_approval", reason="destructive rule", dry_run=False,
                        spec=spec, event={"host": "web-1"}, output="",
                        approval_expires_at=datetime.now(UTC) + expires_in)
    async with sessions.begin() as session:
        session.add(incident)
        await session.flush()
        session.add(run)
    return run


async def test_operator_approves_once_audited_on_the_timeline_and_announced(client, auth, sessions, bus: Bus):
    run = await awaiting(sessions, timedelta(hours=1))
    url = f"/api/v1/automations/runs/{run.id}"
    assert (await client.post(f"{url}/approve", json={}, headers=auth(Role.viewer))).status_code == 403
    approved = await client.post(f"{url}/approve", json={}, headers=auth(Role.operator))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert (await client.post(f"{url}/approve", json={}, headers=auth(Role.operator))).status_code == 409
    entries = [Envelope.from_entry(f) for _, f in await bus.redis.xrange(bus.key(AUTOMATIONS_APPROVED))]
    assert [e.payload["run_id"] for e in entries] == [str(run.id)]
    async with sessions() as session:
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(run.id)))).all()
        timeline = (await session.scalars(select(IncidentEvent.message))).all()
    assert [a.action for a in audit] == ["automation.approved"] and audit[0].actor
    assert timeline == [f"restart-web: approved by {audit[0].actor}"]
    listed = await client.get("/api/v1/automations/runs", params={"status": "approved"}, headers=auth(Role.viewer))
    assert [r["id"] for r in listed.json()] == [str(run.id)]


async def test_an_approval_whose_announcement_failed_answers_200_and_is_left_to_the_sweep(
        api_settings: ApiSettings, clean_db, sessions, bus: Bus, redis, auth, monkeypatch) -> None:
    """The decision is committed, so a failed announcement (here the approvals stream is full of entries a slow
    group has not read: StreamBacklogFull) does not fail the answer: a 503 would send the operator to retry, and
    the retry would get 409. The worker's sweep (unstarted_approvals) starts the approved run."""
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)  # read the backlog on every publish
    app = create_app(api_settings.model_copy(update={"stream_maxlen_factor": 10 / AUTOMATIONS_APPROVED.maxlen}))
    await redis.xgroup_create(bus.key(AUTOMATIONS_APPROVED), "slow", id="$", mkstream=True)
    await bus.publish_many(AUTOMATIONS_APPROVED, [Envelope(type="test.filler", source="test") for _ in range(9)])
    run = await awaiting(sessions, timedelta(hours=1))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://test") as client:
        response = await client.post(f"/api/v1/automations/runs/{run.id}/approve", json={},
                                     headers=auth(Role.operator))
    assert (response.status_code, response.json().get("status")) == (200, "approved")
    async with sessions() as session:
        assert (await session.get(AutomationRun, run.id)).status == "approved"
    assert await bus.redis.xlen(bus.key(AUTOMATIONS_APPROVED)) == 9  # the fillers only


async def test_expired_request_is_refused_and_rejection_runs_nothing(client, auth, sessions, bus: Bus):
    expired = await awaiting(sessions, timedelta(seconds=-1))
    response = await client.post(f"/api/v1/automations/runs/{expired.id}/approve", json={}, headers=auth(Role.operator))
    assert response.status_code == 409 and "expired" in response.json()["detail"]
    run = await awaiting(sessions, timedelta(hours=1))
    rejected = await client.post(f"/api/v1/automations/runs/{run.id}/reject", json={}, headers=auth(Role.operator))
    assert rejected.json()["status"] == "rejected"
    assert await bus.redis.xlen(bus.key(AUTOMATIONS_APPROVED)) == 0
    detail = await client.get(f"/api/v1/automations/runs/{expired.id}", headers=auth(Role.viewer))
    assert detail.json()["status"] == "expired"


@pytest.mark.parametrize("decision", ["approved", "rejected"])
async def test_decision_comment_is_audited_and_on_the_timeline(client, auth, sessions, decision):
    run = await awaiting(sessions, timedelta(hours=1))
    verb = {"approved": "approve", "rejected": "reject"}[decision]
    response = await client.post(f"/api/v1/automations/runs/{run.id}/{verb}", json={"comment": " per CHG-4242 "},
                                 headers=auth(Role.operator))
    assert response.status_code == 200 and response.json()["status"] == decision
    async with sessions() as session:
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity_id == str(run.id)))
        timeline = (await session.scalars(select(IncidentEvent.message))).all()
    assert audit is not None and audit.after == {"status": decision, "comment": "per CHG-4242"}
    assert timeline == [f"restart-web: {decision} by {audit.actor} (per CHG-4242)"]


SECRET_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
WEBHOOK = {"name": "notify-slack", "trigger": {"events": ["incident.opened"]}, "guards": {"destructive": True},
           "action": {"kind": "webhook", "url": SECRET_URL, "extra_vars": {"api_key": "s3cret-key"}}}


async def test_below_admin_a_rule_shows_its_url_as_scheme_and_host_without_extra_vars(client, auth, sessions):
    assert (await client.post("/api/v1/automations/rules", json=WEBHOOK, headers=auth(Role.admin))).status_code == 201
    run = await awaiting(sessions, timedelta(hours=1), spec=WEBHOOK)
    url = f"/api/v1/automations/runs/{run.id}"
    for role in (Role.viewer, Role.operator):
        [rule] = (await client.get("/api/v1/automations/rules", headers=auth(role))).json()
        detail = (await client.get(url, headers=auth(role))).json()
        for spec in (rule["spec"], detail["spec"]):
            assert spec["action"]["url"] == "https://hooks.slack.com" and spec["action"]["extra_vars"] == {}
    approved = await client.post(f"{url}/approve", json={}, headers=auth(Role.operator))
    assert approved.status_code == 200 and "SECRET" not in approved.text and "s3cret" not in approved.text
    # admins edit rules: they see them whole
    [rule] = (await client.get("/api/v1/automations/rules", headers=auth(Role.admin))).json()
    detail = (await client.get(url, headers=auth(Role.admin))).json()
    assert rule["spec"]["action"] == detail["spec"]["action"] == {**WEBHOOK["action"], "hosts": [], "playbook": None,
                                                                  "template_id": None, "workspace_id": None,
                                                                  "timeout_s": 300.0}


async def test_stats_give_the_success_rate_and_mttr_per_rule_and_playbook(client, auth, sessions):
    outcomes = [("succeeded", "fixed", 60.0), ("succeeded", "fixed", 120.0), ("succeeded", "not_fixed", None),
                ("failed", None, None)]
    async with sessions.begin() as session:
        for status, outcome, mttr in outcomes:
            session.add(AutomationRun(id=uuid.uuid4(), rule_name="restart-web", trigger_key=uuid.uuid4().hex,
                                      target="web-1", status=status, reason="", dry_run=False, spec=RULE, event={},
                                      output="", outcome=outcome, mttr_s=mttr))
    stats = (await client.get("/api/v1/automations/stats", headers=auth(Role.viewer))).json()
    assert stats == [{"rule_name": "restart-web", "action": "memory_cleanup.yml", "runs": 4, "succeeded": 3,
                      "failed": 1, "fixed": 2, "not_fixed": 1, "worse": 0, "success_rate": 2 / 3,
                      "mean_mttr_s": 90.0}]


def incident(title: str, resolved_after_s: float | None, *, days_ago: float, similar: tuple[Incident, ...] = ()) -> Incident:
    first = datetime.now(UTC) - timedelta(days=days_ago)
    enrichment = {"enrichment": {"similar": [{"id": str(p.id)} for p in similar]}} if similar else {}
    return Incident(id=uuid.uuid4(), group_key=f"alert:host:{uuid.uuid4().hex[:6]}", title=title, summary="",
                    severity="high", status="resolved" if resolved_after_s else "open", event_count=3,
                    hosts=["web-1"], services=["checkout"], details=enrichment, first_seen_at=first,
                    last_seen_at=first,
                    resolved_at=first + timedelta(seconds=resolved_after_s) if resolved_after_s else None)


def run_on(incident_id: uuid.UUID, rule: str, playbook: str, outcome: str, mttr_s: float | None) -> AutomationRun:
    spec = {**RULE, "name": rule, "action": {"kind": "ansible", "playbook": playbook}}
    return AutomationRun(id=uuid.uuid4(), rule_name=rule, trigger_key=uuid.uuid4().hex, target="web-1",
                         incident_id=incident_id, status="succeeded", reason="", dry_run=False, spec=spec, event={},
                         output="", outcome=outcome, mttr_s=mttr_s)


async def test_an_incident_shows_its_runs_and_mttr_and_the_best_playbook_of_its_look_alikes(client, auth, sessions):
    disk_past = [incident("Disk / on web-1 almost full", 600, days_ago=d) for d in (3, 2)]
    unrelated = incident("TLS certificate expired for api.example.com", 300, days_ago=1)
    # the look-alikes the worker's enrichment found for the new incident
    now = incident("Disk / on web-1 nearly full", None, days_ago=0, similar=tuple(disk_past))
    async with sessions.begin() as session:
        session.add_all([*disk_past, unrelated, now])
        await session.flush()
        session.add_all([run_on(disk_past[0].id, "disk-cleanup", "disk_cleanup.yml", "fixed", 240.0),
                         run_on(disk_past[1].id, "disk-cleanup", "disk_cleanup.yml", "fixed", 300.0),
                         run_on(disk_past[0].id, "restart-web", "memory_cleanup.yml", "not_fixed", None),
                         run_on(unrelated.id, "renew-cert", "renew.yml", "fixed", 30.0),
                         run_on(now.id, "disk-cleanup", "disk_cleanup.yml", "watching", None)])
    body = (await client.get(f"/api/v1/automations/incidents/{now.id}", headers=auth(Role.viewer))).json()
    assert body["mttr_s"] is None and [r["outcome"] for r in body["runs"]] == ["watching"]
    assert body["similar_incidents"] == 2  # the disk look-alikes, not the certificate
    assert [(s["rule_name"], s["action"], s["fixed"], s["success_rate"], s["mean_mttr_s"])
            for s in body["suggestions"]] == [("disk-cleanup", "disk_cleanup.yml", 2, 1.0, 270.0)]
    past = (await client.get(f"/api/v1/automations/incidents/{disk_past[0].id}", headers=auth(Role.viewer))).json()
    assert past["mttr_s"] == 600.0 and past["suggestions"] == [] and "enriches" in past["note"]
    missing = await client.get(f"/api/v1/automations/incidents/{uuid.uuid4()}", headers=auth(Role.viewer))
    assert missing.status_code == 404
