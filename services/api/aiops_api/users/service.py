"""Managing users: create, list, change role / password / activity; every change is audited.

The last active admin can be neither demoted nor deactivated, so the system always has someone to manage it.
"""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.auth.passwords import Passwords, password_problem
from aiops_api.auth.service import revoke_user_tokens
from aiops_api.errors import BadRequest, Conflict, NotFound
from aiops_api.users.schemas import UserCreate, UserRead, UserUpdate
from aiops_contracts.db import User


def _public(user: User) -> dict[str, Any]:
    return {"username": user.username, "email": user.email, "role": user.role, "active": user.active}


async def create_user(session: AsyncSession, *, data: UserCreate, actor: str, passwords: Passwords) -> UserRead:
    problem = password_problem(data.password, data.username)
    if problem:
        raise BadRequest(f"password: {problem}")
    user = User(username=data.username, email=data.email, role=data.role, active=True,
                password_hash=await passwords.hash(data.password))
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("username or email: a user with this username or email exists") from exc
    await record_change(session, actor=actor, action="user.created", entity=("user", str(user.id)),
                        before=None, after=_public(user))
    await session.commit()
    return UserRead.model_validate(user)


async def list_users(session: AsyncSession) -> list[UserRead]:
    rows = await session.scalars(select(User).order_by(User.username))
    return [UserRead.model_validate(u) for u in rows]


async def find_user(session: AsyncSession, *, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def update_user(
    session: AsyncSession, *, user_id: uuid.UUID, data: UserUpdate, actor: str, passwords: Passwords
) -> UserRead:
    user = await get_user(session, user_id=user_id)
    before = _public(user)
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    if changes.get("role", "admin") != "admin" or changes.get("active", True) is False:
        await _keep_an_admin(session, user)
    for field, value in changes.items():
        setattr(user, field, value)
    after = _public(user)
    if data.password is not None:
        problem = password_problem(data.password, user.username)
        if problem:
            raise BadRequest(f"password: {problem}")
        user.password_hash = await passwords.hash(data.password)
        after["password"] = "changed"  # never the hash
    if data.password is not None or user.active is False:
        await revoke_user_tokens(session, user_id=user.id)  # sessions end with the old password / account
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("email: a user with this email exists") from exc
    await record_change(session, actor=actor, action="user.updated", entity=("user", str(user.id)),
                        before=before, after=after)
    await session.commit()
    return UserRead.model_validate(user)


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    """Conflict when `user` is the last active admin. The active admins' rows stay locked until the change
    commits (taken in id order, so concurrent changes queue instead of deadlocking): a concurrent demotion of
    another admin waits, then no longer counts the admin this one removed."""
    if user.role != "admin" or not user.active:
        return
    admins = await session.scalars(
        select(User.id).where(User.role == "admin", User.active).order_by(User.id).with_for_update()
    )
    if all(admin == user.id for admin in admins):
        raise Conflict("role/active: the last active admin cannot be demoted or deactivated")
