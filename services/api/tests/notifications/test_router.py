"""/api/v1/notifications: operators create and expire silences (author, matchers, expiry, audited; bad input a
clear 400/422), everyone signed in reads them, the receivers with their counts, and the notifications sent."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_api.notifications.service import SILENCES_LIMIT
from aiops_contracts.db import AuditEntry, Notification, NotificationReceiver, Silence

SILENCES = "/api/v1/notifications/silences"


def silence(**changes) -> dict:
    ends = datetime.now(UTC) + timedelta(hours=2)
    return {"matchers": [{"name": "host", "value": "db-*"}], "ends_at": ends.isoformat(), "comment": "db upgrade",
            **changes}


async def test_operator_creates_and_expires_a_silence_audited(client, auth, sessions):
    assert (await client.post(SILENCES, json=silence(), headers=auth(Role.viewer))).status_code == 403
    created = await client.post(SILENCES, json=silence(), headers=auth(Role.operator))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "active" and body["matchers"] == [{"name": "host", "value": "db-*", "negate": False}]
    author = body["author"]
    later = silence(starts_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert (await client.post(SILENCES, json=later, headers=auth(Role.operator))).json()["state"] == "pending"
    listed = await client.get(SILENCES, params={"state": "active"}, headers=auth(Role.viewer))
    assert [s["id"] for s in listed.json()] == [body["id"]]

    expired = await client.post(f"{SILENCES}/{body['id']}/expire", headers=auth(Role.operator))
    assert expired.json()["state"] == "expired" and expired.json()["expired_by"] == author
    again = await client.post(f"{SILENCES}/{body['id']}/expire", headers=auth(Role.operator))
    assert again.status_code == 409
    async with sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["silence.created", "silence.created", "silence.expired"]


async def test_bad_silences_are_refused_naming_the_field(client, auth):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [(silence(ends_at=past), 400, "ends_at"), (silence(matchers=[]), 422, "matchers"),
             (silence(matchers=[{"name": "password", "value": "x"}]), 422, "matchers"),
             (silence(ends_at=(datetime.now(UTC) + timedelta(days=91)).isoformat()), 400, "ends_at"),
             (silence(comment=""), 422, "comment")]
    for body, code, field in cases:
        response = await client.post(SILENCES, json=body, headers=auth(Role.operator))
        assert response.status_code == code and field in response.text, (body, response.text)
    missing = await client.post(f"{SILENCES}/00000000-0000-0000-0000-000000000000/expire", headers=auth(Role.operator))
    assert missing.status_code == 404


async def test_receivers_with_their_counts_and_the_notifications(client, auth, sessions):
    async with sessions.begin() as session:
        session.add(NotificationReceiver(name="ops-slack", kind="slack", target="https://hooks.slack.com",
                                         routes=[{"group_by": ["service"]}]))
        session.add_all([Notification(receiver="ops-slack", group_key="0:checkout", status=status, subject="s",
                                      incident_ids=["i"], detail="") for status in ("sent", "sent", "failed")])
    receivers = (await client.get("/api/v1/notifications/receivers", headers=auth(Role.viewer))).json()
    assert [(r["name"], r["target"], r["sent"], r["failed"]) for r in receivers] == [
        ("ops-slack", "https://hooks.slack.com", 2, 1)]
    sent = (await client.get("/api/v1/notifications", params={"receiver": "ops-slack"}, headers=auth(Role.viewer)))
    assert sorted(n["status"] for n in sent.json()) == ["failed", "sent", "sent"]
    assert (await client.get("/api/v1/notifications")).status_code == 401


async def test_a_silence_without_a_time_zone_is_refused_naming_the_field(client, auth):
    naive = (datetime.now(UTC) + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    for body in (silence(ends_at=naive), silence(starts_at=naive)):
        response = await client.post(SILENCES, json=body, headers=auth(Role.operator))
        assert response.status_code == 422 and "_at" in response.text, response.text


async def test_silences_are_filtered_by_state_in_sql_and_bounded(client, auth, sessions):
    now = datetime.now(UTC)
    async with sessions() as session:
        session.add_all([Silence(matchers=[], starts_at=now - timedelta(days=2, minutes=n),
                                 ends_at=now - timedelta(days=1, minutes=n), author="ops") for n in range(SILENCES_LIMIT)])
        session.add_all([Silence(matchers=[], starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                                 author="ops", comment="active"),
                         Silence(matchers=[], starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2),
                                 author="ops", comment="pending")])
        await session.commit()

    every = (await client.get(SILENCES, headers=auth(Role.viewer))).json()
    assert len(every) == SILENCES_LIMIT and [s["state"] for s in every[:3]] == ["pending", "active", "expired"]
    for state in ("active", "pending"):
        listed = (await client.get(SILENCES, params={"state": state}, headers=auth(Role.viewer))).json()
        assert [(s["state"], s["comment"]) for s in listed] == [(state, state)]
    expired = (await client.get(SILENCES, params={"state": "expired"}, headers=auth(Role.viewer))).json()
    assert len(expired) == SILENCES_LIMIT and {s["state"] for s in expired} == {"expired"}
