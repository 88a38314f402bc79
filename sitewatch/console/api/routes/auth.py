"""Log in and out, who am I, my language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sitewatch.console.api.deps import DB, CurrentUser, app_state, check_origin, client_address
from sitewatch.console.api.errors import refuse
from sitewatch.console.domain import audit
from sitewatch.console.domain.queries import user_out
from sitewatch.console.domain.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    LoginRefused,
    new_token,
    token_hash,
)
from sitewatch.console.schemas import LanguageIn, LoginIn, UserOut
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User, WebSession

router = APIRouter(prefix="/api/auth", tags=["auth"])
State = Annotated[AppState, Depends(app_state)]


@router.post(
    "/login",
    responses={
        401: {"description": "wrong user name or password"},
        429: {"description": "too many failed logins (user name, address, or both)"},
        503: {"description": "too many logins being checked at once"},
    },
)
def login(body: LoginIn, request: Request, response: Response, s: DB, state: State) -> UserOut:
    """Check the password; set the HttpOnly, SameSite=Strict session cookie (no CSRF cookie).

    Limited per user name and address, per address and per user name (:class:`LoginLimiter`);
    an unknown user name costs the same argon2 check as a known one; every failed check is in
    the audit log (``login_failed``, committed before the 401), and so is the first refusal of
    each pause (not every refused request: a flood would fill the log)."""
    check_origin(request)
    address = client_address(request)
    try:
        attempt = state.limiter.start(body.username, address)
        user = s.scalar(select(User).where(User.username == body.username))
        ok = state.limiter.verify(attempt, user.password_hash if user else None, body.password)
    except LoginRefused as exc:
        if exc.first:  # once per pause, not per refused request
            _failed(s, body.username, f"paused: {exc.detail}", address)
        code = (
            status.HTTP_503_SERVICE_UNAVAILABLE if exc.busy else status.HTTP_429_TOO_MANY_REQUESTS
        )
        headers = {"Retry-After": str(int(exc.retry_after) + 1)}
        raise refuse(code, f"http.{code}", exc.detail, headers=headers) from None
    if user is None or not user.active or not ok:
        why = "unknown user" if user is None else "wrong password" if not ok else "disabled"
        _failed(s, body.username, why, address)
        raise refuse(
            status.HTTP_401_UNAUTHORIZED, "auth.wrong_credentials", "wrong user name or password"
        )
    state.limiter.succeeded(attempt)
    now = datetime.now(UTC)
    s.execute(delete(WebSession).where(WebSession.expires_at <= now))
    token, csrf = new_token(), new_token()
    hours = state.settings.session_hours
    s.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    user.last_login_at = now
    audit.record(s, user, "login", "user", user.username, client=address)
    secure = state.settings.cookie_secure or request.url.scheme == "https"
    age = int(hours * 3600)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=age, httponly=True, samesite="strict", secure=secure
    )  # no CSRF cookie: see sitewatch.console.api.deps.check_request_origin
    return user_out(user)


LOGIN_REASONS = frozenset({"unknown_user", "wrong_password", "disabled", "paused"})


def _failed(s: Session, username: str, why: str, address: str | None) -> None:
    """Audit a failed login and commit it at once: the error answer that follows rolls the
    request's session back."""
    reason = why.split(":", 1)[0].replace(" ", "_")  # unknown_user, wrong_password, paused ...
    audit.record(
        s, username, "login_failed", "user", username, detail=why, client=address,
        key=f"login_{reason}" if reason in LOGIN_REASONS else None,
    )  # fmt: skip
    s.commit()


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, user: CurrentUser, s: DB) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    s.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))
    audit.record(s, user, "logout", "user", user.username, client=client_address(request))
    secure = request.app.state.sitewatch.settings.cookie_secure or request.url.scheme == "https"
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=secure)
    response.delete_cookie(CSRF_COOKIE, samesite="strict", secure=secure)  # an older release's


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.put("/me/language")
def set_language(body: LanguageIn, user: CurrentUser, s: DB) -> UserOut:
    db_user = s.get(User, user.id)
    assert db_user is not None
    db_user.language = body.language
    return user_out(db_user)
