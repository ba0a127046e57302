"""A signed-in user's access token follows the account: deactivation, deletion and demotion take effect at
once, not when the token expires; machine tokens (no account) keep working as minted."""

from sqlalchemy import delete

from aiops_api.auth.tokens import Role
from aiops_contracts.db import User


async def _sign_in(client, username: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_deactivated_users_token_stops_working_at_once(client, make_user, user_password, auth) -> None:
    user = await make_user("alice")
    headers = await _sign_in(client, "alice", user_password)
    assert (await client.get("/api/v1/alerts", headers=headers)).status_code == 200  # now cached as active
    assert (await client.delete(f"/api/v1/users/{user.id}", headers=auth(Role.admin))).status_code == 200
    refused = await client.get("/api/v1/alerts", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "user is deactivated or deleted"


async def test_a_deleted_users_token_stops_working(client, make_user, user_password, sessions) -> None:
    await make_user("bob")
    headers = await _sign_in(client, "bob", user_password)
    async with sessions() as session:
        await session.execute(delete(User).where(User.username == "bob"))
        await session.commit()
    assert (await client.get("/api/v1/alerts", headers=headers)).status_code == 401


async def test_a_demotion_applies_to_the_token_in_hand(client, make_user, user_password, auth) -> None:
    await make_user("dave", role="admin")  # the last active admin could not be demoted
    user = await make_user("carol", role="admin")
    headers = await _sign_in(client, "carol", user_password)
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    demoted = await client.patch(f"/api/v1/users/{user.id}", json={"role": "viewer"}, headers=auth(Role.admin))
    assert demoted.status_code == 200, demoted.text
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 403
    assert (await client.get("/api/v1/alerts", headers=headers)).status_code == 200


async def test_machine_tokens_carry_no_account_and_keep_working(client, auth) -> None:
    # `python -m aiops_api.auth token SUBJECT ROLE` names a client, not a user: there is no row to check.
    assert (await client.get("/api/v1/users", headers=auth(Role.admin))).status_code == 200
