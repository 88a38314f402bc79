"""FastAPI dependencies: the database session, the logged-in user, CSRF, roles and sites."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import User, WebSession
from server.permissions import Capability, allowed, can_see_camera, can_see_site
from server.security import CSRF_HEADER, SESSION_COOKIE, token_hash
from server.state import AppState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.sitewatch
    return state


def db_session(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Session]:
    with state.db.session() as s:
        yield s


DB = Annotated[Session, Depends(db_session, scope="function")]  # commit before the response


def current_user(request: Request, s: DB) -> User:
    """The user of the session cookie; state-changing requests must echo its CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in: POST /api/auth/login")
    ws = s.get(WebSession, token_hash(token))
    if ws is None or ws.expires_at <= datetime.now(UTC):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "session expired or unknown: log in again"
        )
    user = s.get(User, ws.user_id)
    if user is None or not user.active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "account disabled: ask an admin")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, ws.csrf_token):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"missing or wrong {CSRF_HEADER} header: send the value of the sw_csrf cookie "
                "with every POST, PUT, PATCH and DELETE",
            )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(capability: Capability) -> Callable[[User], User]:
    """Dependency factory: the current user, if their role has ``capability``; else 403."""

    def check(user: CurrentUser) -> User:
        if not allowed(user.role, capability):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {user.role!r} may not {capability}: ask an admin for a role that may",
            )
        return user

    return check


def check_site(user: User, site_id: str) -> None:
    """404 for a site outside the user's scope: its existence is not revealed."""
    if not can_see_site(user, site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")


def check_camera(user: User, site_id: str, camera_id: str) -> None:
    """404 for a camera outside the user's scope (sites and cameras): nothing is revealed."""
    check_site(user, site_id)
    if not can_see_camera(user, site_id, camera_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r} at site {site_id!r}"
        )


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


__all__ = ["DB", "CurrentUser", "app_state", "check_camera", "check_site", "require", "select"]
