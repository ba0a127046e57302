"""Log intelligence: mined templates with their counts, prototypes (groups of similar templates) and the
template miner's state. Embeddings live in ChromaDB; these tables hold what the API lists and counts."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base


class LogPrototype(Base):
    """A group of templates that mean the same kind of event (nearest neighbours in embedding space)."""

    __tablename__ = "log_prototypes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the id of its first template
    title: Mapped[str] = mapped_column(Text)  # that template's text
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LogTemplate(Base):
    """One template of the miner (its stable id), with lifetime counts and its prototype."""

    __tablename__ = "log_templates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(Text)
    # NULL: not embedded yet (waits for the periodic clustering pass).
    prototype_id: Mapped[str | None] = mapped_column(ForeignKey("log_prototypes.id"), index=True)
    merged_into: Mapped[str | None] = mapped_column(String(64))  # set when the miner merged it into another
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    sample: Mapped[str] = mapped_column(Text, default="")  # one raw message, for people reading the list
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LogTemplateCount(Base):
    """Lines per template per time bucket: the trend the API shows."""

    __tablename__ = "log_template_counts"

    template_id: Mapped[str] = mapped_column(ForeignKey("log_templates.id", ondelete="CASCADE"), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class LogMinerState(Base):
    """The template miner's serialised state, saved with the counts it produced (one row per miner)."""

    __tablename__ = "log_miner_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
