"""Prototypes: templates that mean the same kind of event, found by nearest neighbour in embedding space.

A template is embedded once (cached by template id: in memory, then in the `log_embeddings`
collection), then routed to the nearest prototype when its cosine distance is below the threshold;
otherwise it founds a new prototype (id = its own id). Templates routed in one call also see the
prototypes founded earlier in that call, so two similar new templates end up together.
"""

from dataclasses import dataclass

from aiops_contracts.chroma import ChromaUnavailable, LogCollections, chroma_down_errors
from aiops_contracts.embeddings import TextEmbedder

_CACHE_MAX = 50_000  # template vectors kept in memory


@dataclass(frozen=True)
class Prototype:
    id: str
    title: str


class PrototypeRouter:
    def __init__(self, collections: LogCollections, embedder: TextEmbedder, threshold: float) -> None:
        self.collections = collections
        self.embedder = embedder
        self.threshold = threshold
        self._vectors: dict[str, list[float]] = {}

    async def route(self, templates: dict[str, str]) -> dict[str, Prototype]:
        """The prototype of each template (id -> text); stores the templates and new prototypes in ChromaDB."""
        if not templates:
            return {}
        try:
            return await self._route(templates)
        except chroma_down_errors() as exc:
            raise ChromaUnavailable(str(exc)) from exc

    async def forget(self, template_ids: list[str]) -> None:
        """Drop templates the miner merged into others (the survivor stays searchable)."""
        if template_ids:
            try:
                await self.collections.embeddings.delete(ids=template_ids)
            except chroma_down_errors() as exc:
                raise ChromaUnavailable(str(exc)) from exc

    async def _route(self, templates: dict[str, str]) -> dict[str, Prototype]:
        ids = list(templates)
        vectors = await self._vectors_of(templates)
        nearest = await self._nearest([vectors[i] for i in ids])
        founded: dict[str, tuple[list[float], Prototype]] = {}
        routed: dict[str, Prototype] = {}
        for template_id, (distance, prototype) in zip(ids, nearest):
            vector = vectors[template_id]
            for other_vector, other in founded.values():
                other_distance = 1.0 - sum(a * b for a, b in zip(vector, other_vector))
                if other_distance < distance:
                    distance, prototype = other_distance, other
            if prototype is None or distance >= self.threshold:
                prototype = Prototype(template_id, templates[template_id])
                founded[template_id] = (vector, prototype)
            routed[template_id] = prototype
        await self._store(templates, vectors, routed, founded)
        return routed

    async def _vectors_of(self, templates: dict[str, str]) -> dict[str, list[float]]:
        missing = [i for i in templates if i not in self._vectors]
        if missing:
            stored = await self.collections.embeddings.get(ids=missing, include=["embeddings"])
            for template_id, vector in zip(stored["ids"], stored["embeddings"]):
                self._remember(template_id, [float(x) for x in vector])
        to_embed = [i for i in templates if i not in self._vectors]
        for template_id, vector in zip(to_embed, await self.embedder.embed_async([templates[i] for i in to_embed])):
            self._remember(template_id, vector)
        return {i: self._vectors[i] for i in templates}

    def _remember(self, template_id: str, vector: list[float]) -> None:
        if len(self._vectors) >= _CACHE_MAX:
            self._vectors.clear()
        self._vectors[template_id] = vector

    async def _nearest(self, vectors: list[list[float]]) -> list[tuple[float, Prototype | None]]:
        if await self.collections.prototypes.count() == 0:
            return [(2.0, None)] * len(vectors)
        reply = await self.collections.prototypes.query(query_embeddings=vectors, n_results=1,
                                                        include=["distances", "documents"])
        return [(float(distances[0]), Prototype(ids[0], documents[0])) if ids else (2.0, None)
                for ids, distances, documents in zip(reply["ids"], reply["distances"], reply["documents"])]

    async def _store(self, templates: dict[str, str], vectors: dict[str, list[float]],
                     routed: dict[str, Prototype], founded: dict[str, tuple[list[float], Prototype]]) -> None:
        if founded:
            await self.collections.prototypes.upsert(
                ids=list(founded), embeddings=[v for v, _ in founded.values()],
                documents=[p.title for _, p in founded.values()])
        ids = list(templates)
        await self.collections.embeddings.upsert(
            ids=ids, embeddings=[vectors[i] for i in ids], documents=[templates[i] for i in ids],
            metadatas=[{"prototype_id": routed[i].id} for i in ids])
