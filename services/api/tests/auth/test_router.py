"""Sign-in: password login, refresh rotation with reuse detection, logout, /me."""

import pytest
from sqlalchemy import func, select

from aiops_api.auth.tokens import Role, decode_access_token
from aiops_contracts.db import RefreshToken


@pytest.fixture
def login(client, user_password):
    async def login(username: str = "alice", password: str | None = None):
        return await client.post("/api/v1/auth/login", data={"username": username, "password": password or user_password})

    return login


async def test_login_issues_an_access_token_with_the_users_role(login, make_user, api_settings) -> None:
    await make_user("alice", role="operator")
    response = await login("alice")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == api_settings.access_token_minutes * 60
    assert body["refresh_expires_in"] == 7 * 24 * 3600
    principal = decode_access_token(api_settings, body["access_token"])
    assert (principal.subject, principal.role) == ("alice", Role.operator)


@pytest.mark.parametrize(("username", "password"), [("alice", "Wrong-Password-999"), ("nobody", None)])
async def test_wrong_credentials_are_401_with_one_message(login, make_user, username, password) -> None:
    await make_user("alice")
    response = await login(username, password)
    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect username or password"  # no hint which part was wrong


async def test_deactivated_user_cannot_sign_in(login, make_user, client, auth) -> None:
    user = await make_user("alice")
    await client.delete(f"/api/v1/users/{user.id}", headers=auth(Role.admin))
    assert (await login("alice")).status_code == 401


async def test_refresh_rotates_and_the_old_token_stops_working(login, make_user, client) -> None:
    await make_user("alice")
    first = (await login()).json()
    second = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    third = await client.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert third.status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(login, make_user, client, sessions) -> None:
    await make_user("alice")
    stolen = (await login()).json()["refresh_token"]
    rotated = (await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})).json()["refresh_token"]
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
    assert reuse.status_code == 401
    assert "revoked" in reuse.json()["detail"]
    # The legitimate holder's newer token died with the family.
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})).status_code == 401
    async with sessions() as session:
        live = await session.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None)))
    assert live == 0


async def test_another_sign_in_is_not_affected_by_a_revoked_family(login, make_user, client) -> None:
    await make_user("alice")
    laptop = (await login()).json()["refresh_token"]
    phone = (await login()).json()["refresh_token"]
    await client.post("/api/v1/auth/logout", json={"refresh_token": laptop})
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": laptop})).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": phone})).status_code == 200


async def test_logout_returns_204(login, make_user, client) -> None:
    await make_user("alice")
    token = (await login()).json()["refresh_token"]
    assert (await client.post("/api/v1/auth/logout", json={"refresh_token": token})).status_code == 204


@pytest.mark.parametrize("token", ["garbage", "0" * 32 + ".x", "not-hex.secret", ""])
async def test_malformed_refresh_tokens_are_refused(client, token) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)


async def test_expired_refresh_token_is_refused(login, make_user, client, sessions) -> None:
    await make_user("alice")
    token = (await login()).json()["refresh_token"]
    async with sessions() as session:
        row = await session.scalar(select(RefreshToken))
        row.expires_at = row.created_at
        await session.commit()
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert (response.status_code, response.json()["detail"]) == (401, "refresh token expired")


async def test_refresh_after_deactivation_is_refused(login, make_user, client, auth) -> None:
    user = await make_user("alice")
    token = (await login()).json()["refresh_token"]
    await client.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=auth(Role.admin))
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": token})).status_code == 401


async def test_me_describes_a_user_and_a_machine_token(login, make_user, client, auth) -> None:
    await make_user("alice", role="operator")
    access = (await login()).json()["access_token"]
    me = (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})).json()
    assert (me["subject"], me["role"], me["user"]["username"]) == ("alice", "operator", "alice")
    machine = (await client.get("/api/v1/auth/me", headers=auth(Role.viewer))).json()
    assert machine == {"subject": "test-viewer", "role": "viewer", "user": None}
