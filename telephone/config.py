"""One configuration class, read from the environment (and `.env`)."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

load_dotenv()


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def load_secret_key(instance_path: str) -> str:
    """Return SECRET_KEY from the environment, else the one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: if two workers start at once only one writes, the other reads it.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "telephone.db")


class Config:
    """Settings with their defaults; `create_app` fills in what depends on the instance path."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    # Pooled connections are replaced after this many seconds (before servers or firewalls drop idle
    # ones); a connection that died anyway is noticed by the first statement, which is then retried
    # once on a new connection (telephone/database.py). No ping before every use: that cost a round
    # trip per request.
    DATABASE_POOL_RECYCLE = _int("DATABASE_POOL_RECYCLE", 1800)
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_recycle": DATABASE_POOL_RECYCLE}
    PLACETEL_API_URL = os.environ.get("PLACETEL_API_URL", "https://api.placetel.de/v2").rstrip("/")
    PLACETEL_TIMEOUT = (3.05, 10)
    # Call Control: a decision slower than this is dropped (Placetel retries after 100 ms)
    ROUTING_BUDGET_MS = int(os.environ.get("ROUTING_BUDGET_MS", "80"))
    TELEPHONE_DEFAULT_REGION = os.environ.get("TELEPHONE_DEFAULT_REGION", "DE").upper()
    EVENT_BUS_URL = os.environ.get("EVENT_BUS_URL") or None
    SCHEDULER_ENABLED = _flag("SCHEDULER_ENABLED", "1")

    # CSRF tokens live as long as the session: a page left open all day keeps working.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    # "Angemeldet bleiben": the remember cookie and the session last 14 days, not Flask's 31/365.
    PERMANENT_SESSION_LIFETIME = timedelta(days=14)
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Cookies get the Secure flag on every HTTPS request (telephone/security.py).

    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    # Failed logins allowed within LOGIN_FAILURE_WINDOW per user name and per client address.
    LOGIN_FAILURES_PER_USERNAME = 5
    LOGIN_FAILURES_PER_ADDRESS = 20
    LOGIN_FAILURE_WINDOW = timedelta(minutes=15)

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TELEPHONE_TIMEZONE", "Europe/Berlin")
    LANGUAGES = ("de", "en")

    # Largest request body accepted (uploads of CSV files); the webhook has its own smaller limit.
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    PAGE_SIZE = 25

    # --- calls and event streams (calls helper) ---
    # An answered call without HungUp is closed after this many hours (ringing ones: calls.expire_minutes).
    CALL_ACCEPTED_EXPIRY_HOURS = float(os.environ.get("CALL_ACCEPTED_EXPIRY_HOURS") or 4)
    # Event streams must never take the last connections the webhook and the pages need: above
    # EVENT_STREAM_LIMIT open streams per process (unset: EVENT_STREAM_SHARE of the connection slots
    # gunicorn.conf.py reports as SERVER_CONNECTION_SLOTS) a new stream is answered 503 + Retry-After.
    EVENT_STREAM_LIMIT = int(os.environ["EVENT_STREAM_LIMIT"]) if os.environ.get("EVENT_STREAM_LIMIT") else None
    EVENT_STREAM_SHARE = float(os.environ.get("EVENT_STREAM_SHARE") or 0.8)
    EVENT_STREAM_RETRY_AFTER = 30  # seconds, in the 503's Retry-After

    # --- Placetel call records and voicemail (records helper) ---
    # Open calls are completed from Placetel's call records every this many minutes (with an API token).
    CALL_RECORDS_INTERVAL_MINUTES = float(os.environ.get("CALL_RECORDS_INTERVAL_MINUTES") or 5)
    # Voicemail recordings: folder (unset: instance/voicemail), largest file, download deadline, retention.
    VOICEMAIL_DIR = os.environ.get("VOICEMAIL_DIR") or None
    VOICEMAIL_MAX_BYTES = int(os.environ.get("VOICEMAIL_MAX_BYTES") or 20 * 1024 * 1024)
    VOICEMAIL_STORAGE_BYTES = int(os.environ.get("VOICEMAIL_STORAGE_BYTES") or 2 * 1024 ** 3)  # all files together
    VOICEMAIL_DOWNLOAD_SECONDS = float(os.environ.get("VOICEMAIL_DOWNLOAD_SECONDS") or 60)
    VOICEMAIL_RETENTION_DAYS = float(os.environ.get("VOICEMAIL_RETENTION_DAYS") or 90)
