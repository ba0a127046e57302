"""File tail: follows log files like `tail -F`, through rotation (rename + new file) and truncation
(copytruncate), and publishes their records as `logs.received`.

Multi-line records: a line that starts with whitespace, `Traceback`, `Caused by`, `at `, `... N more` or
an exception name (`ValueError: ...`, `java.io.IOException: ...`) continues the previous record (stack
traces). The last record is held back until the next record
starts or the file stops growing, so it is never cut in two.

Position: per path in Redis, the inode and generation of the file being read and the offset reached,
saved only after the records are published, so a restart neither skips nor repeats lines. The
generation counts how often the content at the path started over (truncated in place, or another file
under the name, maybe on a recycled inode): event ids are `sha256(path:inode:generation:offset of
their first record)`, so lines written again at offsets used before get new ids, instead of being
dropped downstream as already handled. Before publishing, the end of the batch is saved as "in
flight"; a restart after a crash between publishing and saving re-reads exactly that range and
publishes the same envelopes under the same ids, which the log task drops as already handled.

A path that cannot be opened for another reason than its absence (a directory, no permission) is logged
(once, and when the reason changes) and skipped; the other files are read, and it is tried again at each poll.

A record longer than `file_tail_max_record_bytes` is published in pieces that long: a line that never
ends must not hold up the lines after it. A record longer than a log line (LOG_LINE_MAX_CHARS) is published
whole, as consecutive records of at most that many characters (producers/log_records.py); an envelope that
starts with a later piece takes its id from the record's offset and the piece's index.
"""

import asyncio
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

import orjson

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogsPayload
from aiops_contracts.streams import FILE_TAIL_OFFSETS_KEY, LOGS_INGESTED
from aiops_contracts.text import without_nul
from aiops_worker.producers.base import Producer
from aiops_worker.producers.log_records import log_records
from aiops_worker.producers.settings import FileTailSettings
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
SOURCE = "file"
# Indented lines, traceback and "caused by" headers, and the exception line that ends a traceback.
CONTINUATION = re.compile(rb"^(?:[ \t]|Traceback|Caused by|at |\.\.\. \d+ more|[\w.$]+(?:Error|Exception|Exit|Interrupt)\b)")


@dataclass
class _Followed:
    path: str
    handle: BinaryIO | None = None
    inode: int = 0
    generation: int = 0  # times the content at this path started over at byte 0: part of the event ids
    offset: int = 0  # end of the last published record
    last_size: int = -1
    inflight_end: int | None = None  # a batch up to here was being published when we last stopped
    pending_end: int | None = None  # end of the batch `poll` returned, saved once published
    next_from_start: bool = False  # the file replacing a rotated one is read from its start
    error: str | None = None  # why the path cannot be opened (logged once), None while it can

    def start_over(self, inode: int) -> None:
        """Read from byte 0 under a new generation: the offsets to come were used for other lines."""
        self.inode, self.generation, self.offset, self.inflight_end = inode, self.generation + 1, 0, None


def split_records(data: bytes, base: int, flush: bool) -> tuple[list[tuple[int, bytes]], int]:
    """Records (start offset, bytes) in `data` read at offset `base`, and the offset after the last one.
    Without `flush` the last record (and any unterminated line) stays unread: it may go on."""
    records: list[tuple[int, list[bytes]]] = []
    *lines, partial = data.split(b"\n")
    if flush and partial:
        lines.append(partial)
    position = base
    for line in lines:
        if line.strip():
            if records and CONTINUATION.match(line):
                records[-1][1].append(line)
            else:
                records.append((position, [line]))
        position += len(line) + 1
    if not flush:
        end = records.pop()[0] if records else position
    else:
        end = min(position, base + len(data))
    return [(start, b"\n".join(parts)) for start, parts in records], end


