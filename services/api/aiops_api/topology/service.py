"""The topology graph: read it (with the open incidents of each node), declare and remove edges (audited).
Names are normalised the way the aggregator normalises signal labels (aiops_contracts.topology)."""

from collections import Counter, defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.errors import BadRequest, NotFound
from aiops_api.topology.schemas import TopologyEdgeCreate, TopologyEdgeRead, TopologyNode, TopologyRead
from aiops_contracts.db import Incident, TopologyEdge
from aiops_contracts.events import IncidentStatus
from aiops_contracts.topology import RUNS_ON, host_name, service_name


async def get_topology(session: AsyncSession) -> TopologyRead:
    edges = list(await session.scalars(select(TopologyEdge).order_by(TopologyEdge.kind, TopologyEdge.source,
                                                                     TopologyEdge.target)))
    hosts: Counter[str] = Counter({e.target: 0 for e in edges if e.kind == RUNS_ON})
    services: Counter[str] = Counter({name: 0 for e in edges for name in (e.source, *(() if e.kind == RUNS_ON else (e.target,)))})
    open_rows = await session.execute(select(Incident.hosts, Incident.services).where(
        Incident.status.in_((IncidentStatus.open, IncidentStatus.acknowledged))))
    for incident_hosts, incident_services in open_rows:
        hosts.update(incident_hosts)
        services.update(incident_services)
    labels: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for e in sorted((e for e in edges if e.kind == RUNS_ON and e.labels), key=lambda e: e.last_seen_at):
        labels["service", e.source].update(e.labels)
        labels["host", e.target].update(e.labels)
    nodes = [TopologyNode(name=n, kind="service", open_incidents=c, labels=labels.get(("service", n), {}))
             for n, c in sorted(services.items())]
    nodes += [TopologyNode(name=n, kind="host", open_incidents=c, labels=labels.get(("host", n), {}))
              for n, c in sorted(hosts.items())]
    return TopologyRead(nodes=nodes, edges=[TopologyEdgeRead.model_validate(e) for e in edges])


async def declare_edge(session: AsyncSession, *, edge: TopologyEdgeCreate, actor: str) -> TopologyEdgeRead:
    """Declare an edge (an existing learned one becomes declared); audited."""
    source = service_name(edge.source)
    target = host_name(edge.target) if edge.kind == RUNS_ON else service_name(edge.target)
    if not source or not target:
        raise BadRequest("source and target must name a service and a host or service")
    if edge.kind != RUNS_ON and source == target:
        raise BadRequest("target: a service cannot depend on itself")
    statement = insert(TopologyEdge).values(kind=edge.kind, source=source, target=target, origin="declared", labels={})
    row = await session.scalar(statement.on_conflict_do_update(
        index_elements=["kind", "source", "target"], set_={"origin": "declared", "last_seen_at": func.now()})
        .returning(TopologyEdge))
    assert row is not None
    read = TopologyEdgeRead.model_validate(row)
    await record_change(session, actor=actor, action="topology.edge_declared", entity=("topology_edge", str(row.id)),
                        before=None, after={"kind": row.kind, "source": source, "target": target})
    await session.commit()
    return read


async def delete_edge(session: AsyncSession, *, edge_id: int, actor: str) -> None:
    row = await session.scalar(delete(TopologyEdge).where(TopologyEdge.id == edge_id).returning(TopologyEdge))
    if row is None:
        raise NotFound(f"topology edge {edge_id} not found")
    await record_change(session, actor=actor, action="topology.edge_deleted", entity=("topology_edge", str(edge_id)),
                        before={"kind": row.kind, "source": row.source, "target": row.target, "origin": row.origin},
                        after=None)
    await session.commit()
