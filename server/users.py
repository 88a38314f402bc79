"""Creating users (the CLI's ``create-user`` and the admin API share this)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ROLES, User
from server.security import hash_password

ID_OK = "lower-case letters, digits, '-' or '_', or '*' for every site"


class UserError(ValueError):
    """A user that cannot be created as asked; the text says why and what to do."""


def create_user(
    s: Session, username: str, password: str, role: str, sites: list[str], language: str
) -> User:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not sites:
        raise UserError(f"give the user's sites (site ids, {ID_OK})")
    if "*" in sites and sites != ["*"]:
        raise UserError(f"'*' means every site and stands alone, got {sites}")
    if s.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} exists already: pick another name")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    user = User(username=username, password_hash=hashed, role=role, sites=sites, language=language)
    s.add(user)
    s.flush()
    return user
