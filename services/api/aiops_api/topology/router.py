"""HTTP routes of the topology graph."""

from fastapi import APIRouter, status

from aiops_api.deps import Admin, SessionDep, Viewer
from aiops_api.topology import service
from aiops_api.topology.schemas import TopologyEdgeCreate, TopologyEdgeRead, TopologyRead

router = APIRouter(prefix="/api/v1/topology", tags=["topology"])


@router.get("", operation_id="get_topology")
async def get_topology(session: SessionDep, _: Viewer) -> TopologyRead:
    """Services and hosts (with their open incidents) and the edges between them, learned and declared."""
    return await service.get_topology(session)


@router.post("/edges", operation_id="declare_topology_edge", status_code=status.HTTP_201_CREATED)
async def declare_topology_edge(edge: TopologyEdgeCreate, session: SessionDep, user: Admin) -> TopologyEdgeRead:
    return await service.declare_edge(session, edge=edge, actor=user.subject)


@router.delete("/edges/{edge_id}", operation_id="delete_topology_edge", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No such edge"}})
async def delete_topology_edge(edge_id: int, session: SessionDep, user: Admin) -> None:
    await service.delete_edge(session, edge_id=edge_id, actor=user.subject)
