"""/api/v1/replay: admins start a replay (recorded, audited, handed to the worker on its stream) and read runs
back; a bad range or a bad candidate rule is refused with the field named."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_api.replay import service
from aiops_contracts import bus as bus_module
from aiops_contracts.bus import Bus
from aiops_contracts.db import AuditEntry, ReplayRun
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import REPLAY_REQUESTED, StreamSpec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RANGE = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat()}


async def test_a_replay_is_recorded_audited_and_requested(client, auth, sessions, bus: Bus) -> None:
    admin = auth(Role.admin)
    body = {**RANGE, "starting_state": "snapshot", "changes": {"incident_alert_window_s": 60, "anomaly_alert_min_z": 4,
                                 "log_rules": [{"name": "pg-fatal", "category": "db", "severity": "high",
                                                "template": "FATAL"}]}}
    started = await client.post("/api/v1/replay", headers=admin, json=body)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["status"], run["result"], run["params"]["changes"]["incident_alert_window_s"]) == ("queued", None, 60)
    assert run["params"]["starting_state"] == "snapshot"
    (entry,) = [Envelope.from_entry(f) for _, f in await bus.redis.xrange(bus.key(REPLAY_REQUESTED))]
    assert (entry.type, entry.payload) == ("replay.requested", {"run_id": run["id"]})
    async with sessions() as session:
        audit = (await session.scalars(select(AuditEntry))).one()
        stored = await session.get(ReplayRun, uuid.UUID(run["id"]))
    assert (audit.action, audit.entity_id, audit.after["changes"]["anomaly_alert_min_z"]) == ("replay.started", run["id"], 4)
    assert stored is not None and stored.requested_by == audit.actor

    listed = await client.get("/api/v1/replay", headers=admin)
    assert [r["id"] for r in listed.json()] == [run["id"]]
    one = await client.get(f"/api/v1/replay/{run['id']}", headers=admin)
    assert one.json()["params"]["start"] == run["params"]["start"]
    missing = await client.get(f"/api/v1/replay/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404


async def test_bad_replays_are_refused_with_the_reason(client, auth, bus: Bus) -> None:
    admin = auth(Role.admin)
    backwards = await client.post("/api/v1/replay", headers=admin, json={"start": RANGE["end"], "end": RANGE["start"]})
    assert backwards.status_code == 422 and "end must be after start" in backwards.text
    naive = await client.post("/api/v1/replay", headers=admin, json={"start": "2026-03-02T09:00:00",
                                                                        "end": "2026-03-02T10:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.text
    too_long = await client.post("/api/v1/replay", headers=admin,
                                 json={"start": RANGE["start"], "end": (T0 + timedelta(days=8)).isoformat()})
    assert too_long.status_code == 422 and "7 days" in too_long.text
    for start, end, named in (("9999-12-30T00:00:00Z", "9999-12-31T00:00:00Z", "start"),
                              ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", "start"),
                              (T0.isoformat(), (T0 + timedelta(days=1000)).isoformat(), "end")):
        outside = await client.post("/api/v1/replay", headers=admin, json={"start": start, "end": end})
        assert outside.status_code == 422 and f'["body","{named}"]' in outside.text, outside.text
    assert "in the future" in outside.text

    both = {"name": "x", "category": "y", "severity": "high", "template": "a", "pattern": "b"}
    rule = await client.post("/api/v1/replay", headers=admin, json={**RANGE, "changes": {"log_rules": [both]}})
    assert rule.status_code == 422 and "exactly one of template or pattern" in rule.text
    unknown = await client.post("/api/v1/replay", headers=admin, json={**RANGE, "changes": {"window": 5}})
    assert unknown.status_code == 422 and "window" in unknown.text
    state = await client.post("/api/v1/replay", headers=admin, json={**RANGE, "starting_state": "yesterday"})
    assert state.status_code == 422 and "starting_state" in state.text
    operator = await client.post("/api/v1/replay", headers=auth(Role.operator), json=RANGE)
    assert operator.status_code == 403
    assert await bus.redis.xlen(bus.key(REPLAY_REQUESTED)) == 0
    now = datetime.now(UTC)  # a client's clock a little ahead of ours: its "until now" is taken
    skewed = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(seconds=30)).isoformat()}
    assert (await client.post("/api/v1/replay", headers=admin, json=skewed)).status_code == 202


async def test_a_refused_request_answers_503_and_fails_the_run(client, auth, sessions, bus: Bus, monkeypatch) -> None:
    """The worker is far behind on the replay stream: publishing is refused, so no worker will replay the run;
    it is recorded `failed` with the reason instead of staying `queued` forever."""
    monkeypatch.setattr(bus_module, "BACKLOG_CHECK_S", 0.0)
    monkeypatch.setattr(service, "REPLAY_STREAM", StreamSpec(REPLAY_REQUESTED.name, maxlen=10))
    await bus.ensure_group(REPLAY_REQUESTED, "slow-reader")
    await bus.publish_many(REPLAY_REQUESTED, [Envelope(type="replay.requested", source="test") for _ in range(9)])

    refused = await client.post("/api/v1/replay", headers=auth(Role.admin), json=RANGE)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    async with sessions() as session:
        (run,) = (await session.scalars(select(ReplayRun))).all()
    assert run.status == "failed" and "not handed to the worker" in run.error and run.finished_at is not None
    assert await bus.redis.xlen(bus.key(REPLAY_REQUESTED)) == 9


async def test_a_stored_run_outside_todays_bounds_is_still_listed_and_read(client, auth, sessions) -> None:
    """The store and clock bounds apply to a new request only: a run stored before them (start 1024-05-01), or
    whose end was the future when it was asked for, is read back as stored."""
    admin = auth(Role.admin)
    later = datetime.now(UTC) + timedelta(days=1)
    old = {"start": "1024-05-01T00:00:00Z", "end": "1024-05-02T00:00:00Z"}
    ahead = {"start": (later - timedelta(hours=1)).isoformat(), "end": later.isoformat()}
    async with sessions.begin() as session:
        runs = [ReplayRun(id=uuid.uuid4(), requested_by="admin", status="queued", params=params, error="")
                for params in (old, ahead)]
        session.add_all(runs)
    listed = await client.get("/api/v1/replay", headers=admin)
    assert listed.status_code == 200, listed.text
    assert {r["params"]["start"][:4] for r in listed.json()} == {"1024", ahead["start"][:4]}
    one = await client.get(f"/api/v1/replay/{runs[0].id}", headers=admin)
    assert one.status_code == 200 and one.json()["params"]["end"].startswith("1024-05-02"), one.text
    for params in (old, ahead):
        assert (await client.post("/api/v1/replay", headers=admin, json=params)).status_code == 422
