"""GET /api/v1/audit: filters and cursor pagination over the audit log."""

from datetime import UTC, datetime, timedelta

from aiops_api.audit import record_change
from aiops_api.auth.tokens import Role


async def add_entries(sessions, count: int, actor: str = "alice") -> None:
    async with sessions() as session:
        for i in range(count):
            await record_change(session, actor=actor, action="thing.changed", entity=("thing", str(i)),
                                before={"n": i}, after={"n": i + 1})
        await session.commit()


async def test_pages_cover_every_entry_once_newest_first(client, auth, sessions, app) -> None:
    await add_entries(sessions, 7)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=auth(Role.admin))).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)


async def test_filters(client, auth, sessions, app) -> None:
    await add_entries(sessions, 2, actor="alice")
    await add_entries(sessions, 3, actor="bob")
    by_actor = (await client.get("/api/v1/audit", params={"actor": "bob"}, headers=auth(Role.admin))).json()
    assert {e["actor"] for e in by_actor["items"]} == {"bob"} and len(by_actor["items"]) == 3
    one = (await client.get("/api/v1/audit", params={"actor": "alice", "entity_id": "1"}, headers=auth(Role.admin))).json()
    assert [(e["before"], e["after"]) for e in one["items"]] == [({"n": 1}, {"n": 2})]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = (await client.get("/api/v1/audit", params={"since": future}, headers=auth(Role.admin))).json()
    assert later["items"] == []


async def test_bad_cursor_is_400(client, auth, app) -> None:
    response = await client.get("/api/v1/audit", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=auth(Role.admin))
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


async def test_only_admins_read_the_audit_log(client, auth) -> None:
    assert (await client.get("/api/v1/audit", headers=auth(Role.operator))).status_code == 403
