"""The names a question is matched against are read again at most every KNOWN_NAMES_SECONDS: questions asked at
the same time share one read, and a host that first appears in the meantime is recognised once they are read
again. Citation links encode the names they carry."""

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.tokens import Role
from aiops_api.chat.intents import Known
from aiops_api.chat.retrieval import KnownNames, source_link
from aiops_contracts.db import Incident
from aiops_contracts.events import IncidentStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def _open_incident_on(sessions: async_sessionmaker[AsyncSession], host: str) -> None:
    async with sessions.begin() as session:
        session.add(Incident(id=uuid.uuid4(), group_key=host, title=f"{host} down", severity="warning",
                             status=IncidentStatus.open, event_count=1, hosts=[host], services=[], details={},
                             first_seen_at=NOW, last_seen_at=NOW))


async def _read(sessions: async_sessionmaker[AsyncSession], known: KnownNames) -> Known:
    async with sessions() as session:
        return await known.get(session)


async def test_questions_asked_at_once_share_one_read(sessions, clean_db) -> None:
    await _open_incident_on(sessions, "web-1")
    known = KnownNames()
    read = await asyncio.gather(*(_read(sessions, known) for _ in range(5)))
    assert all(names is read[0] for names in read)  # each read builds its own Known
    assert read[0].hosts.longest_in("is web-1 down") == "web-1"


async def test_a_new_host_is_recognised_once_the_names_are_read_again(sessions, clean_db) -> None:
    await _open_incident_on(sessions, "web-1")
    kept, read_each_time = KnownNames(ttl_s=3600), KnownNames(ttl_s=0)
    await _read(sessions, kept)
    await _open_incident_on(sessions, "web-2")
    assert (await _read(sessions, kept)).hosts.longest_in("is web-2 down") is None
    assert (await _read(sessions, read_each_time)).hosts.longest_in("is web-2 down") == "web-2"


async def test_citation_links_encode_the_names_they_carry(client, auth, sessions, clean_db) -> None:
    await _open_incident_on(sessions, "rack a/web#3?x=1")
    response = await client.post("/api/v1/chat", json={"question": "what is wrong with rack a/web#3?x=1"},
                                 headers=auth(Role.viewer))
    host = next(c for c in response.json()["citations"] if c["kind"] == "host")
    assert host["link"] == "/fleet/rack%20a%2Fweb%233%3Fx%3D1"
    assert source_link("a&b=c d") == "/alerts?source=a%26b%3Dc%20d"
