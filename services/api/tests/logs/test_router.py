"""GET /api/v1/logs/...: templates and prototypes with counts and trend, semantic search; incident logs."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import chromadb
import pytest
from chromadb.errors import NotFoundError
from fastapi import FastAPI

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app
from aiops_contracts.chroma import EMBEDDINGS_COLLECTION, PROTOTYPES_COLLECTION, connect_log_collections
from aiops_contracts.db import Incident, IncidentEvent, LogPrototype, LogTemplate, LogTemplateCount
from aiops_contracts.embeddings import TextEmbedder

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TEMPLATES = {
    "t-oom": ("Out of memory: Killed process <*> (java)", "p-oom", 7),
    "t-oom2": ("Out of memory: Killed process <*> (python)", "p-oom", 3),
    "t-ssh": ("Accepted publickey for <*> from <*> port <*> ssh2", "p-ssh", 40),
    "t-disk": ("EXT4-fs error (device <*>): <*>", "p-disk", 2),
}


@pytest.fixture
async def app(api_settings, clean_db, redis) -> AsyncIterator[FastAPI]:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    settings = api_settings.model_copy(update={"chroma_collection_prefix": prefix})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
    url = urlparse(settings.chroma_url)
    client = await chromadb.AsyncHttpClient(host=url.hostname, port=url.port)
    for name in (PROTOTYPES_COLLECTION, EMBEDDINGS_COLLECTION):
        with contextlib.suppress(NotFoundError):  # a test that never searched created none
            await client.delete_collection(prefix + name)


@pytest.fixture
async def seeded(app: FastAPI, sessions) -> uuid.UUID:
    """Templates as the log task stores them (PostgreSQL rows, ChromaDB vectors) and one incident."""
    async with sessions.begin() as session:
        session.add_all(LogPrototype(id=p, title=p) for p in {"p-oom", "p-ssh", "p-disk"})
        await session.flush()
        for tid, (text, prototype, count) in TEMPLATES.items():
            session.add(LogTemplate(id=tid, template=text, prototype_id=prototype, severity="info", sample=text,
                                    count=count, first_seen_at=NOW - timedelta(hours=2), last_seen_at=NOW))
        await session.flush()
        for tid, (_, _, count) in TEMPLATES.items():
            session.add(LogTemplateCount(template_id=tid, bucket_start=NOW - timedelta(hours=1), count=count - 1))
            session.add(LogTemplateCount(template_id=tid, bucket_start=NOW, count=1))
        incident = Incident(group_key="log:p-oom:web-1", title=TEMPLATES["t-oom"][0], severity="critical",
                            status="open", event_count=2, hosts=["web-1"], services=["kernel"],
                            first_seen_at=NOW, last_seen_at=NOW,
                            details={"template_ids": ["t-oom"], "samples": [{"message": "Out of memory: Killed process 1 (java)"}]})
        session.add(incident)
        await session.flush()
        session.add(IncidentEvent(incident_id=incident.id, at=NOW, kind="opened", count=0, message="m"))
    collections = await connect_log_collections(app.state.settings)
    ids = list(TEMPLATES)
    vectors = TextEmbedder().embed([TEMPLATES[i][0] for i in ids])
    await collections.embeddings.upsert(ids=ids, embeddings=vectors, documents=[TEMPLATES[i][0] for i in ids])
    return incident.id


async def test_templates_with_counts_and_trend(client, auth, seeded) -> None:
    response = await client.get("/api/v1/logs/templates", headers=auth(Role.viewer))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [t["id"] for t in page["items"]] == ["t-ssh", "t-oom", "t-oom2", "t-disk"]
    assert [p["count"] for p in page["items"][0]["trend"]] == [39, 1]
    assert page["bucket_seconds"] == 3600
    only = await client.get("/api/v1/logs/templates?prototype_id=p-oom", headers=auth(Role.viewer))
    assert {t["id"] for t in only.json()["items"]} == {"t-oom", "t-oom2"}


async def test_prototypes_sum_their_templates(client, auth, seeded) -> None:
    response = await client.get("/api/v1/logs/prototypes", headers=auth(Role.viewer))
    assert response.status_code == 200
    oom = next(p for p in response.json() if p["id"] == "p-oom")
    assert (oom["template_count"], oom["count"]) == (2, 10)
    assert [p["count"] for p in oom["trend"]] == [8, 2]


async def test_semantic_search_finds_templates_by_meaning(client, auth, seeded) -> None:
    response = await client.get("/api/v1/logs/search", params={"q": "the machine ran out of RAM", "limit": 2},
                                headers=auth(Role.viewer))
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits[0]["template"]["id"] in {"t-oom", "t-oom2"}
    assert hits[0]["distance"] <= hits[1]["distance"]


async def test_incident_logs_give_templates_samples_and_timeline(client, auth, seeded) -> None:
    response = await client.get(f"/api/v1/incidents/{seeded}/logs", headers=auth(Role.viewer))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["id"] for t in body["templates"]] == ["t-oom"]
    assert body["samples"][0]["message"].startswith("Out of memory")
    assert [e["kind"] for e in body["timeline"]] == ["opened"]
    missing = await client.get(f"/api/v1/incidents/{uuid.uuid4()}/logs", headers=auth(Role.viewer))
    assert missing.status_code == 404


async def test_search_needs_a_query_and_a_token(client, auth) -> None:
    assert (await client.get("/api/v1/logs/search", headers=auth(Role.viewer))).status_code == 422
    assert (await client.get("/api/v1/logs/search?q=x")).status_code == 401
