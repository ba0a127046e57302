"""API models of sign-in: token pairs, refresh requests and the caller's identity."""

from pydantic import BaseModel, ConfigDict, Field

from aiops_api.users.schemas import UserRead


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int  # seconds the access token is valid
    refresh_token: str
    refresh_expires_in: int


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    subject: str
    role: str
    user: UserRead | None  # None for machine tokens minted with `python -m aiops_api.auth token`
