"""Silences (operators create and expire them; every change audited) and what the notification side shows:
receivers with their counts, and the latest notifications."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.audit.service import record_change
from aiops_api.errors import BadRequest, Conflict, NotFound
from aiops_api.notifications.schemas import (
    MAX_SILENCE,
    NotificationRead,
    ReceiverRead,
    SilenceCreate,
    SilenceRead,
)
from aiops_contracts.db import Notification, NotificationReceiver, Silence
from aiops_contracts.notifications import NotificationStatus, SilenceState, silence_state

NOTIFICATIONS_LIMIT = 200
SILENCES_LIMIT = 200


def _read(silence: Silence, now: datetime) -> SilenceRead:
    return SilenceRead.model_validate({**{c: getattr(silence, c) for c in SilenceRead.model_fields if c != "state"},
                                       "state": silence_state(silence.starts_at, silence.ends_at, now)})


async def list_silences(session: AsyncSession, *, state: SilenceState | None) -> list[SilenceRead]:
    """The SILENCES_LIMIT silences ending last (the active and pending ones first), of `state` if given."""
    now = datetime.now(UTC)
    stmt = select(Silence).order_by(Silence.ends_at.desc(), Silence.id).limit(SILENCES_LIMIT)
    if state is not None:
        stmt = stmt.where(_in_state(state, now))
    return [_read(silence, now) for silence in await session.scalars(stmt)]


def _in_state(state: SilenceState, now: datetime) -> ColumnElement[bool]:
    """silence_state() as SQL."""
    if state == SilenceState.expired:
        return Silence.ends_at <= now
    if state == SilenceState.active:
        return (Silence.starts_at <= now) & (Silence.ends_at > now)
    return (Silence.starts_at > now) & (Silence.ends_at > now)


async def create_silence(session: AsyncSession, *, data: SilenceCreate, actor: str) -> SilenceRead:
    now = datetime.now(UTC)
    starts_at = data.starts_at or now
    if data.ends_at <= max(starts_at, now):
        raise BadRequest("ends_at: a silence must end in the future and after it starts")
    if data.ends_at - starts_at > MAX_SILENCE:
        raise BadRequest(f"ends_at: a silence lasts at most {MAX_SILENCE.days} days")
    silence = Silence(matchers=[m.model_dump() for m in data.matchers], starts_at=starts_at, ends_at=data.ends_at,
                      author=actor, comment=data.comment)
    session.add(silence)
    await session.flush()
    await record_change(session, actor=actor, action="silence.created", entity=("silence", str(silence.id)),
                        before=None, after={"matchers": silence.matchers, "ends_at": data.ends_at.isoformat()})
    await session.commit()
    await session.refresh(silence)
    return _read(silence, now)


async def expire_silence(session: AsyncSession, *, silence_id: uuid.UUID, actor: str) -> SilenceRead:
    silence = await session.get(Silence, silence_id, with_for_update=True)
    if silence is None:
        raise NotFound(f"silence {silence_id} not found")
    now = datetime.now(UTC)
    if silence_state(silence.starts_at, silence.ends_at, now) == SilenceState.expired:
        raise Conflict(f"silence {silence_id} already expired at {silence.ends_at.isoformat()}")
    before = silence.ends_at.isoformat()
    silence.ends_at, silence.expired_by = now, actor
    silence.starts_at = min(silence.starts_at, now)
    await record_change(session, actor=actor, action="silence.expired", entity=("silence", str(silence.id)),
                        before={"ends_at": before}, after={"ends_at": now.isoformat()})
    await session.commit()
    await session.refresh(silence)
    return _read(silence, now)


async def list_receivers(session: AsyncSession) -> list[ReceiverRead]:
    rows = (await session.execute(
        select(NotificationReceiver, _count(NotificationStatus.sent).label("sent"),
               _count(NotificationStatus.failed).label("failed"),
               func.max(Notification.created_at).filter(Notification.status == NotificationStatus.sent.value)
               .label("last_sent_at"))
        .outerjoin(Notification, Notification.receiver == NotificationReceiver.name)
        .group_by(NotificationReceiver.id).order_by(NotificationReceiver.name))).all()
    return [ReceiverRead(name=r.name, kind=r.kind, target=r.target, routes=r.routes, sent=sent, failed=failed,
                         last_sent_at=last) for r, sent, failed, last in rows]


def _count(status: NotificationStatus) -> ColumnElement[int]:
    return func.count(Notification.id).filter(Notification.status == status.value)


async def list_notifications(session: AsyncSession, *, receiver: str | None) -> list[NotificationRead]:
    stmt = select(Notification).order_by(Notification.created_at.desc(), Notification.id).limit(NOTIFICATIONS_LIMIT)
    if receiver is not None:
        stmt = stmt.where(Notification.receiver == receiver)
    return [NotificationRead.model_validate(n) for n in await session.scalars(stmt)]
