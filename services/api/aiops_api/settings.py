"""API settings: CommonSettings plus what only the API needs."""

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, IPvAnyNetwork, ValidationError, ValidationInfo, field_validator, model_validator

from aiops_api.auth.keys import read_secret_file, rsa_key_problem, secret_problem
from aiops_api.auth.passwords import password_problem
from aiops_contracts.settings import CommonSettings


class ApiSettings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)  # larger request bodies get 413
    # Alerts per generic request (400 past it) or read per Alertmanager notification (the others left out), items
    # per Sentry envelope
    webhook_max_items: int = Field(default=1_000, ge=1)
    # What one webhook request may put on the streams (its envelopes, serialised): FACTOR x its decompressed
    # body (and query), plus EVENT_BYTES per event for the fields every event carries, and never more than
    # MAX_BYTES; past either limit the request gets 413 and nothing is published (webhooks/expansion.py).
    webhook_expansion_factor: float = Field(default=4.0, ge=1)
    webhook_event_overhead_bytes: int = Field(default=512, ge=0)
    webhook_expansion_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    metrics_lines_per_event: int = Field(default=1_000, ge=1)  # metric lines per stream entry (Telegraf)
    # The dashboard's URL: its origin is always allowed by CORS (`allowed_origins`); CORS_ORIGINS adds others
    # (the same dashboard under another name, browser SDKs posting to Sentry's endpoints).
    frontend_url: str = "http://127.0.0.1:3000"
    cors_origins: list[str] = ["http://localhost:3000"]
    # Where webhook senders reach this API: the base URL of the ready-to-paste source snippets.
    public_url: str = "http://127.0.0.1:8080"
    # No default: missing, short (< 32 bytes) or public (published in the repo, on a non-loopback API_HOST)
    # keys are refused at start (auth/keys.py). *_FILE names a file holding the value (compose, Docker secrets).
    jwt_secret: str = ""
    jwt_secret_file: Path | None = None
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
    # Failed authentications (401) per client per window; past it every request of the client gets 429.
    rate_limit_auth_failures: int = Field(default=20, ge=0)
    # Peers (IPs or CIDR networks) whose X-Forwarded-For names the client: the rightmost address that is not
    # itself a trusted proxy. Empty: the TCP peer is the client and X-Forwarded-For is ignored.
    trusted_proxies: list[IPvAnyNetwork] = []  # JSON list, e.g. ["10.0.0.0/8", "127.0.0.1"]
    # Unknown webhook tokens remembered (kept apart from the known ones, which they can never evict).
    source_cache_misses: int = Field(default=10_000, ge=1)
    # A signed-in user's token is checked against the account (active, role) at most this many seconds stale.
    user_cache_seconds: float = Field(default=5.0, ge=0)
    password_hash_concurrency: int = Field(default=2, ge=1)  # argon2 runs at once (~160 ms, 64 MiB each), in threads
    ready_cache_seconds: float = Field(default=2.0, ge=0)  # /ready answers from its last check this long
    live_max_connections_per_user: int = Field(default=10, ge=1)  # WebSockets open at once per token subject
    # Webhook credentials are checked against PostgreSQL at most this often per token.
    source_cache_seconds: float = 10.0
    live_queue_size: int = 1_000  # events buffered per WebSocket client before it is dropped as too slow
    # Encrypts stored webhook signing secrets (Sentry's client secret); needed once one is stored.
    secrets_key: str = ""
    secrets_key_file: Path | None = None
    # Sentry integration webhooks whose Sentry-Hook-Timestamp is further than this from now are refused. The
    # timestamp is not signed, so this stops no replay: the remembered signatures below do.
    sentry_hook_max_age_s: int = Field(default=300, ge=1)
    # Signatures of the Sentry integration webhook deliveries taken are remembered this long (a Redis key of
    # ~200 bytes each): the same delivery sent again within it is answered 200 and not taken.
    sentry_hook_seen_s: int = 7 * 24 * 3600
    # The latest detection-quality report (scripts/bench/quality.py writes it; GET /api/v1/quality reads it).
    quality_report_path: Path = Path(".data/quality.json")

    @model_validator(mode="after")
    def _check_keys(self) -> "ApiSettings":
        if self.jwt_secret_file and not self.jwt_secret:
            self.jwt_secret = read_secret_file("JWT_SECRET_FILE", self.jwt_secret_file)
        if self.secrets_key_file and not self.secrets_key:
            self.secrets_key = read_secret_file("SECRETS_KEY_FILE", self.secrets_key_file)
        if self.jwt_algorithm == "RS256" and not (self.jwt_private_key and self.jwt_public_key):
            raise ValueError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (PEM)")
        problem = (rsa_key_problem(self.jwt_public_key) if self.jwt_algorithm == "RS256"
                   else secret_problem("JWT_SECRET", self.jwt_secret, host=self.api_host))
        problem = problem or (self.secrets_key and secret_problem("SECRETS_KEY", self.secrets_key, host=self.api_host))
        if problem:
            raise ValueError(problem)
        if "*" in self.cors_origins:
            raise ValueError("CORS_ORIGINS must list origins explicitly: credentials are allowed")
        if self.sentry_hook_seen_s < 2 * self.sentry_hook_max_age_s:
            raise ValueError("SENTRY_HOOK_SEEN_S must be at least 2 x SENTRY_HOOK_MAX_AGE_S: a signature forgotten "
                             "sooner could be replayed as captured, its own timestamp still taken (once forgotten, "
                             "with a fresh one at any time: the timestamp is not signed)")
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
        if bool(self.first_admin_username) != bool(self.first_admin_password):
            raise ValueError("FIRST_ADMIN_USERNAME and FIRST_ADMIN_PASSWORD are set together")
        problem = self.first_admin_password and password_problem(self.first_admin_password, self.first_admin_username)
        if problem:
            raise ValueError(f"FIRST_ADMIN_PASSWORD {problem}")
        return self


def load_settings() -> ApiSettings:
    """The settings from the environment; a refused one stops the process with the reasons only (never values)."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"aiops-api refused to start: {reasons}") from None
