"""Signing and encryption keys the API refuses at start: missing, short, or published in the repository on a
non-loopback address, whatever ENVIRONMENT says; the *_FILE forms compose uses."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aiops_api.auth.keys import PUBLIC_SECRETS
from aiops_api.settings import ApiSettings
from conftest import TEST_JWT_SECRET, TEST_SECRETS_KEY

FORMER_DEFAULT = "change-me-development-only-secret-0123456789"
RANDOM_SECRET = "Zq0v5yZpJ3s7m2h8-kq1N6r4t9w0b3c5d7f1g2h4j6k8"


@pytest.mark.parametrize("environment", ["development", "test", "production"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "aiops.example.com"])
@pytest.mark.parametrize("secret", sorted(PUBLIC_SECRETS))
def test_public_secrets_are_refused_off_loopback(environment, host, secret) -> None:
    with pytest.raises(ValueError, match="JWT_SECRET is a value published in the repository"):
        ApiSettings(environment=environment, api_host=host, jwt_secret=secret)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_tests_public_secret_works_on_loopback(host) -> None:
    assert ApiSettings(api_host=host, jwt_secret=TEST_JWT_SECRET).jwt_secret == TEST_JWT_SECRET


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
@pytest.mark.parametrize("secret", ["", "x" * 31, "short-secret"])
def test_missing_or_short_secrets_are_refused_everywhere(monkeypatch, host, secret) -> None:
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(ValueError, match="JWT_SECRET .*(not set|at least 32)"):
        ApiSettings(_env_file=None, environment="development", api_host=host, jwt_secret=secret)


def test_no_default_secret(monkeypatch) -> None:
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(ValueError, match="JWT_SECRET is not set: scripts/run.sh writes a random one"):
        ApiSettings(_env_file=None)


def test_the_secrets_key_is_checked_like_the_jwt_secret() -> None:
    with pytest.raises(ValueError, match="SECRETS_KEY is 5 bytes"):
        ApiSettings(secrets_key="short")
    with pytest.raises(ValueError, match="SECRETS_KEY is a value published"):
        ApiSettings(api_host="0.0.0.0", jwt_secret=RANDOM_SECRET, secrets_key=TEST_SECRETS_KEY)
    assert ApiSettings(secrets_key="").secrets_key == ""  # optional until a signing secret is stored


def test_secrets_come_from_files(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("JWT_SECRET")
    (tmp_path / "jwt_secret").write_text(RANDOM_SECRET + "\n")
    (tmp_path / "secrets_key").write_text(RANDOM_SECRET[::-1])
    settings = ApiSettings(_env_file=None, api_host="0.0.0.0", jwt_secret_file=tmp_path / "jwt_secret",
                           secrets_key_file=tmp_path / "secrets_key")
    assert (settings.jwt_secret, settings.secrets_key) == (RANDOM_SECRET, RANDOM_SECRET[::-1])
    with pytest.raises(ValueError, match="JWT_SECRET_FILE: cannot read"):
        ApiSettings(_env_file=None, jwt_secret_file=tmp_path / "missing")


def test_short_rsa_keys_are_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY is 1024 bits, at least 2048"):
        ApiSettings(jwt_algorithm="RS256", jwt_private_key=private, jwt_public_key=public)


def test_the_former_default_is_listed() -> None:
    assert FORMER_DEFAULT in PUBLIC_SECRETS and TEST_JWT_SECRET in PUBLIC_SECRETS
