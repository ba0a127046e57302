"""Sources: the integrations that push to us or that we poll, each with its own credential."""

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class Source(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # generic, telegraf, sentry, alertmanager, logs ...
    # SHA-256 of the token: the token itself is shown once at creation and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))  # lets people tell tokens apart
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
