"""Admins manage users; every change is audited; the last admin stays."""

from aiops_api.auth.tokens import Role


async def test_admin_creates_and_lists_users(client, auth, user_password) -> None:
    body = {"username": "bob", "email": "bob@example.org", "password": user_password, "role": "operator"}
    created = await client.post("/api/v1/users", json=body, headers=auth(Role.admin))
    assert created.status_code == 201, created.text
    assert "password" not in created.text and "hash" not in created.text
    listed = (await client.get("/api/v1/users", headers=auth(Role.admin))).json()
    assert [(u["username"], u["role"]) for u in listed] == [("bob", "operator")]


async def test_weak_password_and_duplicates_are_refused(client, auth, make_user, user_password) -> None:
    await make_user("bob")
    weak = await client.post("/api/v1/users", json={"username": "carol", "password": "password123"},
                             headers=auth(Role.admin))
    assert weak.status_code == 400 and weak.json()["detail"].startswith("password:")
    duplicate = await client.post("/api/v1/users", json={"username": "bob", "password": user_password},
                                  headers=auth(Role.admin))
    assert duplicate.status_code == 409


async def test_update_and_deactivate_are_audited_without_secrets(client, auth, make_user) -> None:
    user = await make_user("bob")
    changed = await client.patch(f"/api/v1/users/{user.id}", headers=auth(Role.admin),
                                 json={"role": "operator", "password": "Fresh-Meadow-Signal-88"})
    assert changed.json()["role"] == "operator"
    assert (await client.delete(f"/api/v1/users/{user.id}", headers=auth(Role.admin))).json()["active"] is False
    entries = (await client.get("/api/v1/audit", params={"entity_id": str(user.id)}, headers=auth(Role.admin))).json()
    actions = [(e["action"], e["actor"]) for e in entries["items"]]
    assert actions == [("user.updated", "test-admin"), ("user.updated", "test-admin"), ("user.created", "test")]
    assert entries["items"][1]["after"]["password"] == "changed"
    assert "argon2" not in str(entries)


async def test_update_refuses_null_but_for_the_email(client, auth, make_user) -> None:
    user = await make_user("bob")
    for field in ("role", "active", "password"):
        response = await client.patch(f"/api/v1/users/{user.id}", json={field: None}, headers=auth(Role.admin))
        assert response.status_code == 422, (field, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field] and "null" in error["msg"], error
    for email in ("bob@example.org", None):
        cleared = await client.patch(f"/api/v1/users/{user.id}", json={"email": email}, headers=auth(Role.admin))
    assert (cleared.status_code, cleared.json()["email"]) == (200, None)


async def test_the_last_admin_cannot_be_demoted_or_deactivated(client, auth, make_user) -> None:
    admin = await make_user("root", role="admin")
    demote = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "viewer"}, headers=auth(Role.admin))
    assert demote.status_code == 409
    assert (await client.delete(f"/api/v1/users/{admin.id}", headers=auth(Role.admin))).status_code == 409
    await make_user("root2", role="admin")
    assert (await client.delete(f"/api/v1/users/{admin.id}", headers=auth(Role.admin))).status_code == 200


async def test_unknown_user_is_404(client, auth) -> None:
    response = await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000", headers=auth(Role.admin))
    assert response.status_code == 404
