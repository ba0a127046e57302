"""Enrichment fixtures: each test gets its own ChromaDB `incidents` collection (a prefix, removed afterwards)."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import chromadb
import pytest
from chromadb.errors import NotFoundError

from aiops_contracts.chroma import INCIDENTS_COLLECTION
from aiops_worker.settings import WorkerSettings


@pytest.fixture(autouse=True)
async def incidents_collection(worker_settings: WorkerSettings) -> AsyncIterator[None]:
    worker_settings.chroma_collection_prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield
    url = urlparse(worker_settings.chroma_url)
    client = await chromadb.AsyncHttpClient(host=url.hostname, port=url.port)
    with contextlib.suppress(NotFoundError):  # a test that never asked created none
        await client.delete_collection(worker_settings.chroma_collection_prefix + INCIDENTS_COLLECTION)
