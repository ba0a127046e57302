"""HTTP routes of notifications: silences (operators create and expire them, everyone signed in reads), the
receivers of notifications.yml with their counts, and the latest notifications."""

import uuid

from fastapi import APIRouter, status

from aiops_api.deps import Operator, SessionDep, Viewer
from aiops_api.notifications import service
from aiops_api.notifications.schemas import NotificationRead, ReceiverRead, SilenceCreate, SilenceRead
from aiops_contracts.notifications import SilenceState

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("/silences", operation_id="list_silences")
async def list_silences(session: SessionDep, _: Viewer, state: SilenceState | None = None) -> list[SilenceRead]:
    return await service.list_silences(session, state=state)


@router.post("/silences", status_code=status.HTTP_201_CREATED, operation_id="create_silence",
             responses={400: {"description": "The silence ends in the past, before it starts, or too late"}})
async def create_silence(data: SilenceCreate, session: SessionDep, user: Operator) -> SilenceRead:
    return await service.create_silence(session, data=data, actor=user.subject)


@router.post("/silences/{silence_id}/expire", operation_id="expire_silence",
             responses={404: {"description": "No such silence"}, 409: {"description": "Already expired"}})
async def expire_silence(silence_id: uuid.UUID, session: SessionDep, user: Operator) -> SilenceRead:
    return await service.expire_silence(session, silence_id=silence_id, actor=user.subject)


@router.get("/receivers", operation_id="list_notification_receivers")
async def list_receivers(session: SessionDep, _: Viewer) -> list[ReceiverRead]:
    return await service.list_receivers(session)


@router.get("", operation_id="list_notifications")
async def list_notifications(session: SessionDep, _: Viewer, receiver: str | None = None) -> list[NotificationRead]:
    return await service.list_notifications(session, receiver=receiver)
