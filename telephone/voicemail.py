"""Voicemail in the journal: mailbox recordings downloaded from Placetel into the app's storage.

Placetel's download URLs are signed and expire after about 20 minutes, so a
recording is fetched right after the call: a HungUp of type voicemail starts a
background thread (never inside the webhook's request), and the call-records job
retries calls whose recording was not listed yet (for FETCH_WINDOW). The file is
stored under VOICEMAIL_DIR (default `instance/voicemail`) with a random name, at
most VOICEMAIL_MAX_BYTES and within VOICEMAIL_DOWNLOAD_SECONDS, while all files together
stay below VOICEMAIL_STORAGE_BYTES; the retention job
deletes recordings older than VOICEMAIL_RETENTION_DAYS (default 90).

Who may hear a recording: admins, the user the call is assigned to (who answered it)
and the users the dialled office number is assigned to.
"""
from __future__ import annotations

import logging
import mimetypes
import os
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import journal, placetel, sip_accounts, site_settings
from .extensions import db
from .models import Call, CallStatus, User, Voicemail, utcnow

log = logging.getLogger(__name__)

# Synthetic event stored when a recording arrived: the banner is published again and shows it.
VOICEMAIL_EVENT = "Voicemail"
# How long after a call's end the records job still looks for its recording.
FETCH_WINDOW = timedelta(hours=2)
RETENTION_JOB_ID = "calls.voicemail_retention"
_EXTENSIONS = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
               "audio/wave": ".wav", "audio/ogg": ".ogg", "audio/mp4": ".m4a", "audio/aac": ".aac"}
_CHUNK = 64 * 1024
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


class RecordingRefused(Exception):
    """A recording was not stored (too large, too slow, not audio, not reachable); the message says why."""


