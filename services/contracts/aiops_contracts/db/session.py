"""Engine and session factory, built by each service at startup (never at import)."""

import select
from typing import Any

from psycopg.pq import ConnStatus
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aiops_contracts.settings import CommonSettings


def make_engine(settings: CommonSettings) -> AsyncEngine:
    engine = create_async_engine(settings.database_url, pool_size=settings.database_pool_size)
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool pre-ping without its round trip (which cost a read request ~12 % of the API's CPU): a pooled
    connection is idle, so one that libpq knows is broken, or on which the server has sent anything since
    (the notice and end of file of a backend that was terminated: a restart, pg_terminate_backend, a
    timeout), is gone; DisconnectionError makes the pool replace it with a fresh one. poll(), not select():
    select() refuses descriptors from 1024 up, which a busy process's sockets reach."""
    pgconn = dbapi_connection.driver_connection.pgconn
    if pgconn.status != ConnStatus.OK or _readable(pgconn.socket):
        raise DisconnectionError("the server closed the pooled connection")


def _readable(fd: int) -> bool:
    """Whether `fd` has data, an error or a hang-up waiting, without blocking."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
