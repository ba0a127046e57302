"""Alerts: one row per (source, fingerprint); repeats of the same alert bump its count."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, validates

from aiops_contracts import topology
from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class Alert(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("source", "fingerprint"),
        Index("ix_alerts_last_seen_at_id", "last_seen_at", "id"),
        # Each filter of the list, then the list's order: a filtered page is one index range (migrations 0020,
        # 0022: the host filter reads host_name).
        *(Index(f"ix_alerts_{column}_last_seen_at_id", column, "last_seen_at", "id")
          for column in ("severity", "status", "source", "host_name", "service", "incident_id")),
    )

    source: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255))  # the label as the alert gave it, shown as it is
    # The host as correlation names it (aiops_contracts.topology.host_name): `DB-1`, `db-1:9187` and
    # `db-1.prod.example.com` are `db-1`; the host filter compares this. Set with the host on ORM objects
    # (_name_host); bulk writers (the alert store's upsert, COPY) set both themselves.
    host_name: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    url: Mapped[str | None] = mapped_column(String(2000))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))

    @validates("host")
    def _name_host(self, _: str, host: str | None) -> str | None:
        self.host_name = topology.host_name(host)
        return host
