"""Where the archive keeps its batches: PostgreSQL (`archive_batches`) or files under ARCHIVE_PATH
(ARCHIVE_BACKEND). A batch is the envelopes of one handled stream batch as gzip-compressed JSON lines.

Both backends write idempotently (a batch is named by the digest of its envelope ids, so a redelivered batch
lands on itself), read the batches overlapping a time range (envelope times), and prune the batches whose
newest envelope is older than a cutoff. A file is written to a temporary name, synced, then renamed: a
batch is either whole or absent. A batch split otherwise on redelivery may repeat envelopes: readers
dedupe them by envelope id (`read` does).
"""

import asyncio
import gzip
import hashlib
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import ArchiveBatch
from aiops_contracts.envelope import Envelope
from aiops_worker.runtime.consumer import Delivery
from aiops_worker.settings import WorkerSettings

PRUNE_BATCH = 1_000  # rows deleted per transaction
BATCHES_PER_FETCH = 16  # batches a replay's read holds in memory from PostgreSQL at a time
_BATCHES = ArchiveBatch.__table__


@dataclass(frozen=True)
class Batch:
    stream: str
    digest: str
    first_at: datetime
    last_at: datetime
    count: int
    data: bytes


def pack(stream: str, deliveries: Sequence[Delivery]) -> Batch:
    """The batch of the deliveries' envelopes, each kept as its publisher wrote it when the stream entry held all of
    it (serialising it again was a third of the archive's CPU), else as dumped here."""
    envelopes = [d.envelope for d in deliveries]
    digest = hashlib.sha256("\n".join(sorted(e.id for e in envelopes)).encode()).hexdigest()
    lines = (d.document or d.envelope.model_dump_json().encode() for d in deliveries)
    data = gzip.compress(b"\n".join(lines), compresslevel=6)
    times = [e.time for e in envelopes]
    return Batch(stream, digest, min(times), max(times), len(envelopes), data)


def unpack(data: bytes) -> list[Envelope]:
    return [Envelope.model_validate_json(line) for line in gzip.decompress(data).splitlines() if line]


class Archive(Protocol):
    async def write(self, batch: Batch) -> None: ...

    def batches(self, stream: str, start: datetime, end: datetime) -> AsyncGenerator[bytes, None]:
        """The data of the stream's batches overlapping [start, end), oldest first, each read when asked for
        (a range may hold far more than a replay reads)."""

    async def prune(self, before: datetime) -> int:
        """Delete the batches whose newest envelope is older than `before`; returns how many."""


class PostgresArchive:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def write(self, batch: Batch) -> None:
        async with self.sessions.begin() as session:
            await session.execute(insert(ArchiveBatch).values(
                stream=batch.stream, digest=batch.digest, first_at=batch.first_at, last_at=batch.last_at,
                count=batch.count, data=batch.data).on_conflict_do_nothing(index_elements=["stream", "digest"]))

    async def batches(self, stream: str, start: datetime, end: datetime) -> AsyncGenerator[bytes, None]:
        async with self.sessions() as session:
            rows = await session.stream_scalars(
                select(ArchiveBatch.data).where(ArchiveBatch.stream == stream, ArchiveBatch.last_at >= start,
                                                ArchiveBatch.first_at < end).order_by(ArchiveBatch.first_at)
                .execution_options(yield_per=BATCHES_PER_FETCH))
            async for data in rows:
                yield data

    async def prune(self, before: datetime) -> int:
        deleted = 0
        while True:
            async with self.sessions.begin() as session:
                batch = select(_BATCHES.c.id).where(_BATCHES.c.last_at < before).limit(PRUNE_BATCH)
                count = (await session.execute(delete(_BATCHES).where(_BATCHES.c.id.in_(batch)))).rowcount
            deleted += count
            if count < PRUNE_BATCH:
                return deleted


class FilesystemArchive:
    """`<path>/<stream with : as _>/<first ms>-<last ms>-<digest>.jsonl.gz`: the range is in the name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def write(self, batch: Batch) -> None:
        await asyncio.to_thread(self._write, batch)

    async def batches(self, stream: str, start: datetime, end: datetime) -> AsyncGenerator[bytes, None]:
        for path in await asyncio.to_thread(self._paths, stream, _ms(start), _ms(end)):
            yield await asyncio.to_thread(path.read_bytes)

    async def prune(self, before: datetime) -> int:
        return await asyncio.to_thread(self._prune, _ms(before))

    def _folder(self, stream: str) -> Path:
        return self.path / stream.replace(":", "_")

    def _write(self, batch: Batch) -> None:
        folder = self._folder(batch.stream)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{_ms(batch.first_at)}-{_ms(batch.last_at)}-{batch.digest}.jsonl.gz"
        if final.exists():
            return
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(batch.data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, final)
        descriptor = os.open(folder, os.O_RDONLY)  # the rename itself survives a crash once the folder is synced
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _paths(self, stream: str, start_ms: int, end_ms: int) -> list[Path]:
        found = sorted((first, path) for path, first, last in self._files(self._folder(stream))
                       if last >= start_ms and first < end_ms)
        return [path for _, path in found]

    def _prune(self, before_ms: int) -> int:
        pruned = 0
        if self.path.is_dir():
            for folder in self.path.iterdir():
                for path, _, last in self._files(folder):
                    if last < before_ms:
                        path.unlink(missing_ok=True)
                        pruned += 1
        return pruned

    @staticmethod
    def _files(folder: Path) -> list[tuple[Path, int, int]]:
        if not folder.is_dir():
            return []
        files = []
        for path in folder.glob("*.jsonl.gz"):
            first, last, _ = path.name.split("-", 2)
            files.append((path, int(first), int(last)))
        return files


def open_archive(settings: WorkerSettings, sessions: async_sessionmaker[AsyncSession]) -> Archive:
    if settings.archive_backend == "filesystem":
        return FilesystemArchive(Path(settings.archive_path))
    return PostgresArchive(sessions)


def _one(envelope: Envelope) -> int:
    return 1


async def read(archive: Archive, stream: str, start: datetime, end: datetime, limit: int,
               weight: Callable[[Envelope], int] = _one) -> tuple[list[Envelope], bool]:
    """The stream's envelopes of [start, end), each once, in time order, the oldest whose weights (by default 1
    each; a replay weighs a log envelope by its lines) add up to at most `limit`; and whether more were left out.
    Reading stops at the first batch after the weights read passed `limit`."""
    seen: dict[str, Envelope] = {}
    weighed = 0
    async with aclosing(archive.batches(stream, start, end)) as batches:
        async for data in batches:
            if weighed > limit:  # batches come oldest first: the rest is later than what is kept
                break
            for envelope in await asyncio.to_thread(unpack, data):
                if start <= envelope.time < end and envelope.id not in seen:
                    seen[envelope.id] = envelope
                    weighed += weight(envelope)
    kept: list[Envelope] = []
    left = limit
    for envelope in sorted(seen.values(), key=lambda e: e.time):
        left -= weight(envelope)
        if left < 0:
            break
        kept.append(envelope)
    return kept, len(kept) < len(seen)


def _ms(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() * 1000)
