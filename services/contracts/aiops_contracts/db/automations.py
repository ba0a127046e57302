"""Automations: rules (from automations.yml or the API) and the run ledger (one row per rule and trigger)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class AutomationRule(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "automation_rules"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    origin: Mapped[str] = mapped_column(String(16))  # file (automations.yml, replaced at worker start) | api
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # aiops_contracts.automations.RuleSpec


class AutomationRun(UUIDPrimaryKey, Timestamps, Base):
    """At most once per trigger: (rule, trigger_key) is unique, so a redelivered event or a second replica
    finds the row and runs nothing."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("rule_name", "trigger_key"),)

    rule_name: Mapped[str] = mapped_column(String(100), index=True)
    trigger_key: Mapped[str] = mapped_column(String(255))  # the triggering event's id
    target: Mapped[str] = mapped_column(String(255), index=True)  # host (or service) the action acts on
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)  # aiops_contracts.automations.RunStatus
    reason: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the rule as it was when triggered
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the facts the trigger matched
    approval_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(255))
    worker: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rc: Mapped[int | None] = mapped_column(Integer)
    changed: Mapped[int | None] = mapped_column(Integer)
    failed: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")
    # After a successful run the symptom is watched: watching, then fixed, not_fixed or worse (RunOutcome)
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    verify_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mttr_s: Mapped[float | None] = mapped_column(Float)  # from the symptom's first sight to its clearing
