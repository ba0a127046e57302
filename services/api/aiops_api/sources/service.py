"""Creating, listing, changing and revoking sources (every change is audited), their ready-to-paste snippets,
and for polled sources their health (recorded by the worker in Redis) and connection tests (run by a worker:
the API pushes the request on the bus's poller_checks_key, a bounded list, and waits for the answer on a reply
list of its own; a request no worker took in time is withdrawn, and one a worker takes too late is skipped)."""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit import record_change
from aiops_api.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from aiops_api.sources.credentials import hash_token, new_token
from aiops_api.sources.schemas import (
    SourceCreate,
    SourceCreated,
    SourceHealth,
    SourceRead,
    SourceSnippets,
    SourceUpdate,
    check_poller,
)
from aiops_api.sources.secrets import seal_config
from aiops_api.sources.snippets import source_snippets
from aiops_contracts.bus import Bus
from aiops_contracts.db import Source
from aiops_contracts.pollers import ConnectionCheck, is_poller
from aiops_contracts.secrets import SecretBox
from aiops_contracts.settings import CommonSettings
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import POLLER_CHECKS_MAX, POLLER_HEALTH_KEY

CHECK_WAIT_S = 30  # a connection test's own timeout is at most the source's timeout_s; this covers the queue


async def create_source(
    session: AsyncSession, *, data: SourceCreate, actor: str, public_url: str, box: SecretBox | None
) -> SourceCreated:
    if is_poller(data.kind):
        source = Source(name=data.name, kind=data.kind, config=data.config, enabled=True, target=data.target,
                        interval_s=data.interval_s or 60.0, credentials=seal_credentials(data.credentials, box),
                        labels=data.labels)
        token = None
    else:
        token = new_token()
        source = Source(name=data.name, kind=data.kind, config=seal_config(data.config, box),
                        token_hash=hash_token(token), token_prefix=token[:12], enabled=True)
    session.add(source)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"name: a source named {data.name!r} exists") from exc
    await record_change(session, actor=actor, action="source.created", entity=("source", str(source.id)),
                        before=None, after={"name": source.name, "kind": source.kind})
    await session.commit()
    snippets = source_snippets(data.kind, public_url, token) if token else None
    return SourceCreated(**SourceRead.model_validate(source).model_dump(), token=token, snippets=snippets)


def seal_credentials(credentials: dict[str, str], box: SecretBox | None) -> dict[str, Any]:
    if credentials and box is None:
        raise BadRequest("credentials: this API cannot store secrets, SECRETS_KEY is not set (set it and restart)")
    return {name: box.seal(value) for name, value in credentials.items()} if box else {}


async def list_sources(session: AsyncSession, redis: Redis, settings: CommonSettings) -> list[SourceRead]:
    rows = list(await session.scalars(select(Source).order_by(Source.name)))
    polled = [row for row in rows if is_poller(row.kind)]
    async with redis.pipeline(transaction=False) as pipe:
        for row in polled:
            pipe.hgetall(settings.redis_key(POLLER_HEALTH_KEY, str(row.id)))
        healths = dict(zip([row.id for row in polled], await pipe.execute(), strict=True))
    return [SourceRead.model_validate(row).model_copy(update={"health": _health(healths[row.id])})
            if row.id in healths else SourceRead.model_validate(row) for row in rows]


def _health(fields: dict[bytes, bytes]) -> SourceHealth | None:
    if not fields:
        return None
    values = {key.decode(): value.decode() for key, value in fields.items()}
    for key in ("last_poll_at", "last_success_at", "last_error_at"):
        if key in values:
            values[key] = datetime.fromtimestamp(float(values[key]), UTC).isoformat()
    return SourceHealth.model_validate(values)


async def update_source(session: AsyncSession, *, source_id: uuid.UUID, data: SourceUpdate, actor: str,
                        box: SecretBox | None) -> SourceRead:
    """A polled source's changes, checked as a whole with its kind's settings (credentials merged)."""
    source = await _polled(session, source_id)
    if source.revoked_at is not None:
        raise BadRequest(f"source {source_id}: revoked; create a new source instead")
    changes = data.model_dump(exclude_unset=True, exclude={"credentials"})
    before = {key: getattr(source, key) for key in changes}
    credentials = {**_opened(source, box), **(data.credentials or {})}
    try:
        target = check_poller(SourceKind(source.kind), changes.get("target", source.target) or "",
                              changes.get("config", source.config), credentials)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    for key, value in (changes | {"target": target}).items():
        setattr(source, key, value)
    if data.credentials:
        source.credentials = {**source.credentials, **seal_credentials(data.credentials, box)}
    after = {key: getattr(source, key) for key in changes} | {"credentials_changed": sorted(data.credentials or ())}
    await record_change(session, actor=actor, action="source.updated", entity=("source", str(source.id)),
                        before=before, after=after)
    await session.commit()
    await session.refresh(source)
    return SourceRead.model_validate(source)


def _opened(source: Source, box: SecretBox | None) -> dict[str, str]:
    """The stored credentials in plain text, to check a change against the whole settings."""
    opened = {name: box.open(sealed) if box else None for name, sealed in source.credentials.items()}
    if unreadable := sorted(name for name, value in opened.items() if value is None):
        raise BadRequest(f"credentials.{unreadable[0]}: stored under another SECRETS_KEY; send it again")
    return {name: value for name, value in opened.items() if value is not None}


async def _polled(session: AsyncSession, source_id: uuid.UUID) -> Source:
    source = await get_source(session, source_id=source_id)
    if not is_poller(source.kind):
        raise BadRequest(f"source {source_id}: a {source.kind} source pushes; only polled sources take this")
    return source


async def test_source(session: AsyncSession, bus: Bus, *, source_id: uuid.UUID) -> ConnectionCheck:
    """Has a worker test the source's connection, stage by stage; 503 when no worker answers in time."""
    await _polled(session, source_id)
    redis, checks_key = bus.redis, bus.poller_checks_key
    reply_to = f"{checks_key}:reply:{uuid.uuid4().hex}"
    started = time.monotonic()
    request = orjson.dumps({"source_id": str(source_id), "reply_to": reply_to,
                            "expires_at": time.time() + CHECK_WAIT_S})
    async with redis.pipeline(transaction=True) as pipe:  # bounded: no worker may be there to take them
        pipe.rpush(checks_key, request)
        pipe.ltrim(checks_key, -POLLER_CHECKS_MAX, -1)
        pipe.expire(checks_key, 2 * CHECK_WAIT_S)
        await pipe.execute()
    answer = await redis.blpop([reply_to], timeout=CHECK_WAIT_S)
    if answer is None:
        await redis.lrem(checks_key, 1, request)  # untaken: nobody should run it any more
        raise ServiceUnavailable(f"no worker answered the connection test within {time.monotonic() - started:.0f} s "
                                 "(is a worker running?)")
    return ConnectionCheck.model_validate_json(answer[1])


async def get_source_snippets(session: AsyncSession, *, source_id: uuid.UUID, public_url: str) -> SourceSnippets:
    """The snippets with the placeholder `<token>`: the token itself was shown once, at creation."""
    source = await get_source(session, source_id=source_id)
    if is_poller(source.kind):
        raise BadRequest(f"source {source_id}: a polled source has no snippets (nothing to configure on its side)")
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
