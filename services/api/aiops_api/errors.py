"""Domain errors raised by services, and their mapping to JSON 4xx answers."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError

from aiops_contracts.envelope import UnencodableEnvelope

from aiops_contracts.influx import InfluxUnavailable

# Seconds a client is asked to wait when a store is down (Alertmanager and Telegraf retry only 5xx).
RETRY_AFTER_S = 5


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

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    @app.exception_handler(InfluxUnavailable)
    async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Overload or outage is never the sender's fault: 503 makes every push client retry later.
        return JSONResponse({"detail": "a store is unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(UnencodableEnvelope)
    async def _unencodable(_: Request, exc: UnencodableEnvelope) -> JSONResponse:
        return JSONResponse({"detail": f"body: {exc}"}, status_code=400)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refused a value the validation let through (a NUL character, an out-of-range number).
        return JSONResponse({"detail": "a parameter holds a value the database cannot store"}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Only where and what: echoing the input could leak secrets, and raw bytes are not JSON.
        detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)
