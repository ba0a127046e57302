"""API models of sources (integrations)."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiops_api.sources.secrets import MIN_SIGNING_SECRET_CHARS, SIGNING_SECRET_KEY
from aiops_contracts.sources import SourceKind


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: SourceKind
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("config")
    @classmethod
    def _signing_secret_long_enough(cls, config: dict[str, Any]) -> dict[str, Any]:
        # An empty or short secret makes signatures forgeable; Sentry's client secrets are 64 hex characters.
        secret = config.get(SIGNING_SECRET_KEY)
        if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_SIGNING_SECRET_CHARS):
            raise ValueError(f"{SIGNING_SECRET_KEY} must be a string of at least {MIN_SIGNING_SECRET_CHARS} characters "
                             "(the integration's client secret from Sentry)")
        return config


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: SourceKind
    token_prefix: str
    enabled: bool
    config: dict[str, Any]
    created_at: datetime
    revoked_at: datetime | None

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
    token: str  # shown once: only its digest is stored
    snippets: SourceSnippets  # with the token filled in
