"""Topology: which services run on which hosts, and which services depend on which. Learned from the labels
of arriving signals (`runs_on`) and declared by an admin through the API or a YAML file (`depends_on`,
`runs_on`). The incident aggregator correlates signals on this graph."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base


class TopologyEdge(Base):
    """One edge: `runs_on` (service -> host) or `depends_on` (service -> service). `origin` is `learned`,
    `declared` (API) or `file` (YAML); a declared edge stays declared when signals confirm it."""

    __tablename__ = "topology_edges"
    __table_args__ = (UniqueConstraint("kind", "source", "target"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255), index=True)
    target: Mapped[str] = mapped_column(String(255), index=True)
    origin: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
