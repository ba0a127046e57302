"""Processed events: the idempotency ledger. A handler inserts the event id in the same transaction as
its writes, so a re-delivered entry finds its id and changes nothing."""

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base

# The handler that stores received alerts: one row per accepted `alert.received` event, which the
# dashboard's overview counts (the API reads the ledger, the worker writes it).
ALERT_STORE_HANDLER = "alerts-store"


class ProcessedEvent(Base):
    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
