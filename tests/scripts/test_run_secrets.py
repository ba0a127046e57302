"""scripts/run.sh's first start: a random JWT_SECRET and SECRETS_KEY go into .env once, owner-only, never printed,
and a secret the user set (environment or .env) is kept."""

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ensure(env_file: Path, *names: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    calls = "; ".join(f"ensure_secret {name} {env_file}" for name in names)
    script = f"source {ROOT}/scripts/lib/setup.sh; source {ROOT}/scripts/lib/secrets.sh; {calls}"
    clean = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "SECRETS_KEY")}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], env={**clean, **(env or {})},
                          capture_output=True, text=True, check=True)


def values(env_file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


def test_first_start_generates_random_secrets_once(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG")  # a last line without newline
    run = ensure(env_file, "JWT_SECRET", "SECRETS_KEY")
    generated = values(env_file)
    assert generated["LOG_LEVEL"] == "DEBUG"
    for name in ("JWT_SECRET", "SECRETS_KEY"):
        assert len(generated[name]) == 64 and generated[name].replace("-", "").replace("_", "").isalnum()
        assert generated[name] not in run.stdout + run.stderr
    assert generated["JWT_SECRET"] != generated["SECRETS_KEY"]
    assert stat.S_IMODE(env_file.stat().st_mode) & 0o077 == 0
    ensure(env_file, "JWT_SECRET", "SECRETS_KEY")
    assert values(env_file) == generated  # kept across restarts: tokens stay valid


def test_a_secret_the_user_set_is_kept(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_SECRET=mine-mine-mine-mine-mine-mine-mine-mine\n")
    ensure(env_file, "JWT_SECRET")
    ensure(env_file, "SECRETS_KEY", env={"SECRETS_KEY": "from-the-environment-" * 2})
    assert values(env_file) == {"JWT_SECRET": "mine-mine-mine-mine-mine-mine-mine-mine"}


def test_an_empty_setting_gets_a_secret(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_SECRET=\n")
    ensure(env_file, "JWT_SECRET")
    assert len(env_file.read_text().splitlines()[-1]) == len("JWT_SECRET=") + 64
