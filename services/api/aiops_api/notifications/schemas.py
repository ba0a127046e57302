"""API models of notifications: silences, receivers (as the worker stored them from notifications.yml) and the
notifications sent."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from aiops_contracts.notifications import Matcher, NotificationStatus, SilenceState

MAX_SILENCE = timedelta(days=90)


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: list[Matcher] = Field(min_length=1, max_length=20)
    starts_at: AwareDatetime | None = None  # default: now
    ends_at: AwareDatetime
    comment: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> "SilenceCreate":
        if self.starts_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SilenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    expired_by: str | None
    state: SilenceState
    created_at: datetime


class ReceiverRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    target: str  # scheme and host of its URL, or its mail addresses
    routes: list[dict[str, Any]]
    sent: int  # notifications sent to it
    failed: int
    last_sent_at: datetime | None


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    receiver: str
    group_key: str
    status: NotificationStatus
    subject: str
    incident_ids: list[str]
    detail: str
    created_at: datetime
