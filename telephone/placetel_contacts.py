"""Pushing the company phonebook to Placetel's contacts, so Placetel's apps and phones show names.

The opposite direction of a phonebook sync, with the same habits: the difference
to what was pushed last time is computed from stored hashes (one `PlacetelContact`
row per contact this app created), only that difference is sent, and only
contacts this app created are ever changed or deleted. Placetel's rate limit
(429 with `Retry-After`) is waited out; each push is recorded as a
`ContactPushRun` with its progress and result.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from . import messages, placetel, site_settings
from .extensions import db
from .models import ContactPushRun, PhonebookEntry, PhoneNumber, PlacetelContact, utcnow

log = logging.getLogger(__name__)

# Placetel's contact fields for the kinds of numbers we keep
PAYLOAD_FIELD = {"phone": "phone_work", "mobile": "mobile_work", "fax": "fax_work"}
MAX_RATE_LIMIT_WAITS = 5
DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 120
PROGRESS_EVERY = 20
# A run still "running" after this long was ended by a dead process
RUNNING_STALE_MINUTES = 30
_push_lock = threading.Lock()
ALREADY_RUNNING = "Eine Übertragung läuft bereits."


class PushRefused(Exception):
    """Another push is running, or no API token is set; the message says which, in German."""


@dataclass
class PushPlan:
    """What a push does: payloads to create and to change, Placetel ids to delete."""

    create: list[tuple[int, dict, str]] = field(default_factory=list)  # (entry id, payload, hash)
    update: list[tuple[PlacetelContact, dict, str]] = field(default_factory=list)
    delete: list[PlacetelContact] = field(default_factory=list)
    unchanged: int = 0

    @property
    def total(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)

    def summary(self) -> str:
        return summary(len(self.create), len(self.update), len(self.delete), self.unchanged)


def summary(created: int, updated: int, deleted: int, unchanged: int) -> str:
    """One German line for the CLI and the admin page."""
    return f"{created} neu, {updated} geändert, {deleted} gelöscht, {unchanged} unverändert"


def run_summary(run: ContactPushRun) -> str:
    return summary(run.created, run.updated, run.deleted, run.unchanged)


def contact_payload(entry: PhonebookEntry, numbers: list[PhoneNumber]) -> dict:
    """The Placetel contact for a phonebook entry (first number of each kind, E.164 where recognised)."""
    payload = {
        "first_name": entry.given_name or "",
        "last_name": entry.family_name or ("" if entry.given_name else entry.display_name),
        "company": entry.company or "",
    }
    emails = [item.get("address", "") for item in entry.emails or [] if isinstance(item, dict)]
    if emails and emails[0]:
        payload["email_work"] = emails[0]
    for number in numbers:
        key = PAYLOAD_FIELD.get(number.kind)
        if key and key not in payload:
            payload[key] = number.e164 or number.raw
    return payload


def _hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def plan_push() -> PushPlan:
    """Compare the phonebook with what was pushed before; sends nothing."""
    numbers_by_entry: dict[int, list[PhoneNumber]] = {}
    for number in db.session.scalars(select(PhoneNumber).where(PhoneNumber.phonebook_entry_id.is_not(None))
                                     .order_by(PhoneNumber.id)):
        numbers_by_entry.setdefault(number.phonebook_entry_id, []).append(number)
    links = {link.phonebook_entry_id: link for link in db.session.scalars(select(PlacetelContact))}
    plan = PushPlan()
    entries = db.session.scalars(select(PhonebookEntry).where(PhonebookEntry.id.in_(numbers_by_entry))
                                 .order_by(PhonebookEntry.id))
    for entry in entries:
        payload = contact_payload(entry, numbers_by_entry[entry.id])
        digest = _hash(payload)
        link = links.pop(entry.id, None)
        if link is None:
            plan.create.append((entry.id, payload, digest))
        elif link.content_hash != digest:
            plan.update.append((link, payload, digest))
        else:
            plan.unchanged += 1
    # What is left was created by us for entries that are gone or have no number any more.
    plan.delete = list(links.values())
    return plan


def push_contacts(trigger: str = "manual", run_id: int | None = None) -> ContactPushRun:
    """Push the difference to Placetel now; returns the finished run (status success or failed).

    `run_id` is a run that `start_background_push` already recorded as running.
    """
    if not site_settings.is_set("placetel.api_token"):
        raise PushRefused("Es ist kein Placetel-API-Token eingetragen.")
    if not _push_lock.acquire(blocking=False):
        raise PushRefused(ALREADY_RUNNING)
    try:
        if run_id is None and _running_elsewhere():
            raise PushRefused(ALREADY_RUNNING)
        return _push(trigger, run_id)
    finally:
        _push_lock.release()


def _running_elsewhere() -> bool:
    """A recent run still marked running (another process, several gunicorn workers)."""
    since = utcnow() - timedelta(minutes=RUNNING_STALE_MINUTES)
    return db.session.scalar(select(ContactPushRun.id).where(
        ContactPushRun.status == "running", ContactPushRun.started_at > since).limit(1)) is not None


def _push(trigger: str, run_id: int | None) -> ContactPushRun:
    run = db.session.get(ContactPushRun, run_id) if run_id is not None else None
    if run is None:
        run = ContactPushRun(trigger=trigger)
        db.session.add(run)
    plan = plan_push()
    run.total, run.unchanged = plan.total, plan.unchanged
    db.session.commit()
    try:
        for entry_id, payload, digest in plan.create:
            contact_id = _with_rate_limit(placetel.create_contact, payload)
            db.session.add(PlacetelContact(phonebook_entry_id=entry_id, placetel_id=contact_id, content_hash=digest))
            run.created += 1
            _progress(run)
        for link, payload, digest in plan.update:
            try:
                _with_rate_limit(placetel.update_contact, link.placetel_id, payload)
            except placetel.RequestRefused as exc:
                if exc.status != 404:
                    raise
                # Deleted in Placetel by someone: create it again.
                link.placetel_id = _with_rate_limit(placetel.create_contact, payload)
            link.content_hash, link.pushed_at = digest, utcnow()
            run.updated += 1
            _progress(run)
        for link in plan.delete:
            _with_rate_limit(placetel.delete_contact, link.placetel_id)
            db.session.delete(link)
            run.deleted += 1
            _progress(run)
        run.status = "success"
    except placetel.PlacetelError as exc:
        run.status, run.error = "failed", str(exc)
        run.error_message = messages.to_stored(exc.args[0] if exc.args else None)
        log.warning("push to Placetel contacts failed: %s", exc)
    run.finished_at = utcnow()
    db.session.commit()
    return run


def _progress(run: ContactPushRun) -> None:
    """Count one request; every contact done is committed, so a failure later keeps what Placetel has."""
    run.progress += 1
    if run.progress % PROGRESS_EVERY == 0 or run.progress == run.total:
        db.session.commit()
    else:
        db.session.flush()


def _with_rate_limit(call, *args):
    """Call Placetel; on 429 wait as long as Placetel says (bounded) and try again."""
    for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
        try:
            return call(*args)
        except placetel.RateLimited as exc:
            if attempt == MAX_RATE_LIMIT_WAITS:
                raise
            wait = min(exc.retry_after or DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER)
            log.info("Placetel rate limit: waiting %s s", wait)
            db.session.commit()  # keep no transaction open while waiting
            _sleep(wait)
    raise AssertionError("unreachable")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def latest_run() -> ContactPushRun | None:
    return db.session.scalars(select(ContactPushRun).order_by(ContactPushRun.id.desc()).limit(1)).first()


def start_background_push(trigger: str = "manual") -> int:
    """Record a running push and carry it out in a thread; returns the run's id at once.

    The run exists before the answer goes out, so the page that follows shows it
    running and polls until it ends. Raises PushRefused (no token, another push running).
    """
    if not site_settings.is_set("placetel.api_token"):
        raise PushRefused("Es ist kein Placetel-API-Token eingetragen.")
    if _running_elsewhere():
        raise PushRefused(ALREADY_RUNNING)
    run = ContactPushRun(trigger=trigger)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    app = current_app._get_current_object()

    def work() -> None:
        with app.app_context():
            try:
                push_contacts(trigger, run_id)
            except PushRefused as exc:
                log.info("push to Placetel contacts skipped: %s", exc)
                _end_unstarted(run_id, str(exc))
            except Exception:
                log.exception("push to Placetel contacts failed")
                _end_unstarted(run_id, "Interner Fehler bei der Übertragung.")
            finally:
                db.session.remove()

    threading.Thread(target=work, name="placetel-contacts-push", daemon=True).start()
    return run_id


def _end_unstarted(run_id: int, reason: str) -> None:
    """A recorded run that could not run ends as failed with the reason, not as "running" forever."""
    db.session.rollback()
    run = db.session.get(ContactPushRun, run_id)
    if run is not None and run.status == "running":
        run.status, run.error, run.finished_at = "failed", reason, utcnow()
        db.session.commit()


def push_after_sync() -> None:
    """Called after a successful phonebook sync: push when the admin switched it on."""
    if site_settings.get("placetel.push_contacts") == "1" and site_settings.is_set("placetel.api_token"):
        try:
            run = push_contacts("sync")
            log.info("push to Placetel contacts after sync: %s", run.status)
        except PushRefused as exc:
            log.info("push to Placetel contacts after sync skipped: %s", exc)
