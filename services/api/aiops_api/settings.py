"""API settings: CommonSettings plus what only the API needs."""

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aiops_api.auth.passwords import password_problem
from aiops_contracts.settings import CommonSettings

_PLACEHOLDER_SECRET = "change-me-development-only-secret-0123456789"


class ApiSettings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)  # larger request bodies get 413
    webhook_max_items: int = Field(default=1_000, ge=1)  # alerts per generic webhook request
    metrics_lines_per_event: int = Field(default=1_000, ge=1)  # metric lines per stream entry (Telegraf)
    # The dashboard's URL: its origin is always allowed by CORS (`allowed_origins`); CORS_ORIGINS adds others
    # (the same dashboard under another name, browser SDKs posting to Sentry's endpoints).
    frontend_url: str = "http://127.0.0.1:3000"
    cors_origins: list[str] = ["http://localhost:3000"]
    # Where webhook senders reach this API: the base URL of the ready-to-paste source snippets.
    public_url: str = "http://127.0.0.1:8080"
    jwt_secret: str = _PLACEHOLDER_SECRET
    # HS256 signs with JWT_SECRET; RS256 signs with JWT_PRIVATE_KEY and verifies with JWT_PUBLIC_KEY (PEM).
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = Field(default=7, ge=1)
    # Created at startup when no user of this name exists; refused when the password is weak.
    first_admin_username: str = ""
    first_admin_password: str = ""
    first_admin_email: str = ""
    # Requests per window, per credential and per client IP, by route class; 0 turns a class's limit off.
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_read: int = Field(default=1_200, ge=0)
    rate_limit_write: int = Field(default=300, ge=0)
    rate_limit_auth: int = Field(default=20, ge=0)
    rate_limit_webhook: int = Field(default=120_000, ge=0)
    # Webhook credentials are checked against PostgreSQL at most this often per token.
    source_cache_seconds: float = 10.0
    live_queue_size: int = 1_000  # events buffered per WebSocket client before it is dropped as too slow

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "ApiSettings":
        if not self.is_development and self.jwt_algorithm == "HS256" and self.jwt_secret == _PLACEHOLDER_SECRET:
            raise ValueError("JWT_SECRET must be set outside development")
        if "*" in self.cors_origins:
            raise ValueError("CORS_ORIGINS must list origins explicitly: credentials are allowed")
        return self

    @field_validator("frontend_url", "public_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"{info.field_name.upper()} must be an http(s) URL, got {value!r}")
        return value.strip().rstrip("/")

    @property
    def allowed_origins(self) -> list[str]:
        """The CORS origins: the dashboard's (from FRONTEND_URL), then CORS_ORIGINS."""
        url = urlsplit(self.frontend_url)
        return list(dict.fromkeys([f"{url.scheme}://{url.netloc}", *self.cors_origins]))

    @model_validator(mode="after")
    def _check_auth_settings(self) -> "ApiSettings":
        if self.jwt_algorithm == "RS256" and not (self.jwt_private_key and self.jwt_public_key):
            raise ValueError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (PEM)")
        if bool(self.first_admin_username) != bool(self.first_admin_password):
            raise ValueError("FIRST_ADMIN_USERNAME and FIRST_ADMIN_PASSWORD are set together")
        problem = self.first_admin_password and password_problem(self.first_admin_password, self.first_admin_username)
        if problem:
            raise ValueError(f"FIRST_ADMIN_PASSWORD {problem}")
        return self
