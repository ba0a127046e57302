"""create_app(): one lifespan opens and closes every client; every router is listed once."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from aiops_api import health
from aiops_api.alerts.router import router as alerts_router
from aiops_api.anomalies.router import router as anomalies_router
from aiops_api.audit.router import router as audit_router
from aiops_api.auth.accounts import Accounts
from aiops_api.auth.bootstrap import ensure_first_admin
from aiops_api.auth.passwords import Passwords
from aiops_api.auth.router import router as auth_router
from aiops_api.automations.router import router as automations_router
from aiops_api.chat.meaning import IntentMeaning
from aiops_api.chat.retrieval import KnownNames
from aiops_api.chat.router import router as chat_router
from aiops_api.dead_letters.router import router as dead_letters_router
from aiops_api.deprecated import deprecated_aliases
from aiops_api.errors import register_error_handlers
from aiops_api.forecasts.router import router as forecasts_router
from aiops_api.incidents.router import router as incidents_router
from aiops_api.instrumentation import RequestMetricsMiddleware
from aiops_api.limits import BodySizeLimitMiddleware
from aiops_api.live.broadcaster import Broadcaster
from aiops_api.live.connections import KEY_PREFIX as LIVE_SLOTS_KEY
from aiops_api.live.connections import ConnectionSlots
from aiops_api.live.router import router as live_router
from aiops_api.logs.router import router as logs_router
from aiops_api.logs.search import LogSearch
from aiops_api.metrics.router import router as metrics_router
from aiops_api.notifications.router import router as notifications_router
from aiops_api.overview.router import router as overview_router
from aiops_api.pipelines.router import router as pipelines_router
from aiops_api.proxies import TrustedProxyMiddleware
from aiops_api.quality.router import router as quality_router
from aiops_api.ratelimit import RateLimitMiddleware
from aiops_api.replay.router import router as replay_router
from aiops_api.request_context import RequestContextMiddleware
from aiops_api.settings import ApiSettings, load_settings
from aiops_api.sources.credentials import SourceCredentials
from aiops_api.sources.router import router as sources_router
from aiops_api.sources.secrets import seal_stored_secrets
from aiops_api.topology.router import router as topology_router
from aiops_api.users.router import router as users_router
from aiops_api.webhooks import ROUTERS as WEBHOOK_ROUTERS
from aiops_contracts.bus import Bus
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.heap import freeze_heap
from aiops_contracts.influx import InfluxClient
from aiops_contracts.llm import LLMClient
from aiops_contracts.logging import configure_logging
from aiops_contracts.secrets import secret_box
from aiops_contracts.tracing import configure_tracing, shutdown_tracing

METRIC_ROUTERS = [metrics_router, anomalies_router, forecasts_router]
ROUTERS = [chat_router, health.router, alerts_router, incidents_router, logs_router, sources_router, live_router, *WEBHOOK_ROUTERS,
           auth_router, users_router, audit_router, automations_router, notifications_router, *METRIC_ROUTERS, deprecated_aliases(METRIC_ROUTERS), overview_router, pipelines_router,
           topology_router, quality_router, replay_router, dead_letters_router]


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        state = app.state
        state.settings = settings
        state.engine = engine
        state.sessions = make_sessionmaker(engine)
        state.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        state.redis = Redis.from_url(settings.redis_url)
        state.bus = Bus(state.redis, settings)
        state.http = httpx.AsyncClient(timeout=5.0)
        state.influx = InfluxClient(settings)
        state.llm = LLMClient(settings, state.redis)  # disabled unless LLM_BASE_URL is set
        state.source_credentials = SourceCredentials(state.sessions, settings.source_cache_seconds,
                                                     settings.source_cache_misses)
        state.passwords = Passwords(settings.password_hash_concurrency)
        state.accounts = Accounts(state.redis, state.sessions, settings)
        state.readiness = health.Readiness(settings.ready_cache_seconds)
        state.broadcaster = Broadcaster(state.bus, settings.live_queue_size)
        state.live_slots = ConnectionSlots(state.redis, settings.live_max_connections_per_user,
                                           lease_s=max(30.0, 6 * settings.user_cache_seconds),
                                           key_prefix=settings.redis_key(LIVE_SLOTS_KEY))
        state.log_search = LogSearch(settings)
        state.log_search.warm_up()
        state.chat_meaning = IntentMeaning(state.log_search)
        state.chat_meaning.warm_up()
        state.chat_known = KnownNames()
        state.secret_box = secret_box(settings.secrets_key)
        await seal_stored_secrets(state.sessions, state.secret_box)
        await ensure_first_admin(state.sessions, settings, state.passwords)
        await state.broadcaster.start()
        try:
            yield
        finally:
            await state.chat_meaning.aclose()
            await state.log_search.aclose()
            await state.broadcaster.stop()
            state.passwords.close()
            await state.http.aclose()
            await state.influx.aclose()
            await state.llm.aclose()
            await state.redis.aclose()
            await engine.dispose()

    app = FastAPI(title="AIOps API", version="0.1.0", lifespan=lifespan)
    _add_middleware(app, settings)
    register_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _add_middleware(app: FastAPI, settings: ApiSettings) -> None:
    # Outermost last: request id + span, metrics, CORS (so refusals carry its headers), rate limit, body size.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.allowed_origins, allow_credentials=True,
        allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)  # the client, for all the above


def main() -> None:
    settings = load_settings()
    configure_logging("api", settings.log_level)
    tracer_provider = configure_tracing("api", settings)
    try:
        app = create_app(settings)
        freeze_heap()
        # TrustedProxyMiddleware reads X-Forwarded-For from TRUSTED_PROXIES only: uvicorn's own reading is off.
        uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False,
                    proxy_headers=False)
    finally:
        shutdown_tracing(tracer_provider)


if __name__ == "__main__":
    main()
