"""Domain errors raised by services, and their mapping to JSON answers: 4xx for the caller's mistakes,
503 + Retry-After when a store is unavailable."""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from aiops_contracts.bus import StreamBacklogFull
from aiops_contracts.envelope import UnencodableEnvelope
from aiops_contracts.influx import InfluxUnavailable

# Seconds a client is asked to wait when a store is down (Alertmanager and Telegraf retry only 5xx).
RETRY_AFTER_S = 5

# Errors that mean a store is down or overloaded (connection refused or lost, pool exhausted, timeout),
# by the store's name. psycopg raises OperationalError for a refused connection and for a missing database.
STORE_ERRORS: dict[str, tuple[type[Exception], ...]] = {
    "postgresql": (OperationalError, InterfaceError, PoolTimeout),
    "redis": (RedisConnectionError, RedisTimeoutError),
    "influxdb": (InfluxUnavailable,),
}


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class PayloadTooLarge(DomainError):
    status_code = 413


class ServiceUnavailable(DomainError):
    status_code = 503


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if exc.status_code == 503:
            headers = {"Retry-After": str(RETRY_AFTER_S)}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    for store, errors in STORE_ERRORS.items():
        for error in errors:
            app.add_exception_handler(error, _store_unavailable(store))

    @app.exception_handler(StreamBacklogFull)
    async def _backlogged(_: Request, exc: StreamBacklogFull) -> JSONResponse:
        # The workers are far behind: taking more would let stream trimming drop accepted events.
        return _unavailable("redis", str(exc))

    @app.exception_handler(UnencodableEnvelope)
    async def _unencodable(_: Request, exc: UnencodableEnvelope) -> JSONResponse:
        return JSONResponse({"detail": f"body: {exc}"}, status_code=400)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refused a value the validation let through (a NUL character, an out-of-range number).
        return JSONResponse({"detail": "a parameter holds a value the database cannot store"}, status_code=400)

    # A model a handler builds from the input (a webhook's normalised alert) refusing it is the input's
    # fault too: answer it like a request that failed validation, never with a 500.
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
        # Only where and what: echoing the input could leak secrets, and raw bytes are not JSON.
        detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)


def _store_unavailable(store: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _unavailable(store, f"{store} is unavailable, retry later")

    return handler


def _unavailable(store: str, detail: str) -> JSONResponse:
    # Overload or outage is never the sender's fault: 503 makes every push client retry later.
    return JSONResponse({"detail": detail, "store": store}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
