"""API models of the topology: hosts and services, and the edges between them."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TopologyEdgeCreate(BaseModel):
    """A declared edge: `depends_on` (service -> service) or `runs_on` (service -> host)."""

    kind: Literal["runs_on", "depends_on"]
    source: str = Field(min_length=1, max_length=255)
    target: str = Field(min_length=1, max_length=255)


class TopologyEdgeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    source: str
    target: str
    origin: str  # learned, declared (API) or file (YAML)
    labels: dict[str, str] = {}  # what the signals that taught it said of it: environment, release
    first_seen_at: datetime
    last_seen_at: datetime


class TopologyNode(BaseModel):
    name: str
    kind: Literal["host", "service"]
    open_incidents: int
    labels: dict[str, str] = {}  # the labels of its runs_on edges (the most recently seen value of each)


class TopologyRead(BaseModel):
    nodes: list[TopologyNode]
    edges: list[TopologyEdgeRead]
