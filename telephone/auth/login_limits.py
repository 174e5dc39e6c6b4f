"""Limits on failed logins per user name and per client address, shared by every process.

Failures are rows in `login_failure`; within LOGIN_FAILURE_WINDOW at most
LOGIN_FAILURES_PER_USERNAME per (lower-cased) user name and
LOGIN_FAILURES_PER_ADDRESS per client address are allowed. After that, logins
for that name or from that address wait until the oldest counted failure is
older than the window. A successful login clears the name's failures.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..models import LoginFailure, utcnow

log = logging.getLogger(__name__)


def _name(username: str) -> str:
    return username.strip().lower()[:64]


def _window() -> timedelta:
    return current_app.config["LOGIN_FAILURE_WINDOW"]


def _retry_at(column, value: str, limit: int, since: datetime) -> datetime | None:
    """When the `limit`-th newest failure for `value` leaves the window, or None below the limit."""
    if limit <= 0:
        return None
    nth_newest = db.session.scalar(
        select(LoginFailure.at).where(column == value, LoginFailure.at > since)
        .order_by(LoginFailure.at.desc()).offset(limit - 1).limit(1)
    )
    return nth_newest + _window() if nth_newest is not None else None


def seconds_to_wait(username: str, address: str) -> int:
    """How long logins for this name or from this address must wait (0: they may try now)."""
    config = current_app.config
    now = utcnow()
    since = now - _window()
    waits = [
        _retry_at(LoginFailure.username, _name(username), config["LOGIN_FAILURES_PER_USERNAME"], since),
        _retry_at(LoginFailure.address, address[:64], config["LOGIN_FAILURES_PER_ADDRESS"], since),
    ]
    latest = max((at for at in waits if at is not None), default=None)
    return max(math.ceil((latest - now).total_seconds()), 1) if latest is not None else 0


def record_failure(username: str, address: str) -> None:
    """Count a failed login (caller commits) and log it with the client address."""
    log.warning("failed login for user name %r from %s", username[:64], address)
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - _window()))
    db.session.add(LoginFailure(username=_name(username), address=address[:64]))


def clear_failures(username: str) -> None:
    """Forget the failed logins of this user name (caller commits)."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.username == _name(username)))
