"""The topology file (TOPOLOGY_PATH, see topology.example.yml): services, the services they depend on and the
hosts they run on, declared by whoever runs the platform. Loaded and validated at worker start (an error
names the file's line and stops the start) and stored as the `file` edges of topology_edges: the file's
edges replace the previous file edges; an edge an admin declared through the API stays `declared`, a
learned one becomes `file`. Names are normalised as signal labels are (aiops_contracts.topology)."""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_contracts.db import TopologyEdge
from aiops_contracts.topology import DEPENDS_ON, RUNS_ON, host_name, service_name
from aiops_worker.yaml_file import invalid, line_of, read_yaml

Name = Annotated[str, Field(min_length=1, max_length=255)]
FILE = "file"


class TopologyFileError(ValueError):
    """The topology file is not valid; the message names the file, line and field."""


class ServiceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depends_on: list[Name] = Field(default_factory=list)  # services
    runs_on: list[Name] = Field(default_factory=list)  # hosts


class TopologyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: dict[Name, ServiceEntry] = Field(default_factory=dict)

    def edges(self) -> set[tuple[str, str, str]]:
        """(kind, source, target), normalised."""
        found = set()
        for name, entry in self.services.items():
            source = service_name(name)
            found |= {(DEPENDS_ON, source, service_name(d)) for d in entry.depends_on}
            found |= {(RUNS_ON, source, host_name(h)) for h in entry.runs_on}
        return {(kind, s, t) for kind, s, t in found if s and t}


def load_topology_file(path: Path) -> set[tuple[str, str, str]]:
    """The file's edges; TopologyFileError names the line of the first problem."""
    root, data = read_yaml(path, TopologyFileError)
    try:
        topology = TopologyFile.model_validate(data)
    except ValidationError as exc:
        raise TopologyFileError(invalid(path, root, exc)) from exc
    for name, entry in topology.services.items():
        if service_name(name) in {service_name(d) for d in entry.depends_on}:
            line = line_of(root, ("services", name, "depends_on"))
            raise TopologyFileError(f"{path}:{line}: services.{name}.depends_on: a service cannot depend on itself")
    return topology.edges()


async def sync_file_edges(session: AsyncSession, edges: set[tuple[str, str, str]]) -> None:
    keep = sorted(edges)
    stale = delete(TopologyEdge).where(TopologyEdge.origin == FILE)
    if keep:
        stale = stale.where(tuple_(TopologyEdge.kind, TopologyEdge.source, TopologyEdge.target).not_in(keep))
    await session.execute(stale)
    if keep:
        statement = insert(TopologyEdge).values([{"kind": kind, "source": source, "target": target, "origin": FILE,
                                                  "labels": {}} for kind, source, target in keep])
        await session.execute(statement.on_conflict_do_update(
            index_elements=["kind", "source", "target"], set_={"origin": FILE},
            where=TopologyEdge.origin == "learned"))


async def install_topology(sessions: async_sessionmaker[AsyncSession], path: str) -> None:
    """At worker start: validate the topology file, if one is set (TopologyFileError stops the start), and
    store its edges; no file: the previous file edges are removed."""
    edges = load_topology_file(Path(path)) if path else set()
    async with sessions.begin() as session:
        await sync_file_edges(session, edges)
