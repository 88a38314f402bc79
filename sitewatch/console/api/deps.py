"""FastAPI dependencies: the database session, the logged-in user, CSRF, roles and sites."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security, status
from fastapi.security import APIKeyCookie, APIKeyHeader
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.api.errors import refuse
from sitewatch.console.domain.security import CSRF_HEADER, SESSION_COOKIE, token_hash
from sitewatch.console.permissions import Capability, allowed, can_see_camera, can_see_site
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User, WebSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The API docs' security schemes: named here so that every route that needs a login lists them
# (checked below, not by these objects: auto_error=False; api/docs.py drops csrf from reads)
SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session cookie POST /api/auth/login sets (HttpOnly).",
    auto_error=False,
)
CSRF_SCHEME = APIKeyHeader(
    name=CSRF_HEADER,
    scheme_name="csrf",
    description="Any non-empty value, on every POST, PUT, PATCH and DELETE (docs/design/csrf.md).",
    auto_error=False,
)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.sitewatch
    return state


def db_session(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Session]:
    with state.db.session() as s:
        yield s


DB = Annotated[Session, Depends(db_session, scope="function")]  # commit before the response


def current_user(
    request: Request,
    s: DB,
    _session: Annotated[str | None, Security(SESSION_SCHEME)] = None,
    _csrf: Annotated[str | None, Security(CSRF_SCHEME)] = None,
) -> User:
    """The user of the session cookie; a state-changing request must also pass
    :func:`check_request_origin` (the console's defence against cross-site requests)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise refuse(
            status.HTTP_401_UNAUTHORIZED,
            "auth.not_logged_in",
            "not logged in: POST /api/auth/login",
        )
    ws = s.get(WebSession, token_hash(token))
    if ws is None or ws.expires_at <= datetime.now(UTC):
        raise refuse(
            status.HTTP_401_UNAUTHORIZED,
            "auth.session_expired",
            "session expired or unknown: log in again",
        )
    user = s.get(User, ws.user_id)
    if user is None or not user.active:
        raise refuse(
            status.HTTP_401_UNAUTHORIZED, "auth.account_disabled", "account disabled: ask an admin"
        )
    if request.method not in SAFE_METHODS:
        check_request_origin(request)
    return user


def check_request_origin(request: Request) -> None:
    """403 unless a state-changing request is the console page's own ``fetch``.

    It must carry the ``X-CSRF-Token`` header (any non-empty value) and, when the browser
    sends ``Origin`` or ``Sec-Fetch-Site``, come from the console's own origin (this request's
    scheme and host, or one of ``public_origins``) or ``Sec-Fetch-Site: same-origin``. A client
    that sends neither passes on the header alone. Why no token: docs/design/csrf.md.
    """
    if not request.headers.get(CSRF_HEADER):
        raise refuse(
            status.HTTP_403_FORBIDDEN,
            "csrf.missing",
            f"missing {CSRF_HEADER} header: send it (any non-empty value, the console page "
            "sends 'console') with every POST, PUT, PATCH and DELETE",
            header=CSRF_HEADER,
        )
    check_origin(request)


def check_origin(request: Request) -> None:
    """403 when the browser says the request comes from another origin (login CSRF too: the
    login form has no custom header to require, so only this part guards it)."""
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        public = {o.lower().rstrip("/") for o in app_state(request).settings.public_origins}
        if origin.lower() != own and origin.lower() not in public:
            raise refuse(
                status.HTTP_403_FORBIDDEN,
                "csrf.cross_origin",
                f"cross-origin request refused: Origin {origin!r}, the console is {own!r}"
                f"{' or one of ' + ', '.join(sorted(public)) if public else ''}: use the "
                "console's own pages; behind a proxy, pass the Host header on or list the "
                "address users open in public_origins",
            )
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise refuse(
            status.HTTP_403_FORBIDDEN,
            "csrf.cross_origin",
            f"cross-site request refused: Sec-Fetch-Site {site!r}, expected 'same-origin': "
            "use the console's own pages",
        )


CurrentUser = Annotated[User, Depends(current_user)]


def require(capability: Capability) -> Callable[[User], User]:
    """Dependency factory: the current user, if their role has ``capability``; else 403."""

    def check(user: CurrentUser) -> User:
        if not allowed(user.role, capability):
            raise refuse(
                status.HTTP_403_FORBIDDEN,
                "auth.role_may_not",
                f"role {user.role!r} may not {capability}: ask an admin for a role that may",
                role=user.role,
                capability=capability,
            )
        return user

    return check


def check_site(user: User, site_id: str) -> None:
    """404 for a site outside the user's scope: its existence is not revealed."""
    if not can_see_site(user, site_id):
        raise refuse(
            status.HTTP_404_NOT_FOUND, "scope.no_site", f"no site {site_id!r}", site=site_id
        )


def check_camera(user: User, site_id: str, camera_id: str) -> None:
    """404 for a camera outside the user's scope (sites and cameras): nothing is revealed."""
    check_site(user, site_id)
    if not can_see_camera(user, site_id, camera_id):
        raise refuse(
            status.HTTP_404_NOT_FOUND,
            "scope.no_camera",
            f"no camera {camera_id!r} at site {site_id!r}",
            site=site_id,
            camera=camera_id,
        )


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


__all__ = ["DB", "CurrentUser", "app_state", "check_camera", "check_site", "require", "select"]
