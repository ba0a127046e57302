"""Annotated dependencies: clients from the lifespan, the DB session, the caller's identity and role.

Every dependency is `async def`, even the ones that only read app.state: FastAPI runs a plain `def` dependency
in its thread pool, a thread hop (and a fight for the GIL) on every request."""

import base64
import binascii
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aiops_api.auth.accounts import Accounts
from aiops_api.auth.passwords import Passwords
from aiops_api.auth.tokens import InvalidToken, Principal, Role, decode_access_token
from aiops_api.settings import ApiSettings
from aiops_api.sources.credentials import SourceIdentity
from aiops_contracts.bus import Bus
from aiops_contracts.influx import InfluxClient
from aiops_contracts.secrets import SecretBox
from aiops_contracts.sources import SourceKind


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


async def get_bus(request: Request) -> Bus:
    return request.app.state.bus


async def get_influx(request: Request) -> InfluxClient:
    return request.app.state.influx


async def get_secret_box(request: Request) -> SecretBox | None:
    return request.app.state.secret_box


async def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


async def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection for routes that only read: in autocommit, so a query is one round trip to PostgreSQL (no
    BEGIN before it, no ROLLBACK after), and Core rather than an ORM session (no unit of work, no ORM
    compilation of each statement, rows as plain tuples)."""
    async with request.app.state.read_engine.connect() as connection:
        yield connection


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
BusDep = Annotated[Bus, Depends(get_bus)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadConnectionDep = Annotated[AsyncConnection, Depends(get_read_connection)]
InfluxDep = Annotated[InfluxClient, Depends(get_influx)]
SecretBoxDep = Annotated[SecretBox | None, Depends(get_secret_box)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]

_bearer = HTTPBearer(auto_error=False, description="Access token (JWT)")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # The settings and accounts straight from app.state: as dependencies they cost every request two more.
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    state = request.app.state
    try:
        principal = decode_access_token(state.settings, credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token", {"WWW-Authenticate": "Bearer"}) from exc
    try:
        return await state.accounts.authorize(principal)
    except InvalidToken as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "Bearer"}) from exc


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role < role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires role {role.name}")
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by the authorisation matrix test
    return check


Viewer = Annotated[Principal, Depends(require_role(Role.viewer))]
Operator = Annotated[Principal, Depends(require_role(Role.operator))]
Admin = Annotated[Principal, Depends(require_role(Role.admin))]


def webhook_source_of(kind: SourceKind, *, dsn_key: bool = False) -> Callable[..., Awaitable[SourceIdentity]]:
    """The source of a push request, which must be of `kind` (another integration's credential gets 403),
    named by its token in whichever form the client can send: `X-AIOps-Token: <token>`,
    `Authorization: Bearer <token>`, or `Authorization: Basic` with the token as password (Telegraf,
    Alertmanager). With `dsn_key`, also Sentry's DSN public key (`X-Sentry-Auth: Sentry sentry_key=<token>`
    or `?sentry_key=<token>`): only the Sentry SDK endpoints take it, since a DSN ships inside browser code."""

    async def source(
        request: Request,
        x_aiops_token: Annotated[str | None, Header(description="Source token")] = None,
        authorization: Annotated[str | None, Header(description="Bearer, or Basic with the token as password")] = None,
    ) -> SourceIdentity:
        token = x_aiops_token or _authorization_token(authorization) or (_sentry_key(request) if dsn_key else None)
        if not token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing source token (X-AIOps-Token header)")
        return _of_kind(await request.app.state.source_credentials.authenticate(token), kind)

    source.source_kind = kind  # type: ignore[attr-defined]  # read by the authorisation matrix test
    return source


async def sentry_hook_source(
    request: Request, settings: SettingsDep, box: SecretBoxDep,
    sentry_hook_signature: Annotated[str | None, Header(description="hex HMAC-SHA256 of the body")] = None,
    sentry_hook_timestamp: Annotated[str | None, Header(description="Unix time of the delivery")] = None,
) -> SourceIdentity:
    """The sentry source whose client secret signed the raw body. Only the signature counts here: a source
    token or DSN key proves nothing about who sent an integration webhook (a DSN key is public). The headers
    are checked before the body is read; a delivery whose timestamp is too far from now is refused (an old
    capture sent as it was), but the timestamp is not signed: sentry_hooks.py's remembered signatures stop
    replays."""
    if not sentry_hook_signature:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing Sentry-Hook-Signature header: integration "
                            "webhooks must be signed with the client secret; a source token or DSN key is not accepted")
    _check_hook_age(sentry_hook_timestamp, settings.sentry_hook_max_age_s)
    if box is None:  # no SECRETS_KEY: no source can hold a client secret
        return _of_kind(None, "sentry")
    credentials = request.app.state.source_credentials
    return _of_kind(await credentials.authenticate_signature(await request.body(), sentry_hook_signature, box),
                    "sentry")


async def github_hook_source(
    request: Request, box: SecretBoxDep,
    x_hub_signature_256: Annotated[str | None, Header(description="sha256=<hex HMAC-SHA256 of the body>")] = None,
) -> SourceIdentity:
    """The github_actions source whose webhook secret signed the raw body (`X-Hub-Signature-256`, checked in
    constant time against each signing source's secret). A source token proves nothing here either."""
    scheme, _, digest = (x_hub_signature_256 or "").partition("=")
    if scheme != "sha256" or not digest:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or malformed X-Hub-Signature-256 header: GitHub "
                            "webhooks must be signed with the source's secret (sha256=<hex>)")
    if box is None:  # no SECRETS_KEY: no source can hold a webhook secret
        return _of_kind(None, SourceKind.github_actions)
    credentials = request.app.state.source_credentials
    return _of_kind(await credentials.authenticate_signature(await request.body(), digest, box),
                    SourceKind.github_actions)


github_hook_source.source_kind = SourceKind.github_actions  # type: ignore[attr-defined]  # read by the authorisation matrix test


def _check_hook_age(timestamp: str | None, max_age_s: int) -> None:
    try:
        age = time.time() - float(timestamp or "")
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Sentry-Hook-Timestamp header: missing or not a Unix time "
                            "(Sentry sends it with every integration webhook)") from None
    if not math.isfinite(age) or abs(age) > max_age_s:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"Sentry-Hook-Timestamp: the delivery is {age:.0f} s old; "
                            f"more than {max_age_s} s from now is refused as a replay (SENTRY_HOOK_MAX_AGE_S)")


sentry_hook_source.source_kind = SourceKind.sentry  # type: ignore[attr-defined]  # read by the authorisation matrix test


def _of_kind(identity: SourceIdentity | None, kind: str) -> SourceIdentity:
    if identity is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked source credential")
    if identity.kind != kind:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint takes {kind} sources, not {identity.kind}")
    return identity


def _authorization_token(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user_pass = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user_pass.partition(":")[2] or None
    return None


def _sentry_key(request: Request) -> str | None:
    """The DSN public key, from `X-Sentry-Auth: Sentry sentry_key=..., sentry_version=7` or the query."""
    header = request.headers.get("x-sentry-auth", "")
    if header[:7].lower() == "sentry ":
        header = header[7:]
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "sentry_key" and value:
            return value.strip()
    return request.query_params.get("sentry_key")

