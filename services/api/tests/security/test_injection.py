"""Injection attempts through every parameter that reaches a store: SQL (PostgreSQL), request headers, and
Redis keys. None succeeds: no server error, no row matched by a payload, no table touched, no key spoofed.
(The webhook → worker → PostgreSQL path is in tests/e2e/test_injection_pipeline.py; InfluxQL in the metrics tests.)"""

import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from aiops_api.auth.tokens import Role
from aiops_api.ratelimit import KEY_PREFIX
from aiops_contracts.db import Alert, AuditEntry, User

# A payload that ran would hold its request at least this long; a request that merely waits for a core on a loaded
# machine took 3.6 s at load 13, so the bound is the sleep itself.
SQL_SLEEP_S = 10
SQL_PAYLOADS = [
    "' OR '1'='1", "x' OR 1=1 --", "'; DROP TABLE alerts; --", '" OR ""="', f"1; SELECT pg_sleep({SQL_SLEEP_S})",
    "%' OR '%'='", "admin'--", "' UNION SELECT username, password_hash FROM users --", "\\'; TRUNCATE audit_log; --",
    "') OR ('a'='a", "1' AND (SELECT COUNT(*) FROM users) > 0 --", "\x00' OR 1=1",
]
# (path, query parameter) pairs whose value ends up in a WHERE clause.
FILTERS = [
    ("/api/v1/alerts", "source"), ("/api/v1/alerts", "host"), ("/api/v1/alerts", "service"),
    ("/api/v1/alerts", "cursor"), ("/api/v1/incidents", "cursor"), ("/api/v1/audit", "actor"),
    ("/api/v1/audit", "action"), ("/api/v1/audit", "entity_type"), ("/api/v1/audit", "entity_id"),
    ("/api/v1/audit", "cursor"), ("/api/v1/alerts", "severity"), ("/api/v1/incidents", "status"),
]


@pytest.fixture
async def seeded(app, sessions, make_user) -> dict[str, int]:
    """One alert, one user, some audit entries; returns the row counts that must not change."""
    now = datetime.now(UTC)
    async with sessions() as session:
        session.add(Alert(source="nagios", fingerprint="fp", title="disk full", severity="high", status="firing",
                          host="web-1", service="db", labels={}, annotations={}, details={}, count=1,
                          first_seen_at=now, last_seen_at=now, last_event_id=uuid.uuid4().hex))
        await session.commit()
    await make_user("alice", role="admin")
    return await counts(sessions)


async def counts(sessions) -> dict[str, int]:
    async with sessions() as session:
        return {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                for model in (Alert, User, AuditEntry)}


async def test_sql_payloads_in_query_filters_match_nothing(client, auth, sessions, seeded) -> None:
    unexpected = []
    for path, param in FILTERS:
        for payload in SQL_PAYLOADS:
            started = time.perf_counter()
            response = await client.get(path, params={param: payload}, headers=auth(Role.admin))
            elapsed = time.perf_counter() - started
            items = response.json().get("items") if response.status_code == 200 else []
            if response.status_code not in (200, 400, 422) or items or elapsed >= SQL_SLEEP_S:
                unexpected.append((path, param, payload, response.status_code, items, round(elapsed, 2)))
    assert unexpected == []
    assert await counts(sessions) == seeded


async def test_sql_payloads_in_path_ids_are_422(client, auth, seeded) -> None:
    for payload in SQL_PAYLOADS[:4]:
        for path in ("/api/v1/alerts/{}", "/api/v1/users/{}", "/api/v1/incidents/{}"):
            response = await client.get(path.format(payload.replace("\x00", "")), headers=auth(Role.admin))
            assert response.status_code in (404, 422), (path, payload, response.text)


async def test_sql_payloads_in_bodies_are_refused_or_stored_literally(client, auth, sessions, seeded, user_password) -> None:
    for payload in SQL_PAYLOADS:
        login = await client.post("/api/v1/auth/login", data={"username": payload, "password": payload})
        assert login.status_code in (400, 401, 422), login.text  # 400: a NUL byte PostgreSQL refuses
        user = await client.post("/api/v1/users", headers=auth(Role.admin),
                                 json={"username": payload, "email": payload, "password": user_password})
        assert user.status_code == 422, user.text  # username and email patterns refuse quotes and spaces
    # A config value the source's kind reads (telegraf's integer_fields): a key it does not read is refused (422)
    config = {"integer_fields": [SQL_PAYLOADS[2]]}
    source = await client.post("/api/v1/sources", headers=auth(Role.admin),
                               json={"name": "injected", "kind": "telegraf", "config": config})
    assert source.status_code == 201, source.text
    listed = (await client.get("/api/v1/sources", headers=auth(Role.admin))).json()
    assert listed[0]["config"] == config  # stored as data, not run
    async with sessions() as session:
        assert await session.scalar(text("SELECT to_regclass('public.alerts') IS NOT NULL"))


async def test_header_injection_is_not_reflected(client, auth, seeded) -> None:
    attempts = {
        "X-Request-ID": "abc\r\nSet-Cookie: session=stolen",
        "Authorization": "Bearer x\r\nX-Injected: 1",
        "X-AIOps-Token": "' OR '1'='1\r\nX-Injected: 1",
        "traceparent": "00-zz\r\nX-Injected: 1",
    }
    for name, value in attempts.items():
        path = "/webhooks/generic" if name == "X-AIOps-Token" else "/api/v1/alerts"
        response = await client.request("POST" if name == "X-AIOps-Token" else "GET", path, json={"title": "t"},
                                        headers={name: value})
        assert response.status_code < 500
        assert "set-cookie" not in response.headers and "x-injected" not in response.headers
        assert "\r" not in response.headers["x-request-id"] and "stolen" not in response.text


async def test_credentials_cannot_spoof_redis_keys(client, redis, seeded, api_settings) -> None:
    await redis.set("sentinel", "1")
    prefix = api_settings.redis_key(KEY_PREFIX)
    for value in ["*", f"{prefix}:read:ip:*", "x\r\nFLUSHDB\r\n", "a b c", "{user}", "\x00"]:
        await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {value}"})
        await client.post("/webhooks/generic", json={"title": "t"}, headers={"X-AIOps-Token": value})
    key_shape = re.compile(rf"^{re.escape(prefix)}:(read|write|auth|auth-failure|webhook):(ip|cred):[0-9a-f]{{32}}:\d+$")
    keys = [k.decode() for k in await redis.keys("*") if k != b"sentinel"]
    assert keys and [k for k in keys if not key_shape.match(k)] == []
    assert await redis.get("sentinel") == b"1"
