"""The engine's pool hands out live connections: one whose backend the server ended while it sat in the pool is
replaced at checkout (what pool_pre_ping did with a round trip per checkout)."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiops_contracts.db.session import make_engine
from aiops_contracts.settings import CommonSettings
from conftest import until


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_pooled_connection_the_server_ended_is_replaced_at_checkout(common_settings: CommonSettings,
                                                                           engine: AsyncEngine) -> None:
    pooled = make_engine(common_settings.model_copy(update={"database_pool_size": 1}))
    try:
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
    finally:
        await pooled.dispose()
