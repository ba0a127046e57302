"""Incident enrichment work (the worker's enrichment task): one row per incident, due when its evidence
changed materially, retried with back-off while the LLM is down or its budget is spent. The result itself
lives on the incident (`summary`, `details.enrichment`)."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func
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
