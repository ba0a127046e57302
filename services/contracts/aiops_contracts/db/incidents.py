"""Incidents: related alerts and log events grouped into one thing an SRE reads and acts on."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey
from aiops_contracts.events import IncidentStatus, TimelineKind


def _text_enum(enum: type[IncidentStatus] | type[TimelineKind]) -> Enum:
    """A VARCHAR(16) column read back as the enum (stored by value, no database type or constraint)."""
    return Enum(enum, native_enum=False, create_constraint=False, length=16,
                values_callable=lambda members: [m.value for m in members])


class Incident(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_last_seen_at_id", "last_seen_at", "id"),
        # Each filter of the list, then the list's order (migration 0020); `hosts @> '["h"]'` through GIN.
        Index("ix_incidents_severity_last_seen_at_id", "severity", "last_seen_at", "id"),
        Index("ix_incidents_status_last_seen_at_id", "status", "last_seen_at", "id"),
        Index("ix_incidents_hosts", "hosts", postgresql_using="gin", postgresql_ops={"hosts": "jsonb_path_ops"}),
    )

    # What grouped the events (e.g. prototype + service); an open incident is unique per key.
    group_key: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[IncidentStatus] = mapped_column(_text_enum(IncidentStatus))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    hosts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    services: Mapped[list[str]] = mapped_column(JSONB, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(Base):
    """An incident's timeline: opened, events (one row per handled batch, with its count), reopened, resolved."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_id_at", "incident_id", "at"),
                      Index("ix_incident_events_announce", "id", postgresql_where=text("announce IS NOT NULL")))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the first event of the row
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[TimelineKind] = mapped_column(_text_enum(TimelineKind))
    count: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255))
    template_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    # The event type the row's change waits to be announced as (aiops_contracts.incidents: the outbox of the changes
    # no envelope caused); NULL once announced, and on the rows an envelope wrote (its task announces them).
    announce: Mapped[str | None] = mapped_column(String(32))


class IncidentSignal(Base):
    """An incident's evidence: one row per signal (a group key: a log template on a host, the alerts of a
    host or service; its kind, what the signal is: an Alertmanager alert and an anomaly on one host are two
    signals of the host's key; and the source that sent it) that joined it, with its onset, counts, and the
    rule and shared host/service/dependency (`via`) that joined it. `rule` is `opened` for the signal that
    opened the incident."""

    __tablename__ = "incident_signals"
    __table_args__ = (UniqueConstraint("incident_id", "group_key", "kind", "source"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # a SignalKind (an alert's source name in rows of older producers)
    source: Mapped[str] = mapped_column(String(255), default="", server_default="")  # the alert's source; "" for logs
    title: Mapped[str] = mapped_column(String(500))
    host: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str | None] = mapped_column(String(255))
    template_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rule: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(500), default="")


class IncidentSplit(Base):
    """An operator's split: `group_key` moved out of `incident_id` into `new_incident_id`; until `until` the
    aggregator does not merge it again with `other_keys` (the keys it was split from)."""

    __tablename__ = "incident_splits"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    new_incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(String(255), index=True)
    other_keys: Mapped[list[str]] = mapped_column(JSONB, default=list)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
