"""API fixtures: the app with its lifespan on the test stores, an HTTP client, tokens per role, and
factories that go through the service layer."""

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.passwords import Passwords
from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.main import create_app
from aiops_api.settings import ApiSettings
from aiops_api.sources import service as sources_service
from aiops_api.sources.schemas import SourceCreate, SourceCreated
from aiops_api.users import service as users_service
from aiops_api.users.schemas import UserCreate, UserRead
from aiops_contracts.secrets import secret_box

USER_PASSWORD = "Correct-Horse-Battery-42"  # meets the password rules; every factory user gets it


@pytest.fixture(scope="session")
def api_settings(test_env: dict[str, str]) -> ApiSettings:
    return ApiSettings(**{k.lower(): v for k, v in test_env.items()}, max_body_bytes=64 * 1024,
                       webhook_max_items=100, source_cache_seconds=0.0)


@pytest.fixture
async def app(api_settings: ApiSettings, clean_db: None, redis) -> AsyncIterator[FastAPI]:
    app = create_app(api_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def token_for(api_settings: ApiSettings) -> Callable[[Role], str]:
    return lambda role: issue_access_token(api_settings, f"test-{role.name}", role)


@pytest.fixture
def auth(token_for: Callable[[Role], str]) -> Callable[[Role], dict[str, str]]:
    """Headers of a caller with the given role."""
    return lambda role=Role.admin: {"Authorization": f"Bearer {token_for(role)}"}


@pytest.fixture
def make_source(sessions: async_sessionmaker[AsyncSession], api_settings: ApiSettings) -> Callable[..., object]:
    async def make(name: str = "monitoring", kind: str = "generic", config: dict | None = None) -> SourceCreated:
        data = SourceCreate(name=name, kind=kind, config=config or {})
        async with sessions() as session:
            return await sources_service.create_source(session, data=data, actor="test",
                                                       public_url=api_settings.public_url,
                                                       box=secret_box(api_settings.secrets_key))

    return make


@pytest.fixture
def make_user(sessions: async_sessionmaker[AsyncSession]) -> Iterator[Callable[..., object]]:
    """Creates a user through the service layer; they sign in with USER_PASSWORD."""
    passwords = Passwords(1)

    async def make(username: str = "alice", role: str = "viewer") -> UserRead:
        async with sessions() as session:
            data = UserCreate(username=username, password=USER_PASSWORD, role=role)
            return await users_service.create_user(session, data=data, actor="test", passwords=passwords)

    yield make
    passwords.close()


@pytest.fixture
def user_password() -> str:
    return USER_PASSWORD
