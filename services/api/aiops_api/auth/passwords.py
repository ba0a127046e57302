"""Password hashing (argon2id) and the minimum a password must meet."""

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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (pass None for a missing user)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
