"""Log task fixtures: a worker context with its own ChromaDB collection prefix (removed afterwards); the helpers
test_task.py and test_task_bound.py share (imported as services.worker.tests.logs.conftest, the module pytest loaded)."""

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import chromadb
import pytest
from chromadb.errors import NotFoundError
from sqlalchemy import select

from aiops_contracts.chroma import EMBEDDINGS_COLLECTION, PROTOTYPES_COLLECTION
from aiops_contracts.db import LogTemplate
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_worker.logs import store
from aiops_worker.logs.task import LogMiningTask
from aiops_worker.runtime.context import WorkerContext


@pytest.fixture
async def log_ctx(worker_ctx: WorkerContext) -> AsyncIterator[WorkerContext]:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    settings = worker_ctx.settings.model_copy(update={"chroma_collection_prefix": prefix})
    yield WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                        influx=worker_ctx.influx)
    url = urlparse(settings.chroma_url)
    client = await chromadb.AsyncHttpClient(host=url.hostname, port=url.port)
    for name in (PROTOTYPES_COLLECTION, EMBEDDINGS_COLLECTION):
        with contextlib.suppress(NotFoundError):  # a test that never searched created none
            await client.delete_collection(prefix + name)


LINES = [
    "<3>Mar  2 10:00:01 web-1 kernel: Out of memory: Killed process 4242 (java)",
    "<3>Mar  2 10:00:02 web-1 kernel: Out of memory: Killed process 4343 (java)",
    "<3>Mar  2 10:00:02 web-1 kernel: Out of memory: Killed process 4444 (python)",
    "<30>Mar  2 10:00:03 web-2 systemd[1]: Started Session 12 of user deploy.",
    "<30>Mar  2 10:00:04 web-2 systemd[1]: Started Session 13 of user deploy.",
    "<30>Mar  2 10:00:05 web-2 systemd[1]: Started Session 14 of user root.",
    "<27>Mar  2 10:00:06 db-1 postgres[77]: could not connect to server: Connection refused",
]


def logs_envelope(lines: list[str], envelope_id: str | None = None) -> Envelope:
    payload = LogsPayload(records=[LogRecord(message=line) for line in lines]).model_dump(mode="json")
    extra = {"id": envelope_id} if envelope_id else {}
    return Envelope(type=LOGS_RECEIVED, source="test", payload=payload, **extra)


async def templates(ctx: WorkerContext) -> dict[str, LogTemplate]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(LogTemplate).where(LogTemplate.merged_into.is_(None)))
        return {t.template: t for t in rows}


def without_embeddings(ctx: WorkerContext, **settings) -> WorkerContext:
    settings = ctx.settings.model_copy(update={"log_embeddings_enabled": False, **settings})
    return WorkerContext(settings=settings, redis=ctx.redis, sessions=ctx.sessions, influx=ctx.influx)


async def saved_state(ctx: WorkerContext) -> dict | None:
    async with ctx.sessions() as session:
        saved = await store.load_miner_state(session, LogMiningTask.name)
    return saved and json.loads(saved)
