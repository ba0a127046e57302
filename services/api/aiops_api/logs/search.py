"""Semantic search over templates: the query is embedded with the worker's model, then the nearest
templates come from ChromaDB. The model starts loading in a thread when the app starts, and ChromaDB is
connected then too (`warm_up`: the model takes seconds, its first embedding and the connection half a second
each, and the first search should wait for none of them; ChromaDB down then is connected on first use).
Query embeddings are kept (QUERY_CACHE, least recently used out): a question asked again, or routed by meaning
and then searched (chat), is embedded once."""

import asyncio
import contextlib
from collections import OrderedDict

from aiops_api import background
from aiops_contracts.chroma import ChromaUnavailable, LogCollections, chroma_down_errors, connect_log_collections
from aiops_contracts.embeddings import TextEmbedder
from aiops_contracts.settings import CommonSettings

QUERY_CACHE = 1_024  # query embeddings kept (1.5 KiB each)


class LogSearch:
    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.embedder = TextEmbedder(settings.embedding_device)
        self._queries: OrderedDict[str, list[float]] = OrderedDict()
        self._collections: LogCollections | None = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task[None] | None = None

    def warm_up(self) -> None:
        """Load the model and connect ChromaDB in the background; a search arriving meanwhile waits for them."""
        self._warming = background.start(self._warm(), "log-search-warm-up")

    async def aclose(self) -> None:
        await background.stop(self._warming)

    async def _warm(self) -> None:
        with contextlib.suppress(ChromaUnavailable):  # down now: connected by the first search
            await self._ready()

    def _load(self) -> None:
        self.embedder.embed(["warm up"])  # loads the model, and runs it once: the first run is the slow one
        chroma_down_errors()  # imports chromadb

    async def embed_query(self, query: str) -> list[float]:
        if (vector := self._queries.get(query)) is None:
            (vector,) = await self.embedder.embed_async([query])
            self._queries[query] = vector
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        self._queries.move_to_end(query)
        return vector

    async def nearest_templates(self, query: str, limit: int) -> list[tuple[str, float]]:
        """(template id, cosine distance) of the templates nearest to `query`, nearest first."""
        collections = await self._ready()
        vector = await self.embed_query(query)
        try:
            reply = await collections.embeddings.query(query_embeddings=[vector], n_results=limit,
                                                       include=["distances"])
        except chroma_down_errors() as exc:
            raise ChromaUnavailable(str(exc)) from exc
        return list(zip(reply["ids"][0], (float(d) for d in reply["distances"][0])))

    async def _ready(self) -> LogCollections:
        async with self._lock:
            if self._collections is None:
                await asyncio.to_thread(self._load)
                self._collections = await connect_log_collections(self.settings)
        return self._collections
