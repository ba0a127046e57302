"""Incident enrichment work (the worker's enrichment task): one row per incident, due when its evidence
changed materially, retried with back-off while the LLM is down or its budget is spent. The result itself
lives on the incident (`summary`, `details.enrichment`).

A resolved incident's resolution (who, which actions, how long) is kept in `incident_resolutions` and the
incident embedded into ChromaDB (aiops_contracts.incident_memory), so that later incidents find it."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base


class IncidentEnrichment(Base):
    __tablename__ = "incident_enrichments"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)  # None: nothing to do
    enriched_key: Mapped[str | None] = mapped_column(String(500))  # the material state last enriched
    mode: Mapped[str | None] = mapped_column(String(16))  # llm | rules
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # LLM attempts since the last success
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class IncidentResolution(Base):
    __tablename__ = "incident_resolutions"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    resolved_by: Mapped[str] = mapped_column(String(255))  # the operator (audit log), else "aggregator"
    actions: Mapped[list[str]] = mapped_column(JSONB, default=list)  # automation runs: "<rule>: <status>"
    minutes_to_resolve: Mapped[float] = mapped_column(Float)
