"""/api/v1/topology: declared edges (normalised names, audited, admin only), the graph with open incidents."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_contracts.db import AuditEntry, Incident, TopologyEdge

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_declared_edges_are_normalised_audited_and_shown_with_open_incidents(client, auth, sessions) -> None:
    async with sessions.begin() as session:
        session.add(Incident(id=uuid.uuid4(), group_key="alert:host:db-1", title="latency", summary="", severity="high",
                             status="open", event_count=1, hosts=["db-1"], services=[], details={},
                             first_seen_at=T0, last_seen_at=T0))
    admin = auth(Role.admin)
    runs = await client.post("/api/v1/topology/edges", headers=admin,
                             json={"kind": "runs_on", "source": "Postgres", "target": "db-1.prod.example.com:5432"})
    depends = await client.post("/api/v1/topology/edges", headers=admin,
                                json={"kind": "depends_on", "source": "checkout", "target": "postgres"})
    assert (runs.status_code, depends.status_code) == (201, 201)
    assert (runs.json()["source"], runs.json()["target"], runs.json()["origin"]) == ("postgres", "db-1", "declared")
    graph = (await client.get("/api/v1/topology", headers=auth(Role.viewer))).json()
    assert {(n["kind"], n["name"], n["open_incidents"]) for n in graph["nodes"]} == {
        ("host", "db-1", 1), ("service", "postgres", 0), ("service", "checkout", 0)}
    assert [(e["kind"], e["source"], e["target"]) for e in graph["edges"]] == [
        ("depends_on", "checkout", "postgres"), ("runs_on", "postgres", "db-1")]
    deleted = await client.delete(f"/api/v1/topology/edges/{depends.json()['id']}", headers=admin)
    assert deleted.status_code == 204
    async with sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["topology.edge_declared", "topology.edge_declared", "topology.edge_deleted"]


async def test_bad_edges_are_refused_with_the_reason(client, auth) -> None:
    admin = auth(Role.admin)
    itself = await client.post("/api/v1/topology/edges", headers=admin,
                               json={"kind": "depends_on", "source": "checkout", "target": "Checkout"})
    assert itself.status_code == 400 and "itself" in itself.json()["detail"]
    kind = await client.post("/api/v1/topology/edges", headers=admin, json={"kind": "near", "source": "a", "target": "b"})
    assert kind.status_code == 422
    operator = await client.post("/api/v1/topology/edges", headers=auth(Role.operator),
                                 json={"kind": "depends_on", "source": "a", "target": "b"})
    assert operator.status_code == 403
    missing = await client.delete("/api/v1/topology/edges/999999", headers=admin)
    assert missing.status_code == 404


async def test_learned_labels_are_shown_on_edges_and_nodes(client, auth, sessions) -> None:
    """The environment and release the signals named (kept on the learned edges) are shown on the edge and on
    its service and host, a host taking the labels of every service running on it."""
    async with sessions.begin() as session:
        session.add_all([
            TopologyEdge(kind="runs_on", source="checkout", target="web-1", origin="learned",
                         labels={"environment": "production", "release": "checkout@4.12.0"}),
            TopologyEdge(kind="runs_on", source="sshd", target="web-1", origin="learned", labels={})])
    graph = (await client.get("/api/v1/topology", headers=auth(Role.viewer))).json()
    assert {(e["source"], e["target"]): e["labels"] for e in graph["edges"]} == {
        ("checkout", "web-1"): {"environment": "production", "release": "checkout@4.12.0"}, ("sshd", "web-1"): {}}
    assert {(n["kind"], n["name"]): n["labels"] for n in graph["nodes"]} == {
        ("service", "checkout"): {"environment": "production", "release": "checkout@4.12.0"}, ("service", "sshd"): {},
        ("host", "web-1"): {"environment": "production", "release": "checkout@4.12.0"}}
