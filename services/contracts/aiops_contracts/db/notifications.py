"""Notifications: silences (operators, through the API), the receivers of notifications.yml (stored by the worker
at start, so the API can show them), the open notification groups the worker flushes, and what was sent."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class Silence(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "silences"

    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # aiops_contracts.notifications.Matcher
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    author: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text, default="")
    expired_by: Mapped[str | None] = mapped_column(String(255))


class NotificationReceiver(UUIDPrimaryKey, Timestamps, Base):
    """A receiver of notifications.yml, without its secrets: the URL's scheme and host, or the mail addresses."""

    __tablename__ = "notification_receivers"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # the routes that send to it, as configured


class NotificationGroup(UUIDPrimaryKey, Timestamps, Base):
    """The incidents one route gathers for one receiver under one group_by value, like an Alertmanager group:
    first told group_wait after it opens, then looked at every group_interval (told again when what it holds
    changed, or after repeat_interval unchanged); deleted once its incidents are resolved and told."""

    __tablename__ = "notification_groups"
    __table_args__ = (UniqueConstraint("receiver", "group_key"),)

    receiver: Mapped[str] = mapped_column(String(100))
    group_key: Mapped[str] = mapped_column(String(1000))
    incidents: Mapped[dict[str, Any]] = mapped_column(JSONB)  # incident id -> its latest facts
    told: Mapped[dict[str, Any]] = mapped_column(JSONB)  # incident id -> "status/severity" last told
    group_interval_s: Mapped[float] = mapped_column(Float)
    repeat_interval_s: Mapped[float] = mapped_column(Float)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(UUIDPrimaryKey, Timestamps, Base):
    """One grouped notification sent (or failed) to a receiver."""

    __tablename__ = "notifications"

    receiver: Mapped[str] = mapped_column(String(100), index=True)
    group_key: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16))  # aiops_contracts.notifications.NotificationStatus
    subject: Mapped[str] = mapped_column(Text)
    incident_ids: Mapped[list[str]] = mapped_column(JSONB)
    detail: Mapped[str] = mapped_column(Text, default="")
