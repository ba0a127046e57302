"""Sources: the integrations that push to us or that we poll, each with its own credential."""

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class Source(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # generic, telegraf, sentry, alertmanager, logs ...
    # SHA-256 of the token: the token itself is shown once at creation and never stored. Pushing sources only:
    # a polled source has none.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str | None] = mapped_column(String(12))  # lets people tell tokens apart
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Polled sources only (aiops_contracts/pollers.py): what the worker polls, how often, with which credentials
    # (each value sealed with SECRETS_KEY, aiops_contracts/secrets.py), and labels added to what it produces.
    target: Mapped[str | None] = mapped_column(String(500))
    interval_s: Mapped[float | None] = mapped_column(Float)
    credentials: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default="{}")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
