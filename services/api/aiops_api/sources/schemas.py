"""API models of sources (integrations): sources that push (webhooks, with a token) and polled sources
(aiops_contracts/pollers.py: a target, an interval, credentials that are never shown again, labels)."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiops_api.omittable import Omittable
from aiops_api.sources.secrets import MIN_SIGNING_SECRET_CHARS, SIGNING_SECRET_KEY
from aiops_api.webhooks.telegraf import TelegrafConfig
from aiops_contracts.outbound import check_outbound_url, literal_address, unsafe_address
from aiops_contracts.pollers import POLLER_SETTINGS, PollerSettings
from aiops_contracts.sources import RESERVED_SOURCE_NAMES, SourceKind, is_reserved_source_name

HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^[0-9A-Fa-f:.]+$")  # a host name, IPv4 or IPv6 address
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class NoPushConfig(BaseModel):
    """The config of a pushed source whose receiver reads none of it (besides SIGNING_SECRET_KEY, any kind's)."""

    model_config = ConfigDict(extra="forbid")


# The pushed kinds whose receiver reads keys of the source's config (besides SIGNING_SECRET_KEY, any kind's), and
# the model it reads them with; the other pushed kinds' is NoPushConfig, polled kinds have theirs in POLLER_SETTINGS.
# Each refuses keys it lacks: kept unread, a mistyped one went unnoticed.
PUSH_CONFIGS: dict[SourceKind, type[BaseModel]] = {SourceKind.telegraf: TelegrafConfig}


def _label_names(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not LABEL_KEY.match(key) or len(value) > 200:
            raise ValueError(f"label {key!r}: names are identifiers, values at most 200 characters")
    return labels


Labels = Annotated[dict[str, str], Field(max_length=20), AfterValidator(_label_names)]


class PollerFields(BaseModel):
    """What a polled source has besides its name and kind; checked against the kind's settings model."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(default=None, max_length=500)  # a base URL (HTTP APIs, BMCs) or a host (SNMP)
    interval_s: float | None = Field(default=None, ge=1, le=86_400)
    credentials: dict[str, str] = Field(default_factory=dict)  # write-only: sealed at rest, never returned
    labels: Labels = Field(default_factory=dict)


def check_poller(kind: SourceKind, target: str, config: dict[str, Any], credentials: dict[str, str]) -> str:
    """The target, checked with the kind's settings (config and credentials merged); ValueError naming the field."""
    model = POLLER_SETTINGS[kind]
    secret_fields = model.credential_fields()
    if misplaced := sorted(set(config) & secret_fields):
        raise ValueError(f"config.{misplaced[0]}: a credential; send it in `credentials` (stored sealed)")
    if unknown := sorted(set(credentials) - secret_fields):
        raise ValueError(f"credentials.{unknown[0]}: not a credential of {kind.value} "
                         f"(those are: {', '.join(sorted(secret_fields))})")
    check_config(model, {**config, **credentials}, kind=kind, settings=set(model.model_fields) - secret_fields)
    return _checked_target(model, target)


def check_push_config(kind: SourceKind, config: dict[str, Any]) -> None:
    """ValueError naming the first key of a pushed source's `config` that its receiver refuses or does not read."""
    model = PUSH_CONFIGS.get(kind, NoPushConfig)
    check_config(model, {key: value for key, value in config.items() if key != SIGNING_SECRET_KEY}, kind=kind,
                 settings={*model.model_fields, SIGNING_SECRET_KEY})


def check_config(model: type[BaseModel], config: dict[str, Any], *, kind: SourceKind, settings: set[str]) -> None:
    """ValueError naming the first field of `config` that `model` refuses; a key that is none of the kind's
    `settings` is named with them."""
    try:
        model.model_validate(config)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            raise ValueError(f"config.{where}: not a setting of {kind.value} sources "
                             f"(those are: {', '.join(sorted(settings))})") from None
        message = error["msg"].removeprefix("Value error, ")
        raise ValueError(message if not where else f"config.{where}: {message}") from None


def _checked_target(model: type[PollerSettings], target: str) -> str:
    if model.target_is_url:
        try:
            return check_outbound_url(target)
        except ValueError as exc:
            raise ValueError(f"target: {exc}") from None
    host = target.strip().lower()
    address = literal_address(host)
    if not HOST.match(host) or (address is not None and unsafe_address(address)):
        raise ValueError("target: must be a host name or a unicast IP address (the port goes in config)")
    return host


class SourceCreate(PollerFields):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: SourceKind
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _poller_fields(self) -> "SourceCreate":
        if self.kind not in POLLER_SETTINGS:
            if self.target or self.interval_s or self.credentials or self.labels:
                raise ValueError(f"target: {self.kind.value} sources push; target, interval_s, credentials and "
                                 "labels are for polled sources")
            check_push_config(self.kind, self.config)
            return self
        if not self.target:
            raise ValueError(f"target: a {self.kind.value} source needs a target")
        self.target = check_poller(self.kind, self.target, self.config, self.credentials)
        return self

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if is_reserved_source_name(name):
            raise ValueError(f"{name!r} is reserved: the worker's own alerts carry it (reserved: "
                             f"{', '.join(sorted(RESERVED_SOURCE_NAMES))})")
        return name

    @field_validator("config")
    @classmethod
    def _signing_secret_long_enough(cls, config: dict[str, Any]) -> dict[str, Any]:
        # An empty or short secret makes signatures forgeable; Sentry's client secrets are 64 hex characters.
        secret = config.get(SIGNING_SECRET_KEY)
        if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_SIGNING_SECRET_CHARS):
            raise ValueError(f"{SIGNING_SECRET_KEY} must be a string of at least {MIN_SIGNING_SECRET_CHARS} characters "
                             "(the integration's client secret from Sentry)")
        return config


class SourceUpdate(BaseModel):
    """A polled source's changes (absent fields stay); `credentials` replaces those it names. The worker
    restarts the source's poller at its next reconcile."""

    model_config = ConfigDict(extra="forbid")

    enabled: Omittable[bool] = None
    target: Omittable[Annotated[str, Field(min_length=1, max_length=500)]] = None
    interval_s: Omittable[Annotated[float, Field(ge=1, le=86_400)]] = None
    config: Omittable[dict[str, Any]] = None
    credentials: Omittable[dict[str, str]] = None
    labels: Omittable[Labels] = None


class SourceHealth(BaseModel):
    """A polled source's last polls, as the worker polling it recorded them (None: not polled yet)."""

    worker: str | None = None
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    duration_s: float | None = None  # of the last poll
    points: int | None = None  # metrics, alerts and log records of the last good poll
    points_total: int = 0
    consecutive_failures: int = 0


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: SourceKind
    token_prefix: str | None  # None: a polled source (no token)
    enabled: bool
    config: dict[str, Any]
    created_at: datetime
    revoked_at: datetime | None
    target: str | None = None
    interval_s: float | None = None
    credentials: list[str] = Field(default_factory=list)  # the names of the stored credentials, never their values
    labels: Labels = Field(default_factory=dict)
    health: SourceHealth | None = None

    @field_validator("credentials", mode="before")
    @classmethod
    def _credential_names(cls, credentials: Any) -> list[str]:
        return sorted(credentials or ())

    @field_validator("config")
    @classmethod
    def _hide_secrets(cls, config: dict[str, Any]) -> dict[str, Any]:
        # Stored readable (it verifies webhook signatures) but never shown again once set.
        return {k: "********" if k == SIGNING_SECRET_KEY else v for k, v in config.items()}


class Snippet(BaseModel):
    name: str  # telegraf, sentry_dsn, sentry_python, alertmanager, curl
    title: str
    language: Literal["toml", "yaml", "python", "shell", "text"]
    content: str


class SourceSnippets(BaseModel):
    """Ready-to-paste configuration for the source's kind (sources/snippets.py)."""

    kind: SourceKind
    url: str  # where the tool sends (PUBLIC_URL + the kind's endpoint)
    token_included: bool  # False: the token appears as the placeholder `<token>`
    items: list[Snippet]


class SourceCreated(SourceRead):
    token: str | None  # shown once: only its digest is stored (None: a polled source)
    snippets: SourceSnippets | None  # with the token filled in

