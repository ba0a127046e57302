"""The last active admin stays when two admins are demoted at the same time, each in its own transaction on
PostgreSQL: the second change waits for the first, then finds no other admin."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiops_api.auth.passwords import Passwords
from aiops_api.errors import Conflict
from aiops_api.users import service
from aiops_api.users.schemas import UserRead, UserUpdate
from aiops_contracts.db import User
from conftest import until


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    passwords = Passwords(1)
    yield passwords
    passwords.close()


async def demote(sessions: async_sessionmaker[AsyncSession], user_id: uuid.UUID, passwords: Passwords) -> UserRead:
    async with sessions() as session:
        return await service.update_user(session, user_id=user_id, data=UserUpdate(role="viewer"), actor="test",
                                         passwords=passwords)


async def both_waiting(engine: AsyncEngine) -> bool:
    """Whether two connections to the test database wait for a lock."""
    async with engine.connect() as conn:
        return await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")) == 2


async def test_two_admins_demoted_at_once_leave_one_admin(sessions, engine, clean_db, make_user, passwords) -> None:
    admins = [await make_user("root", role="admin"), await make_user("root2", role="admin")]
    async with engine.connect() as holder:
        # Each change stops at its audit entry, written at commit: both are in flight together, whatever the timing.
        await holder.execute(text("LOCK TABLE audit_log IN SHARE MODE"))
        demotions = [asyncio.create_task(demote(sessions, admin.id, passwords)) for admin in admins]
        await until(lambda: both_waiting(engine), 30, "both demotions waiting on a lock")
        await holder.rollback()
    results = await asyncio.gather(*demotions, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "UserRead"]
    assert "last active admin" in str(next(r for r in results if isinstance(r, Conflict)))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) == 1
