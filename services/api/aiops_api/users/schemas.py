"""API models of users."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiops_api.omittable import Omittable

RoleName = Literal["viewer", "operator", "admin"]
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    email: str | None = Field(default=None, max_length=255, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=1, max_length=1_000)
    role: RoleName = "viewer"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=255, pattern=EMAIL_PATTERN)
    password: Omittable[Annotated[str, Field(min_length=1, max_length=1_000)]] = None
    role: Omittable[RoleName] = None
    active: Omittable[bool] = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str | None
    role: RoleName
    active: bool
    created_at: datetime
    last_login_at: datetime | None
