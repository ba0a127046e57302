"""The archive of accepted alerts, logs and errors (worker archive/ task): gzip-compressed batches of envelopes
kept for a retention, so a replay has them after the streams were trimmed. Used when ARCHIVE_BACKEND=postgres;
the filesystem backend keeps the same batches as files under ARCHIVE_PATH."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aiops_contracts.db.base import Base


class ArchiveBatch(Base):
    """One batch of one stream: `data` is gzip of JSON lines, one envelope a line. `digest` (of the entry
    ids) makes a redelivered batch a no-op."""

    __tablename__ = "archive_batches"
    __table_args__ = (UniqueConstraint("stream", "digest"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stream: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # earliest envelope time
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # latest envelope time
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
