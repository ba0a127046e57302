"""Access tokens: signed JWTs that carry the subject and its role (HS256 or RS256, by configuration).

A signed-in user's token also carries the user's id (`uid`), so that each request checks the account
(auth/accounts.py). A machine token (`python -m aiops_api.auth token`) has no `uid`: it names a client, not a
user, and holds its role until it expires.

A verified token's principal is kept in memory until the token expires (and under the key that verified it):
a browser sends the same token with every request, and verifying it again (PyJWT, and RS256's public-key
check) cost more CPU than the rest of a read. The account behind it is still checked on every request.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

import jwt

from aiops_api.settings import ApiSettings


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    viewer = 1
    operator = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    user_id: uuid.UUID | None = None  # None for a machine token
    expires_at: float = 0.0  # POSIX seconds


class InvalidToken(Exception):
    pass


def issue_access_token(
    settings: ApiSettings, subject: str, role: Role, minutes: int | None = None, user_id: uuid.UUID | None = None
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role.name,
        "iat": now,
        "exp": now + timedelta(minutes=minutes or settings.access_token_minutes),
        "typ": "access",
    }
    if user_id is not None:
        claims["uid"] = str(user_id)
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


# (algorithm, verification key, token) -> its principal; emptied when full rather than tracking use (tokens are few).
_verified: dict[tuple[str, str, str], Principal] = {}
VERIFIED_MAX = 10_000


def decode_access_token(settings: ApiSettings, token: str) -> Principal:
    key = (settings.jwt_algorithm, _verification_key(settings), token)
    principal = _verified.get(key)
    if principal is not None and principal.expires_at > time.time():
        return principal
    principal = _verify(settings, token)
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[key] = principal
    return principal


def _verify(settings: ApiSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, _verification_key(settings), algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub"]},
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        user_id = uuid.UUID(claims["uid"]) if "uid" in claims else None
        return Principal(claims["sub"], Role[claims["role"]], user_id, float(claims["exp"]))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc


def _signing_key(settings: ApiSettings) -> str:
    return settings.jwt_private_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret


def _verification_key(settings: ApiSettings) -> str:
    # Only the configured algorithm is accepted, so an HS256 token "signed" with the public key is refused.
    return settings.jwt_public_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret
