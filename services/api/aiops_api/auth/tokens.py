"""Access tokens: signed JWTs that carry the subject and its role (HS256 or RS256, by configuration)."""

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


class InvalidToken(Exception):
    pass


def issue_access_token(settings: ApiSettings, subject: str, role: Role, minutes: int | None = None) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role.name,
        "iat": now,
        "exp": now + timedelta(minutes=minutes or settings.access_token_minutes),
        "typ": "access",
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def decode_access_token(settings: ApiSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, _verification_key(settings), algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub"]},
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return Principal(subject=claims["sub"], role=Role[claims["role"]])
    except (jwt.PyJWTError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc


def _signing_key(settings: ApiSettings) -> str:
    return settings.jwt_private_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret


def _verification_key(settings: ApiSettings) -> str:
    # Only the configured algorithm is accepted, so an HS256 token "signed" with the public key is refused.
    return settings.jwt_public_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret
