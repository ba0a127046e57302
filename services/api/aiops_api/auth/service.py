"""Sign-in: password login, refresh-token rotation with reuse detection, logout.

A refresh token is `<row id hex>.<secret>`; the row keeps the SHA-256 of the secret. Each refresh marks the
presented row rotated and issues a new one in the same family. A rotated or revoked token presented again
means it leaked: the whole family is revoked and everyone holding it must sign in again.
"""

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.auth.passwords import Passwords, needs_rehash
from aiops_api.auth.schemas import TokenPair
from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.errors import Unauthorized
from aiops_api.settings import ApiSettings
from aiops_contracts.db import RefreshToken, User

log = logging.getLogger(__name__)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def login(
    session: AsyncSession, *, username: str, password: str, settings: ApiSettings, passwords: Passwords
) -> TokenPair:
    user = await session.scalar(select(User).where(User.username == username))
    if not await passwords.verify(user.password_hash if user else None, password) or user is None or not user.active:
        log.warning("login refused", extra={"username": username[:64]})
        raise Unauthorized("incorrect username or password")
    if needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    user.last_login_at = datetime.now(UTC)
    pair = await _issue_pair(session, user, settings, family_id=uuid.uuid4())
    await session.commit()
    return pair


async def refresh(session: AsyncSession, *, token: str, settings: ApiSettings) -> TokenPair:
    row = await _find(session, token)
    now = datetime.now(UTC)
    if row.rotated_at is not None or row.revoked_at is not None:
        await revoke_family(session, family_id=row.family_id)
        await session.commit()
        log.warning("refresh token reused, family revoked", extra={"family_id": str(row.family_id)})
        raise Unauthorized("refresh token already used: every session of this sign-in is revoked")
    if row.expires_at <= now:
        raise Unauthorized("refresh token expired")
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("user is deactivated")
    row.rotated_at = now
    pair = await _issue_pair(session, user, settings, family_id=row.family_id)
    await session.commit()
    return pair


async def logout(session: AsyncSession, *, token: str) -> None:
    row = await _find(session, token)
    await revoke_family(session, family_id=row.family_id)
    await session.commit()


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_user_tokens(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def _find(session: AsyncSession, token: str) -> RefreshToken:
    """The row of a presented refresh token, locked against a concurrent refresh of the same token."""
    row_hex, _, secret = token.partition(".")
    try:
        row_id = uuid.UUID(hex=row_hex)
    except ValueError as exc:
        raise Unauthorized("invalid refresh token") from exc
    row = await session.get(RefreshToken, row_id, with_for_update=True)
    if row is None or not hmac.compare_digest(row.token_hash, _digest(secret)):
        raise Unauthorized("invalid refresh token")
    return row


async def _issue_pair(session: AsyncSession, user: User, settings: ApiSettings, family_id: uuid.UUID) -> TokenPair:
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    lifetime = timedelta(days=settings.refresh_token_days)
    row = RefreshToken(id=uuid.uuid4(), user_id=user.id, family_id=family_id, token_hash=_digest(secret),
                       created_at=now, expires_at=now + lifetime)
    session.add(row)
    await session.flush()
    return TokenPair(
        access_token=issue_access_token(settings, user.username, Role[user.role], user_id=user.id),
        expires_in=settings.access_token_minutes * 60,
        refresh_token=f"{row.id.hex}.{secret}",
        refresh_expires_in=int(lifetime.total_seconds()),
    )
