"""Creating, listing and revoking sources (every change is audited), and their ready-to-paste snippets."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.errors import Conflict, NotFound
from aiops_api.sources.credentials import hash_token, new_token
from aiops_api.sources.schemas import SourceCreate, SourceCreated, SourceRead, SourceSnippets
from aiops_api.sources.secrets import SecretBox, seal_config
from aiops_api.sources.snippets import source_snippets
from aiops_contracts.db import Source
from aiops_contracts.sources import SourceKind


async def create_source(
    session: AsyncSession, *, data: SourceCreate, actor: str, public_url: str, box: SecretBox | None
) -> SourceCreated:
    token = new_token()
    source = Source(name=data.name, kind=data.kind, config=seal_config(data.config, box), token_hash=hash_token(token),
                    token_prefix=token[:12], enabled=True)
    session.add(source)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"name: a source named {data.name!r} exists") from exc
    await record_change(session, actor=actor, action="source.created", entity=("source", str(source.id)),
                        before=None, after={"name": source.name, "kind": source.kind})
    await session.commit()
    return SourceCreated(**SourceRead.model_validate(source).model_dump(), token=token,
                         snippets=source_snippets(data.kind, public_url, token))


async def list_sources(session: AsyncSession) -> list[SourceRead]:
    rows = await session.scalars(select(Source).order_by(Source.name))
    return [SourceRead.model_validate(s) for s in rows]


async def get_source_snippets(session: AsyncSession, *, source_id: uuid.UUID, public_url: str) -> SourceSnippets:
    """The snippets with the placeholder `<token>`: the token itself was shown once, at creation."""
    source = await get_source(session, source_id=source_id)
    return source_snippets(SourceKind(source.kind), public_url)


async def get_source(session: AsyncSession, *, source_id: uuid.UUID) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} not found")
    return source


async def revoke_source(session: AsyncSession, *, source_id: uuid.UUID, actor: str) -> SourceRead:
    source = await get_source(session, source_id=source_id)
    if source.revoked_at is None:
        source.enabled = False
        source.revoked_at = datetime.now(UTC)
        await record_change(session, actor=actor, action="source.revoked", entity=("source", str(source.id)),
                            before={"enabled": True}, after={"enabled": False})
        await session.commit()
    return SourceRead.model_validate(source)
