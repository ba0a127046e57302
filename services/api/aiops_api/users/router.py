"""HTTP routes of users: admins create, list, change and deactivate them."""

import uuid

from fastapi import APIRouter, status

from aiops_api.deps import AccountsDep, Admin, PasswordsDep, SessionDep
from aiops_api.users import service
from aiops_api.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_user")
async def create_user(data: UserCreate, session: SessionDep, admin: Admin, passwords: PasswordsDep) -> UserRead:
    return await service.create_user(session, data=data, actor=admin.subject, passwords=passwords)


@router.get("", operation_id="list_users")
async def list_users(session: SessionDep, _: Admin) -> list[UserRead]:
    return await service.list_users(session)


@router.get("/{user_id}", operation_id="get_user")
async def get_user(user_id: uuid.UUID, session: SessionDep, _: Admin) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id=user_id))


@router.patch("/{user_id}", operation_id="update_user")
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, session: SessionDep, admin: Admin, passwords: PasswordsDep,
    accounts: AccountsDep,
) -> UserRead:
    user = await service.update_user(session, user_id=user_id, data=data, actor=admin.subject, passwords=passwords)
    await accounts.forget(user_id)  # the user's tokens follow the change at once
    return user


@router.delete("/{user_id}", operation_id="deactivate_user")
async def deactivate_user(
    user_id: uuid.UUID, session: SessionDep, admin: Admin, passwords: PasswordsDep, accounts: AccountsDep
) -> UserRead:
    """Users are deactivated, never deleted: the audit log keeps referring to them. Their tokens stop working."""
    user = await service.update_user(session, user_id=user_id, data=UserUpdate(active=False), actor=admin.subject,
                                     passwords=passwords)
    await accounts.forget(user_id)
    return user
