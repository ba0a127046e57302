"""Sources: admins create them and see the token once; only its digest is stored."""

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_contracts.db import Source


async def test_create_shows_token_once_and_stores_only_its_digest(client, auth, sessions) -> None:
    response = await client.post("/api/v1/sources", json={"name": "prom", "kind": "alertmanager"}, headers=auth())
    assert response.status_code == 201
    token = response.json()["token"]
    listed = (await client.get("/api/v1/sources", headers=auth())).json()
    assert [s["name"] for s in listed] == ["prom"]
    assert "token" not in listed[0]
    async with sessions() as session:
        source = await session.scalar(select(Source))
    assert token not in (source.token_hash, source.token_prefix)
    assert token.startswith(source.token_prefix)


async def test_duplicate_name_is_409_and_bad_fields_422(client, auth) -> None:
    await client.post("/api/v1/sources", json={"name": "prom", "kind": "generic"}, headers=auth())
    duplicate = await client.post("/api/v1/sources", json={"name": "prom", "kind": "generic"}, headers=auth())
    assert duplicate.status_code == 409
    assert "name" in duplicate.json()["detail"]
    bad = await client.post("/api/v1/sources", json={"name": "x y;drop", "kind": "nope"}, headers=auth())
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "name"), ("body", "kind")}


async def test_only_admins_manage_sources(client, auth) -> None:
    for role in (Role.viewer, Role.operator):
        response = await client.post("/api/v1/sources", json={"name": "x", "kind": "generic"}, headers=auth(role))
        assert response.status_code == 403
