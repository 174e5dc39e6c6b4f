"""Creating users and one-time passwords, shared by the admin pages and the CLI."""
from __future__ import annotations

import secrets
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import Role, User


class UserExists(ValueError):
    pass


def create_user(username: str, password: str, admin: bool = False, display_name: str = "",
                must_change_password: bool = False) -> User:
    """Add a user (caller commits); raises UserExists if the name is taken."""
    username = username.strip()
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(_("Benutzer „%(username)s“ gibt es schon.", username=username))
    user = User(username=username, display_name=display_name.strip(),
                role=Role.ADMIN.value if admin else Role.USER.value,
                must_change_password=must_change_password)
    user.set_password(password)
    db.session.add(user)
    return user


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


@cache
def _dummy_hash() -> str:
    """A hash made like every stored one (same algorithm and cost) that no password matches."""
    return generate_password_hash(secrets.token_urlsafe(32))


def authenticate(username: str, password: str) -> User | None:
    """The user with this name if the password is right (active or not), else None.

    An unknown name costs a password check too, so the time taken does not tell
    whether a user name exists."""
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if user.check_password(password) else None