class FileTailProducer(Producer[FileTailSettings]):
    name = "file-tail"
    stream = LOGS_INGESTED
    settings_model = FileTailSettings

    def __init__(self, ctx: WorkerContext, settings: FileTailSettings | None = None) -> None:
        super().__init__(ctx, settings)
        self.files = [_Followed(path) for path in self.settings.file_tail_paths]
        self.offsets_key = ctx.settings.redis_key(FILE_TAIL_OFFSETS_KEY)

    @classmethod
    def enabled(cls, settings: FileTailSettings) -> bool:
        return bool(settings.file_tail_paths)

    @property
    def interval_s(self) -> float:
        return self.settings.file_tail_interval_s

    async def poll(self) -> list[Envelope]:
        envelopes: list[Envelope] = []
        for followed in self.files:
            envelopes += await self._poll_file(followed)
        return envelopes

    async def published(self, envelopes: list[Envelope]) -> None:
        for followed in self.files:
            if followed.pending_end is not None:
                followed.offset, followed.pending_end, followed.inflight_end = followed.pending_end, None, None
                await self._save(followed, inflight=None)

    async def _poll_file(self, followed: _Followed) -> list[Envelope]:
        if followed.handle is None and not await self._open(followed):
            return []
        assert followed.handle is not None
        try:
            size = os.fstat(followed.handle.fileno()).st_size
        except OSError as exc:
            return self._read_failed(followed, exc)
        if size < followed.offset:  # truncated in place (copytruncate)
            followed.start_over(followed.inode)
            await self._save(followed, inflight=None)
        rotated = _inode(followed.path) != followed.inode
        limit = followed.inflight_end if followed.inflight_end is not None else size
        chunk = self.settings.file_tail_max_record_bytes
        try:
            data = await asyncio.to_thread(_read, followed.handle, followed.offset,
                                           min(limit - followed.offset, chunk))
        except OSError as exc:
            return self._read_failed(followed, exc)
        idle = size == followed.last_size or rotated or followed.inflight_end is not None
        followed.last_size = size
        records, end = split_records(data, followed.offset, flush=idle and len(data) < chunk)
        if not records and len(data) == chunk:  # one record fills the whole read: cut it here
            records, end = split_records(data, followed.offset, flush=True)
        if not records:
            if rotated and end >= size:  # the old file is read to its end: follow the new one
                followed.handle.close()
                followed.handle, followed.last_size, followed.next_from_start = None, -1, True
            return []
        followed.pending_end = end
        await self._save(followed, inflight=end)
        return self._envelopes(followed, records)

    async def _open(self, followed: _Followed) -> bool:
        try:
            handle = open(followed.path, "rb")  # noqa: SIM115, ASYNC230 - kept open to finish a rotated file
        except FileNotFoundError:
            return False
        except OSError as exc:  # this path only (a directory, no permission): the other files go on
            self._unreadable(followed, exc)
            return False
        if followed.error is not None:
            log.info("file readable again, followed", extra={"path": followed.path})
            followed.error = None
        stat = os.fstat(handle.fileno())
        followed.handle = handle
        saved = await self.redis.hget(self.offsets_key, followed.path)
        if saved is None:  # never followed before: its history is read only when configured
            followed.inode, followed.generation = stat.st_ino, 0
            followed.offset = 0 if followed.next_from_start or self.settings.file_tail_from_start else stat.st_size
        else:
            state = orjson.loads(saved)
            followed.generation = state["generation"]
            if followed.next_from_start or state["inode"] != stat.st_ino or stat.st_size < state["offset"]:
                # Rotated, or truncated while we were not looking: the saved offset is not this content's.
                followed.start_over(stat.st_ino)
            else:
                followed.inode, followed.offset, followed.inflight_end = stat.st_ino, state["offset"], state["inflight"]
        await self._save(followed, inflight=followed.inflight_end)  # a restart must find this file's position
        return True

    def _read_failed(self, followed: _Followed, exc: OSError) -> list[Envelope]:
        """An I/O error reading an open file: closed, opened again at a later poll from its saved position."""
        assert followed.handle is not None
        followed.handle.close()
        followed.handle, followed.last_size = None, -1
        self._unreadable(followed, exc)
        return []

    def _unreadable(self, followed: _Followed, exc: OSError) -> None:
        """Logged when it starts or changes, not at every poll; the path is tried again at each poll."""
        error = f"{type(exc).__name__}: {exc.strerror or exc}"
        if error != followed.error:
            log.warning("file not readable, skipped until it is", extra={"path": followed.path, "error": error})
        followed.error = error

    async def _save(self, followed: _Followed, inflight: int | None) -> None:
        state = {"inode": followed.inode, "generation": followed.generation, "offset": followed.offset,
                 "inflight": inflight}
        await self.redis.hset(self.offsets_key, followed.path, orjson.dumps(state))

    def _envelopes(self, followed: _Followed, records: list[tuple[int, bytes]]) -> list[Envelope]:
        # Each piece of a record longer than a log line is placed by its record's offset and its index there.
        pieces = [(f"{start}+{n}" if n else str(start), piece) for start, raw in records
                  for n, piece in enumerate(log_records(without_nul(raw.decode("utf-8", errors="replace").rstrip("\r"))))]
        size = self.settings.logs_envelope_max_records
        envelopes = []
        for i in range(0, len(pieces), size):
            chunk = pieces[i:i + size]
            origin = f"{followed.path}:{followed.inode}:{followed.generation}:{chunk[0][0]}"
            event_id = hashlib.sha256(origin.encode()).hexdigest()[:32]
            payload = LogsPayload(labels={"path": followed.path}, records=[piece for _, piece in chunk])
            envelopes.append(Envelope(id=event_id, type=LOGS_RECEIVED, source=SOURCE,
                                      payload=payload.model_dump(mode="json", exclude_defaults=True)))
        return envelopes


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _read(handle: BinaryIO, offset: int, length: int) -> bytes:
    if length <= 0:
        return b""
    handle.seek(offset)
    return handle.read(length)
