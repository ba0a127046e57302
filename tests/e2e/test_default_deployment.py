"""The API as `docker compose up` starts it (environment and generated secrets read from docker-compose.yml):
listening on every interface, it signs with the secret the `secrets` service generated, so a token signed with
the key once published as the development default is refused; a published or short key makes it refuse to
start, whatever ENVIRONMENT says."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
import yaml

from conftest import SERVICE_START_S, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRETS_DIR = "/run/aiops-secrets"
FORMER_DEFAULT = "change-me-development-only-secret-0123456789"
STORE_SETTINGS = ("DATABASE_URL", "REDIS_URL", "INFLUX_URL", "CHROMA_URL")  # the test stores, not compose's


def compose_service(name: str) -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ${VAR:-default} with the shell environment `shell` (no .env)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m[1]) or m[2], str(value))


def generate_secrets(secrets_dir: Path) -> None:
    """Runs the compose `secrets` service's script (as a non-root user, so without its chown)."""
    script = compose_service("secrets")["command"][0].replace("$$", "$").replace(SECRETS_DIR, str(secrets_dir))
    subprocess.run(["sh", "-ec", script.replace("chown", "true")], check=True)


def compose_api_env(test_env: dict[str, str], secrets_dir: Path, shell: dict[str, str]) -> dict[str, str]:
    env = {k: interpolate(v, shell).replace(SECRETS_DIR, str(secrets_dir))
           for k, v in compose_service("api")["environment"].items()}
    assert env["API_HOST"] == "0.0.0.0"
    stores = {k: test_env[k] for k in (*STORE_SETTINGS, "INFLUX_DATABASE")}
    return {**os.environ, **env, **stores, "API_PORT": str(free_port()), "LOG_LEVEL": "WARNING"}


def bearer(secret: str) -> dict[str, str]:
    claims = {"sub": "mallory", "role": "admin", "typ": "access", "exp": 4_000_000_000}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def test_compose_api_refuses_tokens_signed_with_the_former_default(start_service, test_env, clean_db, tmp_path) -> None:
    generate_secrets(tmp_path)
    generated = (tmp_path / "jwt_secret").read_text()
    generate_secrets(tmp_path)
    assert (tmp_path / "jwt_secret").read_text() == generated  # kept across restarts
    env = compose_api_env(test_env, tmp_path, shell={})
    api = start_service("aiops-api", **env)
    forged = httpx.get(f"{api.url}/api/v1/users", headers=bearer(FORMER_DEFAULT))
    assert forged.status_code == 401
    assert httpx.get(f"{api.url}/api/v1/users", headers=bearer(generated)).status_code == 200


@pytest.mark.parametrize(("environment", "secret"), [("development", FORMER_DEFAULT), ("production", "short-secret")])
def test_compose_api_refuses_to_start_with_a_published_or_short_secret(test_env, tmp_path, environment, secret) -> None:
    generate_secrets(tmp_path)
    env = compose_api_env(test_env, tmp_path, shell={"JWT_SECRET": secret, "ENVIRONMENT": environment})
    run = subprocess.run([str(Path(sys.executable).parent / "aiops-api")], env=env, capture_output=True, text=True,
                         timeout=SERVICE_START_S)
    assert run.returncode != 0
    assert "aiops-api refused to start" in run.stderr and "JWT_SECRET is" in run.stderr
    assert secret not in run.stderr and "Traceback" not in run.stderr
