"""The minimum a signing or encryption key must meet, checked by the settings at start.

A key that is missing or shorter than MIN_SECRET_BYTES is refused everywhere. A key published in this
repository (the former development default, the tests' and the benchmarks' keys) is refused whenever the
API listens on anything but loopback, whatever ENVIRONMENT says: anyone can sign admin tokens with it.
"""

import ipaddress
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
# Every secret that appears in this repository (its history included): public, so never a real key.
PUBLIC_SECRETS = frozenset({
    "change-me-development-only-secret-0123456789",  # the former JWT_SECRET default
    "test-secret-for-the-service-processes-0123456789",  # conftest.py TEST_JWT_SECRET
    "test-secrets-key-for-the-service-processes-0123456789",  # conftest.py TEST_SECRETS_KEY
    "bench-secret-0123456789abcdef0123456789abcdef",  # scripts/bench/bench_stack.py
})
GENERATE_HINT = "scripts/run.sh writes a random one into .env; elsewhere use e.g. `openssl rand -base64 48`"


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secret_problem(name: str, value: str, *, host: str) -> str | None:
    """Why the secret in setting `name` is refused for an API listening on `host`, or None."""
    if not value:
        return f"{name} is not set: {GENERATE_HINT}"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"{name} is {len(value.encode())} bytes, at least {MIN_SECRET_BYTES} are needed: {GENERATE_HINT}"
    if value in PUBLIC_SECRETS and not is_loopback(host):
        return (f"{name} is a value published in the repository, refused on API_HOST={host} (not loopback): "
                f"anyone could sign tokens or read secrets with it; {GENERATE_HINT}")
    return None


def rsa_key_problem(public_pem: str) -> str | None:
    """Why JWT_PUBLIC_KEY is refused (not an RSA key, or one shorter than MIN_RSA_BITS), or None."""
    try:
        key = load_pem_public_key(public_pem.encode())
    except ValueError as exc:
        return f"JWT_PUBLIC_KEY is not a PEM public key ({exc})"
    if not isinstance(key, rsa.RSAPublicKey):
        return "JWT_PUBLIC_KEY must be an RSA key for RS256"
    if key.key_size < MIN_RSA_BITS:
        return f"JWT_PUBLIC_KEY is {key.key_size} bits, at least {MIN_RSA_BITS} are needed"
    return None


def read_secret_file(name: str, path: Path) -> str:
    """The secret in the file named by setting `name` (compose's generated secrets, Docker or Kubernetes secrets)."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path} ({exc.strerror})") from exc
