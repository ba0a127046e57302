"""The first admin: from the environment at startup, or from the CLI; never a default password."""

import os
import subprocess
import sys

from fastapi import FastAPI
from sqlalchemy import select

from aiops_api.main import create_app
from aiops_contracts.db import User

STRONG = "Quiet-Lantern-Orbit-7"


async def users(sessions) -> list[User]:
    async with sessions() as session:
        return list(await session.scalars(select(User)))


async def test_first_admin_is_created_at_startup_once(api_settings, clean_db, redis, sessions) -> None:
    settings = api_settings.model_copy(update={"first_admin_username": "root", "first_admin_password": STRONG})
    for _ in range(2):  # a restart (or a second replica) finds it and leaves it alone
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            pass
    (admin,) = await users(sessions)
    assert (admin.username, admin.role, admin.active) == ("root", "admin", True)
    assert admin.password_hash.startswith("$argon2id$")


async def test_no_user_exists_without_configuration(app, sessions) -> None:
    assert await users(sessions) == []


def run_cli(test_env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aiops_api.auth", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **test_env}, timeout=60)


async def test_cli_creates_an_admin_and_refuses_weak_passwords(test_env, clean_db, sessions) -> None:
    weak = run_cli(test_env, "create-admin", "ops", "--password-stdin", stdin="changeme\n")
    assert weak.returncode != 0 and "password" in weak.stderr
    created = run_cli(test_env, "create-admin", "ops", "--email", "ops@example.org", "--password-stdin",
                      stdin=STRONG + "\n")
    assert created.returncode == 0, created.stderr
    again = run_cli(test_env, "create-admin", "ops", "--password-stdin", stdin=STRONG + "\n")
    assert again.returncode != 0 and "exists" in again.stderr
    (admin,) = await users(sessions)
    assert (admin.username, admin.email, admin.role) == ("ops", "ops@example.org", "admin")


def test_cli_still_mints_machine_tokens(test_env, api_settings) -> None:
    from aiops_api.auth.tokens import Role, decode_access_token

    minted = run_cli(test_env, "token", "prometheus", "viewer", "--minutes", "60")
    assert minted.returncode == 0, minted.stderr
    assert decode_access_token(api_settings, minted.stdout.strip()).role == Role.viewer
    too_long = run_cli(test_env, "token", "prometheus", "viewer", "--minutes", str(91 * 24 * 60))
    assert too_long.returncode != 0 and "90 days" in too_long.stderr  # not revocable: their life is bounded
