"""Log intelligence queries: templates and prototypes with counts and trend, semantic search."""

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.errors import ServiceUnavailable
from aiops_api.logs.schemas import PrototypeRead, SearchHit, SearchResult, TemplatePage, TemplateRead, TrendPoint
from aiops_api.logs.search import LogSearch
from aiops_contracts.chroma import ChromaUnavailable
from aiops_contracts.db import LogPrototype, LogTemplate, LogTemplateCount

LIVE = LogTemplate.merged_into.is_(None)


async def list_templates(session: AsyncSession, *, prototype_id: str | None, since: datetime,
                         limit: int) -> list[TemplateRead]:
    stmt = select(LogTemplate).where(LIVE, LogTemplate.last_seen_at >= since)
    if prototype_id:
        stmt = stmt.where(LogTemplate.prototype_id == prototype_id)
    rows = list(await session.scalars(stmt.order_by(LogTemplate.count.desc(), LogTemplate.id).limit(limit)))
    trends = await _trends(session, [t.id for t in rows], since)
    return [TemplateRead.model_validate(t).model_copy(update={"trend": trends.get(t.id, [])}) for t in rows]


async def templates_page(session: AsyncSession, *, prototype_id: str | None, hours: int, limit: int) -> TemplatePage:
    since = datetime.now().astimezone() - timedelta(hours=hours)
    items = await list_templates(session, prototype_id=prototype_id, since=since, limit=limit)
    return TemplatePage(items=items, bucket_seconds=_bucket_seconds(items))


async def list_prototypes(session: AsyncSession, *, hours: int, limit: int) -> list[PrototypeRead]:
    since = datetime.now().astimezone() - timedelta(hours=hours)
    stmt = (select(LogPrototype.id, LogPrototype.title, func.count(LogTemplate.id), func.sum(LogTemplate.count),
                   func.max(LogTemplate.last_seen_at))
            .join(LogTemplate, LogTemplate.prototype_id == LogPrototype.id).where(LIVE)
            .group_by(LogPrototype.id).having(func.max(LogTemplate.last_seen_at) >= since)
            .order_by(func.sum(LogTemplate.count).desc(), LogPrototype.id).limit(limit))
    rows = (await session.execute(stmt)).all()
    trend_stmt = (select(LogTemplate.prototype_id, LogTemplateCount.bucket_start, func.sum(LogTemplateCount.count))
                  .join(LogTemplate, LogTemplate.id == LogTemplateCount.template_id)
                  .where(LogTemplate.prototype_id.in_([r[0] for r in rows]), LogTemplateCount.bucket_start >= since)
                  .group_by(LogTemplate.prototype_id, LogTemplateCount.bucket_start)
                  .order_by(LogTemplateCount.bucket_start))
    trends: dict[str, list[TrendPoint]] = {}
    for prototype_id, start, count in (await session.execute(trend_stmt)).all():
        trends.setdefault(prototype_id, []).append(TrendPoint(bucket_start=start, count=count))
    return [PrototypeRead(id=pid, title=title, template_count=n, count=total or 0, last_seen_at=last,
                          trend=trends.get(pid, [])) for pid, title, n, total, last in rows]


async def search(session: AsyncSession, searcher: LogSearch, *, query: str, limit: int) -> SearchResult:
    try:
        nearest = await searcher.nearest_templates(query, limit)
    except ChromaUnavailable as exc:
        raise ServiceUnavailable("log search: ChromaDB is unavailable, retry later") from exc
    distances = dict(nearest)
    rows = await session.scalars(select(LogTemplate).where(LogTemplate.id.in_(distances), LIVE))
    hits = [SearchHit(template=TemplateRead.model_validate(t), distance=distances[t.id]) for t in rows]
    return SearchResult(query=query, hits=sorted(hits, key=lambda h: h.distance))


async def _trends(session: AsyncSession, template_ids: list[str], since: datetime) -> dict[str, list[TrendPoint]]:
    rows = await session.execute(
        select(LogTemplateCount.template_id, LogTemplateCount.bucket_start, LogTemplateCount.count)
        .where(LogTemplateCount.template_id.in_(template_ids), LogTemplateCount.bucket_start >= since)
        .order_by(LogTemplateCount.bucket_start))
    trends: dict[str, list[TrendPoint]] = {}
    for template_id, start, count in rows:
        trends.setdefault(template_id, []).append(TrendPoint(bucket_start=start, count=count))
    return trends


def _bucket_seconds(items: list[TemplateRead]) -> int:
    """The bucket width, read off the data (the smallest gap between buckets); 0 when unknown."""
    gaps = [int((b.bucket_start - a.bucket_start).total_seconds())
            for t in items for a, b in zip(t.trend, t.trend[1:])]
    return min(gaps, default=0)
