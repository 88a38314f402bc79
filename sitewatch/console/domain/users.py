"""Creating users (the CLI's ``create-user`` and the admin API share this)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sitewatch.console.domain.security import hash_password
from sitewatch.console.permissions import camera_scope_problem
from sitewatch.console.store.models import ROLES, User, WebSession
from sitewatch.contract.vocabulary import ID_RE

ID_OK = "lower-case letters, digits, '-' or '_', or '*' for every site"


class UserError(ValueError):
    """A user that cannot be created as asked; the text says why and what to do."""


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    sites: list[str],
    language: str,
    *,
    cameras: list[str] | None = None,
) -> User:
    """A new user of ``sites`` (and, given ``cameras``, only those "site/camera" entries)."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not sites:
        raise UserError(f"give the user's sites (site ids, {ID_OK})")
    if "*" in sites and sites != ["*"]:
        raise UserError(f"'*' means every site and stands alone, got {sites}")
    check_scope(sites, cameras)
    if s.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} exists already: pick another name")
    user = User(
        username=username,
        password_hash=_hashed(password),
        role=role,
        sites=sites,
        cameras=cameras,
        language=language,
    )
    s.add(user)
    s.flush()
    return user


def check_scope(sites: list[str], cameras: list[str] | None) -> None:
    """UserError if a site id breaks the contract's id pattern (``*`` aside), or ``cameras`` is
    no valid camera scope for a user of ``sites``."""
    bad = [site for site in sites if site != "*" and not ID_RE.fullmatch(site)]
    if bad:
        raise UserError(f"site ids must be {ID_OK}; got {bad}: correct or remove them")
    problem = camera_scope_problem(sites, cameras)
    if problem is not None:
        raise UserError(problem)


def parse_cameras(text: str) -> list[str] | None:
    """``"north/gate, north/crane"`` → the entries; empty text → None (every camera)."""
    entries = [x.strip() for x in text.split(",") if x.strip()]
    return entries or None


def set_password(s: Session, username: str, password: str) -> User:
    """A new password for an existing user (their sessions end)."""
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user {username!r}: create it first")
    user.password_hash = _hashed(password)
    end_sessions(s, user.id)
    return user


def end_sessions(s: Session, user_id: int) -> None:
    """Log the user out everywhere (after a change to what they may do, or their password)."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _hashed(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from None
