"""Metric forecasts: the worker's latest forecast and exhaustion prediction per capacity series."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps


class Forecast(Timestamps, Base):
    """One row per series (`measurement,tag=value,... field`), replaced at every forecast run."""

    __tablename__ = "forecasts"

    series_key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    measurement: Mapped[str] = mapped_column(String(200), index=True)
    field: Mapped[str] = mapped_column(String(200))
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    threshold: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32))
    last_value: Mapped[float] = mapped_column(Float)
    last_point_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # [[epoch seconds, predicted, lower, upper], ...] at the forecast step, up to the forecast horizon.
    forecast: Mapped[list[list[float]]] = mapped_column(JSONB, default=list)
    # When the series is predicted to cross `threshold` (None: not within the horizon), with its interval.
    exhausts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    exhausts_earliest: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exhausts_latest: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
