"""API models of log intelligence: templates, prototypes, search hits."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from aiops_contracts.events import Severity


class TrendPoint(BaseModel):
    bucket_start: datetime
    count: int


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    template: str
    prototype_id: str | None
    severity: Severity
    category: str | None
    sample: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    trend: list[TrendPoint] = []


class TemplatePage(BaseModel):
    items: list[TemplateRead]
    bucket_seconds: int


class PrototypeRead(BaseModel):
    id: str
    title: str
    template_count: int
    count: int
    last_seen_at: datetime | None
    trend: list[TrendPoint] = []


class SearchHit(BaseModel):
    template: TemplateRead
    distance: float  # cosine distance between the query and the template (0: same meaning)


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
