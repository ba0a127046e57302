"""ChromaDB collections of log intelligence, shared by the worker (writes) and the API (search).

Every call passes our own embeddings (aiops_contracts.embeddings); collections are created with
`embedding_function=None` so Chroma never embeds anything itself. Distances are cosine.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from aiops_contracts.settings import CommonSettings

PROTOTYPES_COLLECTION = "log_prototypes"  # one vector per prototype (the embedding of its first template)
EMBEDDINGS_COLLECTION = "log_embeddings"  # one vector per template, metadata: template, prototype_id
INCIDENTS_COLLECTION = "incidents"  # one vector per resolved incident (aiops_contracts.incident_memory)


class ChromaUnavailable(ConnectionError):
    """ChromaDB is unreachable or failing. A ConnectionError, so stream consumers wait and retry."""


def chroma_down_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "ChromaDB is down or failing", not "this request is wrong". A function, so that
    chromadb (a second to import) is imported only once a client is made, never at service start."""
    from chromadb.errors import InternalError

    return httpx.TransportError, InternalError


@dataclass
class LogCollections:
    prototypes: Any  # chromadb AsyncCollection
    embeddings: Any


async def connect_log_collections(settings: CommonSettings) -> LogCollections:
    return LogCollections(*await connect_collections(settings, PROTOTYPES_COLLECTION, EMBEDDINGS_COLLECTION))


async def connect_collections(settings: CommonSettings, *names: str) -> list[Any]:
    """The named collections (created when missing, cosine, no embedding function of Chroma's own)."""
    import chromadb

    url = urlparse(settings.chroma_url)
    try:
        client = await chromadb.AsyncHttpClient(
            host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
        )
        return [
            await client.get_or_create_collection(
                settings.chroma_collection_prefix + name, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
            for name in names
        ]
    except chroma_down_errors() as exc:
        raise ChromaUnavailable(str(exc)) from exc
