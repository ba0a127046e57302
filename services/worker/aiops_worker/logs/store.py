"""PostgreSQL side of the log task: template counts and trend buckets, prototypes, merges, miner state.
Every function runs in the caller's transaction (the one that also claims the batch's event ids)."""

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Text, any_, bindparam, cast, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_contracts.db import LogMinerState, LogPrototype, LogTemplate, LogTemplateCount
from aiops_worker.logs.analysis import TemplateStats
from aiops_worker.logs.prototypes import Prototype


async def load_miner_state(session: AsyncSession, name: str) -> str | None:
    """The miner's state as JSON text, for the caller to decode off the event loop (as save_miner_state's)."""
    return await session.scalar(select(cast(LogMinerState.state, Text)).where(LogMinerState.name == name))


async def save_miner_state(session: AsyncSession, name: str, state: str) -> None:
    """Store the miner's state, given as JSON text: megabytes for a large miner, encoded by the caller off the
    event loop (as a dict, psycopg would encode it on the loop when the statement runs)."""
    stmt = insert(LogMinerState).values(name=name, state=cast(literal(state, Text), JSONB))
    await session.execute(stmt.on_conflict_do_update(index_elements=[LogMinerState.name],
                                                     set_={"state": stmt.excluded.state, "updated_at": func.now()}))


def _ids(ids: Collection[str]) -> Any:
    """`= ANY(:ids)`: the ids as one array parameter, whatever their number (tens of thousands)."""
    return any_(bindparam("ids", list(ids), type_=ARRAY(Text)))


async def template_prototypes(session: AsyncSession, ids: Collection[str]) -> dict[str, str | None]:
    """Prototype of each stored template of ``ids`` (None: not routed yet): the ids the miner holds, not every
    row (the rows of templates the miner forgot stay, and would grow the map without end)."""
    if not ids:
        return {}
    rows = await session.execute(select(LogTemplate.id, LogTemplate.prototype_id).where(LogTemplate.id == _ids(ids)))
    return {key: value for key, value in rows}


async def unassigned_templates(session: AsyncSession, limit: int, ids: Collection[str]) -> dict[str, str]:
    """Live templates not routed yet, of ``ids`` (the ids the miner holds: a template it forgot is not routed
    again, nor would it keep the ones it holds out of the first ``limit``)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(LogTemplate.id, LogTemplate.template)
        .where(LogTemplate.prototype_id.is_(None), LogTemplate.merged_into.is_(None), LogTemplate.id == _ids(ids))
        .order_by(LogTemplate.first_seen_at).limit(limit))
    return {key: value for key, value in rows}


async def save_prototypes(session: AsyncSession, routed: dict[str, Prototype]) -> None:
    """Insert the prototypes (if new) and point the templates at them."""
    if not routed:
        return
    unique = {p.id: p for p in routed.values()}
    # Rows in id order here and in save_templates: transactions writing the same rows lock them in one order.
    prototypes = [{"id": pid, "title": unique[pid].title} for pid in sorted(unique)]
    await session.execute(insert(LogPrototype).values(prototypes).on_conflict_do_nothing())
    table = LogTemplate.__table__
    await session.execute(update(table).where(table.c.id == bindparam("template_id"))
                          .values(prototype_id=bindparam("prototype_id")),
                          [{"template_id": tid, "prototype_id": routed[tid].id} for tid in sorted(routed)])


def _add_to_templates() -> Insert:
    table = LogTemplate.__table__
    stmt = insert(table)
    new = stmt.excluded
    # A template the miner counts under is live: a row merged into another before is live again (the miner's
    # bound forgot the survivor, and the same first template came back under its content-hash id; its old
    # counts stayed with the survivor's row).
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_={
        "template": new.template, "severity": new.severity, "merged_into": None,
        "category": func.coalesce(new.category, table.c.category),
        "count": table.c.count + new.count,
        "first_seen_at": func.least(table.c.first_seen_at, new.first_seen_at),
        "last_seen_at": func.greatest(table.c.last_seen_at, new.last_seen_at),
    })


def _add_to_buckets() -> Insert:
    table = LogTemplateCount.__table__
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=[table.c.template_id, table.c.bucket_start],
                                      set_={"count": table.c.count + stmt.excluded.count})


# Built once, on the tables (not the ORM classes): each batch only sends its rows (one statement, many
# parameter sets: without RETURNING, psycopg's executemany, which pipelines them in one round trip, the
# server running the statement once per row), without building the statement, its cache key or the ORM's
# per-row bulk bookkeeping again.
_ADD_TO_TEMPLATES = _add_to_templates()
_ADD_TO_BUCKETS = _add_to_buckets()


async def save_templates(session: AsyncSession, stats: dict[str, TemplateStats], texts: dict[str, str]) -> None:
    """Add a batch's counts to its templates (created when new) and to their trend buckets."""
    if not stats:
        return
    rows = [{"id": tid, "template": texts[tid], "severity": s.verdict.severity.value, "category": s.verdict.category,
             "sample": s.sample, "count": s.count, "first_seen_at": s.first_seen, "last_seen_at": s.last_seen}
            for tid, s in sorted(stats.items(), key=lambda item: item[0])]
    await session.execute(_ADD_TO_TEMPLATES, rows)
    buckets = [{"template_id": tid, "bucket_start": start, "count": n}
               for tid, s in stats.items() for start, n in s.buckets.items()]
    if buckets:
        await session.execute(_ADD_TO_BUCKETS, buckets)


async def record_merges(session: AsyncSession, merges: Iterable[tuple[str, str]]) -> None:
    """The miner merged template `old` into `new`: move its counts (the sum of its trend buckets) and its
    trend to `new`, and keep the row as an alias."""
    for old, new in merges:
        moved = (await session.execute(
            update(LogTemplate).where(LogTemplate.id == old, LogTemplate.merged_into.is_(None))
            .values(merged_into=new, count=0).returning(LogTemplate.id))).scalar()
        if moved is None:
            continue  # never stored (created and merged within one batch) or already moved
        await session.execute(text(
            "UPDATE log_templates SET count = count + (SELECT COALESCE(SUM(count), 0) FROM log_template_counts "
            "WHERE template_id = :old) WHERE id = :new"), {"old": old, "new": new})
        await session.execute(text(
            "INSERT INTO log_template_counts (template_id, bucket_start, count) "
            "SELECT :new, bucket_start, count FROM log_template_counts WHERE template_id = :old "
            "ON CONFLICT (template_id, bucket_start) DO UPDATE SET count = log_template_counts.count + EXCLUDED.count"),
            {"old": old, "new": new})
        await session.execute(delete(LogTemplateCount).where(LogTemplateCount.template_id == old))

