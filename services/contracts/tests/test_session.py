"""The engine's pool hands out live connections: one whose backend the server ended while it sat in the pool is
replaced at checkout (what pool_pre_ping did with a round trip per checkout), with any number of descriptors open;
and its sockets send TCP keepalives and give up on data unacknowledged for TCP_USER_TIMEOUT_MS."""

import os
import resource
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiops_contracts.db.session import TCP_KEEPALIVES, TCP_USER_TIMEOUT_MS, make_engine
from aiops_contracts.settings import CommonSettings
from conftest import until

SELECT_FD_LIMIT = 1024  # select.select() refuses descriptors from FD_SETSIZE up


@pytest.fixture
def descriptors_past_select_limit() -> Iterator[None]:
    """More than FD_SETSIZE descriptors open, so the next sockets get numbers select() cannot watch."""
    wanted = SELECT_FD_LIMIT + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted + 100, hard), hard))
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(wanted)]
    try:
        yield
    finally:
        for fd in opened:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _socket(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.get_raw_connection()).driver_connection.pgconn.socket


async def _assert_replaced_once_terminated(pooled: AsyncEngine, engine: AsyncEngine) -> None:
    pid = await _backend_pid(pooled)
    assert await _backend_pid(pooled) == pid  # the pool hands the same connection out again
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    async def gone() -> bool:  # the backend has exited: its last message and end of file are on the socket
        async with engine.connect() as other:
            query = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
            return (await other.execute(query, {"pid": pid})).scalar_one()

    await until(gone, 10, f"backend {pid} exits")
    assert await _backend_pid(pooled) != pid  # a fresh connection, not an error


async def test_a_pooled_connection_the_server_ended_is_replaced_at_checkout(common_settings: CommonSettings,
                                                                           engine: AsyncEngine) -> None:
    pooled = make_engine(common_settings.model_copy(update={"database_pool_size": 1}))
    try:
        await _assert_replaced_once_terminated(pooled, engine)
    finally:
        await pooled.dispose()


@pytest.mark.usefixtures("descriptors_past_select_limit")
async def test_connections_past_descriptor_1024_are_checked_out_and_replaced(common_settings: CommonSettings,
                                                                            engine: AsyncEngine) -> None:
    pooled = make_engine(common_settings.model_copy(update={"database_pool_size": 1}))
    try:
        assert await _socket(pooled) >= SELECT_FD_LIMIT
        await _assert_replaced_once_terminated(pooled, engine)
        assert await _socket(pooled) >= SELECT_FD_LIMIT  # the replacement too, checked out again
    finally:
        await pooled.dispose()


async def test_connections_send_tcp_keepalives(engine: AsyncEngine) -> None:
    fd = await _socket(engine)
    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:  # a duplicate: the pool's stays open
        options = (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                   *(sock.getsockopt(socket.IPPROTO_TCP, option)
                     for option in (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT)))
    assert options == tuple(TCP_KEEPALIVES.values())


async def test_connections_give_up_on_unacknowledged_data_as_keepalives_give_up_on_silence(engine: AsyncEngine) -> None:
    """TCP_USER_TIMEOUT as the kernel holds it (0 before: the kernel's ~15 minutes of retransmissions), and as libpq
    was asked for it; equal to the keepalives' span, so that neither cuts the other short."""
    fd = await _socket(engine)
    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == TCP_USER_TIMEOUT_MS == 60_000
    async with engine.connect() as connection:
        info = (await connection.get_raw_connection()).driver_connection.info
        assert info.get_parameters()["tcp_user_timeout"] == str(TCP_USER_TIMEOUT_MS)
    idle, interval, count = (TCP_KEEPALIVES[k] for k in ("keepalives_idle", "keepalives_interval", "keepalives_count"))
    assert 1000 * (idle + interval * count) == TCP_USER_TIMEOUT_MS
