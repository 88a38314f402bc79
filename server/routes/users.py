"""Managing users (admins): list, create, change role / sites / cameras / password / language,
disable.

A change of password, role or sites, or disabling, ends the user's open sessions. The last
active admin cannot be demoted or disabled (the console would lose its last administrator).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import func, select

from server import audit
from server.deps import DB, app_state, client_address, require
from server.models import User
from server.routes.auth import user_out
from server.schemas import UserCreateIn, UserOut, UserUpdateIn
from server.security import hash_password
from server.state import AppState
from server.users import UserError, check_scope, create_user, end_sessions

router = APIRouter(prefix="/api/users", tags=["users"])
Admin = Annotated[User, Depends(require("users.manage"))]
State = Annotated[AppState, Depends(app_state)]


@router.get("")
def list_users(user: Admin, s: DB) -> list[UserOut]:
    return [user_out(u) for u in s.scalars(select(User).order_by(User.username))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "user name taken"}, 422: {"description": "invalid"}},
)
def add_user(body: UserCreateIn, request: Request, user: Admin, s: DB, state: State) -> UserOut:
    if s.scalar(select(User).where(func.lower(User.username) == body.username.lower())):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"user {body.username!r} exists already: pick another name"
        )
    try:
        new = create_user(
            s,
            body.username,
            body.password,
            body.role,
            body.sites,
            body.language or state.settings.default_language,
            cameras=body.cameras,
        )
    except UserError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    audit.record(
        s,
        user,
        "user_create",
        "user",
        new.username,
        detail=f"role {new.role}, sites {','.join(new.sites)}"
        + (f", cameras {','.join(new.cameras)}" if new.cameras else ""),
        client=client_address(request),
    )
    s.commit()  # before the answer: the next request must see it
    return user_out(new)


@router.patch(
    "/{username}",
    responses={
        404: {"description": "no such user"},
        409: {"description": "last admin"},
        422: {"description": "invalid: '*' not alone, or cameras outside the user's sites"},
    },
)
def change_user(username: str, body: UserUpdateIn, request: Request, user: Admin, s: DB) -> UserOut:
    target = s.scalar(select(User).where(User.username == username))
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    changed = [k for k in body.model_fields_set - {"cameras"} if getattr(body, k) is not None]
    if "cameras" in body.model_fields_set and body.cameras != target.cameras:
        changed.append("cameras")  # null too: the limit is lifted
    if body.sites is not None and "*" in body.sites and body.sites != ["*"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"'*' means every site and stands alone, got {body.sites}",
        )
    cameras = body.cameras if "cameras" in body.model_fields_set else target.cameras
    try:
        check_scope(body.sites if body.sites is not None else target.sites, cameras)
    except UserError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    demoted = body.role is not None and body.role != "admin"
    if target.role == "admin" and target.active and (demoted or body.active is False):
        admins = s.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.active)
        )
        if (admins or 0) <= 1:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"{username!r} is the last active admin: make another admin first",
            )
    if body.password is not None:
        target.password_hash = hash_password(body.password)
    if body.role is not None:
        target.role = body.role
    if body.sites is not None:
        target.sites = list(body.sites)
    if "cameras" in body.model_fields_set:
        target.cameras = None if body.cameras is None else list(body.cameras)
    if body.language is not None:
        target.language = body.language
    if body.active is not None:
        target.active = body.active
    if {"password", "role", "sites", "cameras"} & set(changed) or body.active is False:
        end_sessions(s, target.id)
    audit.record(
        s,
        user,
        "user_update",
        "user",
        target.username,
        detail="changed " + ", ".join(sorted(changed)) if changed else "no change",
        client=client_address(request),
    )
    s.commit()
    return user_out(target)
