"""Access to the phone directories and the caller-name lookup: the URL token and who fetched what.

Desk phones cannot log in, so these read-only URLs carry a secret token. A wrong
token is answered like an unknown page (404) and logged. Each format remembers
when it was last fetched, so the admin sees that the phones really use it.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time

from sqlalchemy import select

from . import site_settings
from .extensions import db
from .models import DirectoryAccess, utcnow

log = logging.getLogger(__name__)

TOKEN_KEY = "phones.directory_token"
# A phone polling every minute must not write a row each time: one write per format and interval.
RECORD_INTERVAL_SECONDS = 60
_last_recorded: dict[str, float] = {}


def current_token(create: bool = True) -> str:
    """The directory token; a new one is created (and committed) when there is none and `create`."""
    token = site_settings.get(TOKEN_KEY)
    if not token and create:
        token = renew_token()
    return token


def renew_token() -> str:
    """Replace the token (old URLs stop working at once); commits."""
    token = secrets.token_urlsafe(24)
    site_settings.set_value(TOKEN_KEY, token)
    db.session.commit()
    log.info("phone directory token renewed")
    return token


def token_valid(presented: str | None, what: str, address: str | None) -> bool:
    """Whether `presented` is the directory token (constant-time); a refusal is logged."""
    expected = site_settings.get(TOKEN_KEY)
    presented = presented or ""
    valid = bool(expected) and hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode())
    if not valid:
        log.warning("%s: wrong or missing directory token from %s", what, address or "?")
    return valid


def record_access(format_name: str, address: str | None, user_agent: str | None) -> None:
    """Note that `format_name` was fetched (at most one write per format and minute per process)."""
    now = time.monotonic()
    if now - _last_recorded.get(format_name, -RECORD_INTERVAL_SECONDS) < RECORD_INTERVAL_SECONDS:
        return
    _last_recorded[format_name] = now
    row = db.session.get(DirectoryAccess, format_name)
    if row is None:
        row = DirectoryAccess(format=format_name)
        db.session.add(row)
    row.last_at = utcnow()
    row.last_address = (address or "")[:64]
    row.user_agent = (user_agent or "")[:200]
    db.session.commit()


def last_accesses() -> dict[str, DirectoryAccess]:
    """Format → its last recorded access."""
    return {row.format: row for row in db.session.scalars(select(DirectoryAccess))}
