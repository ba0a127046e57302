"""Engine and session factory, built by each service at startup (never at import)."""

import select
from typing import Any

from psycopg.pq import ConnStatus
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aiops_contracts.settings import CommonSettings

# libpq's TCP keepalives: the first probe after 30 s idle, then every 10 s; 3 unanswered and the kernel closes the
# socket (a peer gone silently is known dead about a minute after it fell silent).
TCP_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# libpq's tcp_user_timeout (TCP_USER_TIMEOUT, Linux): how long sent data may stay unacknowledged before the kernel
# closes the connection. Keepalives only probe a connection with nothing in flight; a query written to a peer that
# went silent (its host lost, a partition) is retransmitted instead, tcp_retries2 = 15 times, about 15 minutes, while
# the request or task waits on it. Set to the keepalives' own span (idle + interval x count, 60 s), as it also takes
# over from keepalive's count when both are set: a dead peer is then given up on a minute after it fell silent,
# whether the connection was idle or writing. Only unacknowledged data counts: a long query's wait for its answer
# is not bounded by it (the server acknowledged the query); nor is a live peer on a slow path (its ACKs arrive).
TCP_USER_TIMEOUT_MS = 1000 * (TCP_KEEPALIVES["keepalives_idle"]
                              + TCP_KEEPALIVES["keepalives_interval"] * TCP_KEEPALIVES["keepalives_count"])
CONNECT_ARGS = {**TCP_KEEPALIVES, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}


def make_engine(settings: CommonSettings) -> AsyncEngine:
    """The pool checks a connection at checkout without a round trip (`_refuse_closed`), so it sees only what the
    kernel knows. A NAT or load balancer that drops an idle entry sends nothing; TCP keepalives (`TCP_KEEPALIVES`)
    keep such entries in use, and make the kernel close a connection whose peer stopped answering, which the
    checkout then refuses. The trade-off against pool_pre_ping's SELECT 1: a connection lost in the minute before
    the probes give up (or by a middlebox with an idle timeout under 30 s) is still handed out, and its first
    query fails (within TCP_USER_TIMEOUT_MS, not the kernel's ~15 minutes of retransmissions); idle connections
    cost a small packet every 30 s."""
    engine = create_async_engine(settings.database_url, pool_size=settings.database_pool_size,
                                 connect_args=CONNECT_ARGS)
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
