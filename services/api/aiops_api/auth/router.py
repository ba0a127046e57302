"""Sign-in routes. Login takes the OAuth2 password form (`application/x-www-form-urlencoded` with
`username` and `password`), so OpenAPI clients and Swagger's Authorize button work as they are."""

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from aiops_api.auth import service
from aiops_api.auth.schemas import Me, RefreshRequest, TokenPair
from aiops_api.deps import PasswordsDep, SessionDep, SettingsDep, Viewer
from aiops_api.users import service as users_service
from aiops_api.users.schemas import UserRead

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_UNAUTHORIZED = {401: {"description": "wrong credentials, or an expired, revoked or reused refresh token"}}


@router.post("/login", operation_id="login", responses=_UNAUTHORIZED)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep,
    passwords: PasswordsDep,
) -> TokenPair:
    return await service.login(session, username=form.username, password=form.password, settings=settings,
                               passwords=passwords)


@router.post("/refresh", operation_id="refresh_token", responses=_UNAUTHORIZED)
async def refresh(data: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    return await service.refresh(session, token=data.refresh_token, settings=settings)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, operation_id="logout", responses=_UNAUTHORIZED)
async def logout(data: RefreshRequest, session: SessionDep) -> None:
    """Revokes the refresh token and every token rotated from the same sign-in."""
    await service.logout(session, token=data.refresh_token)


@router.get("/me", operation_id="me")
async def me(principal: Viewer, session: SessionDep) -> Me:
    user = await users_service.find_user(session, username=principal.subject)
    return Me(subject=principal.subject, role=principal.role.name,
              user=UserRead.model_validate(user) if user else None)
