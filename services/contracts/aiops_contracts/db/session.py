"""Engine and session factory, built by each service at startup (never at import)."""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aiops_contracts.settings import CommonSettings


def make_engine(settings: CommonSettings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url, pool_size=settings.database_pool_size, pool_pre_ping=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
