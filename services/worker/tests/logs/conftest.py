"""Log task fixtures: a worker context with its own ChromaDB collection prefix (removed afterwards)."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import chromadb
import pytest
from chromadb.errors import NotFoundError

from aiops_contracts.chroma import EMBEDDINGS_COLLECTION, PROTOTYPES_COLLECTION
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