def storage_dir() -> Path:
    """The folder of the stored recordings (created on first use)."""
    folder = Path(current_app.config.get("VOICEMAIL_DIR") or os.path.join(current_app.instance_path, "voicemail"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def path_of(voicemail: Voicemail) -> Path:
    """Where the file of `voicemail` lives."""
    return storage_dir() / voicemail.file_name


# --------------------------------------------------------------------------- who may hear it


def listener_ids(call: Call) -> set[int]:
    """The users (besides admins) who may hear the recording of `call`."""
    ids = sip_accounts.user_ids_for_number(call.to_number) if call.direction == "in" else set()
    if call.user_id:
        ids.add(call.user_id)
    return ids


def may_hear(user: User, call: Call) -> bool:
    """Whether `user` may play the voicemail of `call`."""
    return bool(getattr(user, "is_admin", False)) or user.id in listener_ids(call)


def audible_call_ids(calls: list[Call], user: User) -> set[int]:
    """Ids of the calls among `calls` with a stored recording that `user` may play."""
    return {call.id for call in calls if call.voicemail is not None and may_hear(user, call)}


# --------------------------------------------------------------------------- downloading


def _content_type(response: requests.Response, url: str) -> str:
    header = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if header.startswith("audio/"):
        return header[:64]
    if header not in ("", "application/octet-stream", "binary/octet-stream"):
        raise RecordingRefused(f"not audio ({header[:40]})")
    guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
    return guessed if guessed.startswith("audio/") else "audio/mpeg"


def download(url: str) -> tuple[bytes, str]:
    """The recording at `url` and its Content-Type; raises RecordingRefused.

    Only http(s); the API token is sent only to Placetel's API host itself, never to
    the storage host a signed URL points to. Larger than VOICEMAIL_MAX_BYTES (by
    Content-Length or while reading) or slower than VOICEMAIL_DOWNLOAD_SECONDS is refused.
    """
    config = current_app.config
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RecordingRefused("not an http(s) URL")
    headers = {"Accept": "audio/*"}
    if parts.netloc == urlsplit(config["PLACETEL_API_URL"]).netloc:
        headers["Authorization"] = f"Bearer {site_settings.get('placetel.api_token').strip()}"
    limit, deadline = config["VOICEMAIL_MAX_BYTES"], time.monotonic() + config["VOICEMAIL_DOWNLOAD_SECONDS"]
    try:
        with requests.get(url, headers=headers, stream=True, timeout=config["PLACETEL_TIMEOUT"]) as response:
            if response.status_code != 200:
                raise RecordingRefused(f"answered {response.status_code}")
            length = (response.headers.get("Content-Length") or "").strip()
            if length.isdigit() and int(length) > limit:
                raise RecordingRefused(f"too large ({length} bytes)")
            content_type = _content_type(response, url)
            chunks, total = [], 0
            for chunk in response.iter_content(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise RecordingRefused(f"too large (more than {limit} bytes)")
                if time.monotonic() > deadline:
                    raise RecordingRefused("deadline passed")
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise RecordingRefused(type(exc).__name__) from None
    if not total:
        raise RecordingRefused("empty")
    return b"".join(chunks), content_type


def _check_storage_room(size: int) -> None:
    """Refuse a recording that would take the storage beyond VOICEMAIL_STORAGE_BYTES."""
    used = db.session.scalar(select(func.coalesce(func.sum(Voicemail.size), 0)))
    if used + size > current_app.config["VOICEMAIL_STORAGE_BYTES"]:
        raise RecordingRefused(f"storage full ({used} bytes stored)")


def store_recording(call: Call, url: str) -> Voicemail | None:
    """Download the recording of `call` from `url` into the storage, once; None when refused.

    A second call for the same call changes nothing (the row is unique per call).
    """
    if call.voicemail is not None:
        return call.voicemail
    try:
        data, content_type = download(url)
        _check_storage_room(len(data))
    except RecordingRefused as exc:
        log.warning("voicemail of call %s not stored: %s", call.call_id, exc)
        return None
    name = secrets.token_hex(16) + _EXTENSIONS.get(content_type, "")
    path = storage_dir() / name
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)
    voicemail = Voicemail(call_pk=call.id, file_name=name, content_type=content_type, size=len(data),
                          stored_at=utcnow())
    try:
        db.session.add(voicemail)
        db.session.commit()
    except IntegrityError:  # another process stored it at the same moment
        db.session.rollback()
        path.unlink(missing_ok=True)
        return db.session.scalar(select(Voicemail).where(Voicemail.call_pk == call.id))
    log.info("voicemail of call %s stored (%s bytes)", call.call_id, len(data))
    journal.add_synthetic_event(call, VOICEMAIL_EVENT, {"size": len(data)}, utcnow())
    return voicemail


def fetch_for_call(call: Call, book=None) -> Voicemail | None:
    """Find the recording of a mailbox call in Placetel's records and store it; None when there is none yet."""
    from . import call_records

    if call.status != CallStatus.VOICEMAIL.value or call.direction != "in":
        return None
    if call.voicemail is not None:
        return call.voicemail
    try:
        record = call_records.find_record(call, book or call_records.RecordBook(), set())
    except placetel.PlacetelError as exc:
        log.warning("voicemail of call %s: Placetel's records not available: %s", call.call_id, type(exc).__name__)
        return None
    if record is None or not record.file_url:
        return None
    return store_recording(call, record.file_url)


def fetch_in_background(call_id: str) -> threading.Thread | None:
    """Fetch the recording of `call_id` in a thread of its own (outside the webhook's request).

    A call whose fetch is running in this process already is not started twice.
    With VOICEMAIL_FETCH_IN_THREAD off (tests) it runs right here and returns None.
    """
    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                call = db.session.scalar(select(Call).where(Call.call_id == call_id))
                if call is not None:
                    fetch_for_call(call)
            except Exception:
                log.exception("voicemail of call %s: download failed", call_id)
            finally:
                db.session.remove()
                with _in_flight_lock:
                    _in_flight.discard(call_id)

    with _in_flight_lock:
        if call_id in _in_flight:
            return None
        _in_flight.add(call_id)
    if not app.config.get("VOICEMAIL_FETCH_IN_THREAD", True):
        run()
        return None
    thread = threading.Thread(target=run, name="voicemail-fetch", daemon=True)
    thread.start()
    return thread


def after_event(notify: placetel.NotifyEvent, recorded: journal.Recorded) -> None:
    """Webhook hook: a new HungUp of a call that ended in the mailbox starts the download (with a token)."""
    if not recorded.created or notify.event != "HungUp":
        return
    try:
        if not placetel.api_token_set():
            return
        if notify.type != "voicemail" and recorded.call.status != CallStatus.VOICEMAIL.value:
            return
        fetch_in_background(notify.call_id)
    except Exception:  # the event is stored and answered in any case; the records job tries again
        log.exception("voicemail of call %s: download not started", notify.call_id)


def fetch_missing(now: datetime | None = None) -> int:
    """Records job: recordings of mailbox calls of the last FETCH_WINDOW that are not stored yet."""
    from . import call_records

    now = now or utcnow()
    if not placetel.api_token_set():
        return 0
    calls = db.session.scalars(
        select(Call).outerjoin(Voicemail, Voicemail.call_pk == Call.id)
        .where(Call.status == CallStatus.VOICEMAIL.value, Call.direction == "in", Voicemail.id.is_(None),
               Call.ended_at >= now - FETCH_WINDOW)
    ).all()
    book = call_records.RecordBook()
    return sum(1 for call in calls if fetch_for_call(call, book) is not None)


# --------------------------------------------------------------------------- retention


def delete_old(now: datetime | None = None) -> int:
    """Delete recordings older than VOICEMAIL_RETENTION_DAYS (file and row); returns how many."""
    now = now or utcnow()
    limit = now - timedelta(days=float(current_app.config["VOICEMAIL_RETENTION_DAYS"]))
    old = db.session.scalars(select(Voicemail).where(Voicemail.stored_at < limit)).all()
    for voicemail in old:
        path_of(voicemail).unlink(missing_ok=True)
        db.session.delete(voicemail)
    db.session.commit()
    if old:
        log.info("%s voicemail recordings older than %s deleted", len(old), limit)
    return len(old)


def register_jobs(app: Flask, scheduler) -> None:
    """Add the hourly retention job to the running APScheduler."""

    def retention_job():
        with app.app_context():
            try:
                delete_old()
            finally:
                db.session.remove()

    scheduler.add_job(retention_job, "interval", hours=1, id=RETENTION_JOB_ID, replace_existing=True,
                      coalesce=True, max_instances=1)
