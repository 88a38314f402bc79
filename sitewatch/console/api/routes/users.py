"""Managing users (admins): list, create, change role / sites / cameras / password / language,
disable.

An admin of every site manages everyone; any other admin lists and manages only users whose
sites (and cameras, when it is itself limited to cameras) are within its own, and grants no
site, camera or scope it does not have (:func:`sitewatch.console.permissions.grant_problem`):
refusals are 403. A change of password, role or sites, or disabling, ends the user's open sessions
and is audited with what it was before. The last active admin of every site cannot be demoted,
narrowed or disabled (the console would lose the admin who can manage everyone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.api.errors import refuse
from sitewatch.console.domain import audit
from sitewatch.console.domain.queries import user_out
from sitewatch.console.domain.security import hash_password
from sitewatch.console.domain.users import UserError, check_scope, create_user, end_sessions
from sitewatch.console.permissions import Scope, grant_problem
from sitewatch.console.schemas import UserCreateIn, UserOut, UserUpdateIn
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User

router = APIRouter(prefix="/api/users", tags=["users"])
Admin = Annotated[User, Depends(require("users.manage"))]
State = Annotated[AppState, Depends(app_state)]


@router.get("")
def list_users(user: Admin, s: DB) -> list[UserOut]:
    """The users this admin manages (every user, for an admin of every site)."""
    users = s.scalars(select(User).order_by(User.username))
    return [user_out(u) for u in users if grant_problem(user, u.sites, u.cameras) is None]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "sites, cameras or scope beyond the admin's own"},
        409: {"description": "user name taken"},
        422: {"description": "invalid"},
    },
)
def add_user(body: UserCreateIn, request: Request, user: Admin, s: DB, state: State) -> UserOut:
    _may_grant(user, body.sites, body.cameras, f"create {body.username!r}")
    if s.scalar(select(User).where(func.lower(User.username) == body.username.lower())):
        raise refuse(
            status.HTTP_409_CONFLICT,
            "user.exists",
            f"user {body.username!r} exists already: pick another name",
            user=body.username,
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
        raise refuse(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "user.invalid", str(exc), problem=str(exc)
        ) from None
    audit.record(
        s,
        user,
        "user_create",
        "user",
        new.username,
        detail=f"role {new.role}, sites {','.join(new.sites)}"
        + (f", cameras {','.join(new.cameras)}" if new.cameras else ""),
        client=client_address(request),
        key="user_create",
        params={"role": new.role, "sites": ", ".join(new.sites)},
    )
    s.commit()  # before the answer: the next request must see it
    return user_out(new)


@router.patch(
    "/{username}",
    responses={
        403: {"description": "a user, sites, cameras or scope beyond the admin's own"},
        404: {"description": "no such user"},
        409: {"description": "last admin"},
        422: {"description": "invalid: '*' not alone, or cameras outside the user's sites"},
    },
)
def change_user(username: str, body: UserUpdateIn, request: Request, user: Admin, s: DB) -> UserOut:
    target = s.scalar(select(User).where(User.username == username))
    if target is None:
        raise refuse(
            status.HTTP_404_NOT_FOUND, "user.not_found", f"no user {username!r}", user=username
        )
    _may_grant(user, target.sites, target.cameras, f"change {username!r}")
    if body.sites is not None and "*" in body.sites and body.sites != ["*"]:
        raise refuse(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "user.star_alone",
            f"'*' means every site and stands alone, got {body.sites}",
        )
    sites = list(body.sites) if body.sites is not None else target.sites
    cameras = body.cameras if "cameras" in body.model_fields_set else target.cameras
    try:
        check_scope(sites, cameras)
    except UserError as exc:
        raise refuse(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "user.invalid", str(exc), problem=str(exc)
        ) from None
    _may_grant(user, sites, cameras, f"give {username!r} this scope")
    role = body.role if body.role is not None else target.role
    active = body.active if body.active is not None else target.active
    _keep_an_admin(s, target, role, active, sites, cameras)
    changes = _changes(target, body, role, active, sites, cameras)
    if body.password is not None:
        target.password_hash = hash_password(body.password)
    target.role, target.active = role, active
    target.sites, target.cameras = list(sites), None if cameras is None else list(cameras)
    if body.language is not None:
        target.language = body.language
    if {"password", "role", "sites", "cameras"} & changes.keys() or not active:
        end_sessions(s, target.id)
    audit.record(
        s,
        user,
        "user_update",
        "user",
        target.username,
        detail="; ".join(changes.values()) if changes else "no change",
        client=client_address(request),
        key="user_update" if changes else "user_unchanged",
        params={"fields": ", ".join(changes)},
    )
    s.commit()
    return user_out(target)


def _may_grant(admin: User, sites: list[str], cameras: list[str] | None, what: str) -> None:
    """403 unless ``admin`` may manage a user of ``sites`` / ``cameras``."""
    problem = grant_problem(admin, sites, cameras)
    if problem is not None:
        raise refuse(
            status.HTTP_403_FORBIDDEN,
            "user.may_not_grant",
            f"you may not {what}: {problem}",
            what=what,
            problem=problem,
        )


def _keep_an_admin(
    s: Session, target: User, role: str, active: bool, sites: list[str], cameras: list[str] | None
) -> None:
    """409 if the change would leave no active admin, or no active admin of every site."""
    admins = list(s.scalars(select(User).where(User.role == "admin", User.active)))
    stays_admin = role == "admin" and active
    if target in admins and not stays_admin and len(admins) <= 1:
        raise refuse(
            status.HTTP_409_CONFLICT,
            "user.last_admin",
            f"{target.username!r} is the last active admin: make another admin first",
            user=target.username,
        )
    global_admins = [u for u in admins if Scope.of(u).every_site]
    stays_global = stays_admin and sites == ["*"] and cameras is None
    if target in global_admins and not stays_global and len(global_admins) <= 1:
        raise refuse(
            status.HTTP_409_CONFLICT,
            "user.last_admin",
            f"{target.username!r} is the last active admin of every site: make another admin "
            "of every site ('*') first",
            user=target.username,
        )


def _changes(
    target: User,
    body: UserUpdateIn,
    role: str,
    active: bool,
    sites: list[str],
    cameras: list[str] | None,
) -> dict[str, str]:
    """What the change does, field -> text for the audit row (with the value before)."""
    out: dict[str, str] = {}
    if body.password is not None:
        out["password"] = "password reset"
    if role != target.role:
        out["role"] = f"role {target.role} -> {role}"
    if sites != target.sites:
        out["sites"] = f"sites {','.join(target.sites)} -> {','.join(sites)}"
    if cameras != target.cameras:
        before, after = (",".join(c) if c else "every camera" for c in (target.cameras, cameras))
        out["cameras"] = f"cameras {before} -> {after}"
    if active != target.active:
        out["active"] = "enabled" if active else "disabled"
    if body.language is not None and body.language != target.language:
        out["language"] = f"language {target.language} -> {body.language}"
    return out
