"""The first admin: created from FIRST_ADMIN_USERNAME / FIRST_ADMIN_PASSWORD at startup, or by the CLI.

There is no built-in default password: without one of these, nobody can sign in until an admin is created.
"""

import logging

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.audit import record_change
from aiops_api.auth.passwords import Passwords, password_problem
from aiops_api.settings import ApiSettings
from aiops_contracts.db import User

log = logging.getLogger(__name__)


class WeakPassword(ValueError):
    pass


async def create_admin(
    session: AsyncSession, *, username: str, password: str, email: str | None, passwords: Passwords
) -> bool:
    """Create an admin unless the username exists (several API replicas may start at once); True if created."""
    problem = password_problem(password, username)
    if problem:
        raise WeakPassword(f"password {problem}")
    password_hash = await passwords.hash(password)
    stmt = (
        insert(User)
        .values(username=username, email=email or None, role="admin", active=True, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[User.username])
        .returning(User.id)
    )
    user_id = await session.scalar(stmt)
    if user_id is not None:
        await record_change(session, actor="bootstrap", action="user.created", entity=("user", str(user_id)),
                            before=None, after={"username": username, "email": email or None, "role": "admin",
                                                "active": True})
    await session.commit()
    return user_id is not None


async def ensure_first_admin(
    sessions: async_sessionmaker[AsyncSession], settings: ApiSettings, passwords: Passwords
) -> None:
    if not settings.first_admin_username:
        return
    async with sessions() as session:
        created = await create_admin(session, username=settings.first_admin_username,
                                     password=settings.first_admin_password, email=settings.first_admin_email,
                                     passwords=passwords)
    if created:
        log.info("first admin created", extra={"username": settings.first_admin_username})
