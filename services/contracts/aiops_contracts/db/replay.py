"""Dry-run replays an admin started (POST /api/v1/replay): who, the params, and the worker's result."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base, Timestamps, UUIDPrimaryKey


class ReplayRun(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "replay_runs"

    requested_by: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)  # aiops_contracts.replay.ReplayStatus
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)  # aiops_contracts.replay.ReplayParams
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # worker replay/diff.py
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The worker replaying the run, and when it last said so (renewed while it replays: worker replay/task.py)
    owner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
