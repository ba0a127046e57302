"""Similar past incidents: each resolved incident is embedded with our own model (aiops_contracts.embeddings)
into its own ChromaDB collection, and how it was resolved (by whom, which actions, how long) is kept in
`incident_resolutions` (the worker's IncidentMemoryTask writes both). Enrichment asks for the resolved
incidents nearest in meaning to an incident and keeps them, with their resolutions, in its evidence (which the
chat's "what happened last time" reads)."""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.chroma import INCIDENTS_COLLECTION, ChromaUnavailable, chroma_down_errors, connect_collections
from aiops_contracts.db import Incident, IncidentResolution
from aiops_contracts.embeddings import TextEmbedder
from aiops_contracts.events import IncidentStatus
from aiops_contracts.settings import CommonSettings

MAX_DISTANCE = 0.5  # cosine distance beyond which a past incident is not "like" this one
SAMPLES = 3  # sample lines of an incident that describe it, besides its title and services


def incident_text(incident: Incident) -> str:
    """What an incident is about, in words: title, a few sample lines, services (no ids or times)."""
    samples = [str(s.get("message", "")) for s in incident.details.get("samples", [])[:SAMPLES]]
    return "\n".join([incident.title, *samples, " ".join(incident.services)]).strip()


@dataclass(frozen=True)
class PastIncident:
    incident: Incident
    resolution: IncidentResolution
    distance: float


class IncidentMemory:
    """The `incidents` collection; connected on first use. Raises ChromaUnavailable while ChromaDB is down."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.embedder = TextEmbedder(settings.embedding_device)
        self._collection: Any = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Load the embedding model now (seconds of CPU, once per process), not when the first incident needs it."""
        await asyncio.to_thread(self.embedder.load)

    async def remember(self, incident: Incident) -> None:
        (vector,) = await self.embedder.embed_async([incident_text(incident)])
        collection = await self._ready()
        try:
            await collection.upsert(ids=[str(incident.id)], embeddings=[vector],
                                    metadatas=[{"first_seen_at": incident.first_seen_at.timestamp()}])
        except chroma_down_errors() as exc:
            raise ChromaUnavailable(str(exc)) from exc

    async def similar(self, session: AsyncSession, incident: Incident, limit: int = 5) -> list[PastIncident]:
        """Resolved incidents that began before `incident` and are near it in meaning, nearest first."""
        (vector,) = await self.embedder.embed_async([incident_text(incident)])
        collection = await self._ready()
        try:
            reply = await collection.query(query_embeddings=[vector], n_results=limit + 1, include=["distances"],
                                           where={"first_seen_at": {"$lt": incident.first_seen_at.timestamp()}})
        except chroma_down_errors() as exc:
            raise ChromaUnavailable(str(exc)) from exc
        distances = {uuid.UUID(i): float(d) for i, d in zip(reply["ids"][0], reply["distances"][0], strict=True)
                     if float(d) <= MAX_DISTANCE and i != str(incident.id)}
        rows = (await session.execute(
            select(Incident, IncidentResolution).join(IncidentResolution)
            .where(Incident.id.in_(distances), Incident.status == IncidentStatus.resolved))).all()
        past = [PastIncident(i, r, distances[i.id]) for i, r in rows]
        return sorted(past, key=lambda p: p.distance)[:limit]

    async def _ready(self) -> Any:
        async with self._lock:
            if self._collection is None:
                await self.load()
                (self._collection,) = await connect_collections(self.settings, INCIDENTS_COLLECTION)
        return self._collection
