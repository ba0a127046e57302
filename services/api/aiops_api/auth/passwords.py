"""Password hashing (argon2id) and the minimum a password must meet.

Hashing and verifying take about 160 ms of CPU (and 64 MiB) each, so they run in a small thread pool of
their own (argon2 releases the GIL): the event loop keeps serving while a login is checked, and the pool's
size caps how many run at once.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MIN_DISTINCT_CHARS = 6
# Words that mark a password as a placeholder someone forgot to change.
PLACEHOLDER_WORDS = ("change", "password", "passwd", "secret", "admin", "default", "example", "123456", "qwerty",
                     "letmein")

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("no such user: constant-time login")


def password_problem(password: str, username: str = "") -> str | None:
    """Why this password is refused, or None when it is acceptable."""
    lowered = password.lower()
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(set(password)) < MIN_DISTINCT_CHARS:
        return f"must contain at least {MIN_DISTINCT_CHARS} different characters"
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "looks like a placeholder or a common password"
    if username and username.lower() in lowered:
        return "must not contain the username"
    return None


class Passwords:
    """Hashes and verifies in at most `concurrency` threads; built at startup, closed at shutdown."""

    def __init__(self, concurrency: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="aiops-password")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, _hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not the user exists (pass None for a missing user)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, _verify, password_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
