"""The phonebook sync engine: validate a source's records, enforce limits, apply the difference.

A run reads every record first and changes nothing unless all of them are
valid and within the limits. The difference to what the source synced before is
computed by the source's own id (`internal_id`) and the stored `content_hash`,
and applied in one transaction: an unchanged source writes no entry at all.
Manual entries (no source) are never touched.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import chain
from typing import Callable, Iterator

from flask import current_app
from sqlalchemy import delete, func, insert, select, text, update

from .. import crypto, messages, search_index, site_settings
from ..extensions import db
from ..models import PhonebookEntry, PhoneNumber, SyncRun, SyncSource, utcnow
from . import liveness, pg_copy, sources  # noqa: F401  (sources registers every source type)
from .base import EMAIL_TYPES, GENDERS, PHONE_TYPES, Problem, Record, Source, SourceError, source_class
from ..search_documents import phonebook_entry_keys
from .normalize import KIND_BY_TYPE, NumberCache, content_hash

log = logging.getLogger(__name__)
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")

# A run still "running" after this long belongs to a process that died.
STALE_AFTER = timedelta(hours=1)
PROGRESS_EVERY = 1000
START_WAIT = 5.0  # seconds start_background_sync waits for the run to be recorded
# A long sync pauses this often so that webhooks and call banners of the same
# process are served meanwhile (gevent greenlets only switch when code yields).
YIELD_EVERY = 100
CHUNK = 500  # ids per IN (…) list
ANALYZE_AFTER = 1000  # PostgreSQL: a sync writing this many rows refreshes the planner's statistics
PREVIEW_NAMES = 100
MAX_STORED_MESSAGES = 500
LIST_AT_MOST = 20
# First key of the PostgreSQL advisory lock pair (second key: the source id)
LOCK_NAMESPACE = 5_140_001

ALREADY_RUNNING = messages.gettext("Synchronisation läuft bereits.")
# One shared string object per type and gender instead of one per record (memory of large imports)
_CANONICAL = {name: name for name in PHONE_TYPES + EMAIL_TYPES + GENDERS}

_local_locks: dict[int, threading.Lock] = {}
_local_locks_guard = threading.Lock()
_threads: list[threading.Thread] = []


class SyncRefused(Exception):
    """The source is being synced by another thread or process right now."""


@dataclass
class SyncOutcome:
    """What a run did (or, for a preview, would do)."""

    run_id: int
    ok: bool
    total: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Preview only: names that would be created, changed, deleted (at most PREVIEW_NAMES each)
    preview: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.level == "error"]

    def summary(self) -> messages.Message:
        """One line for the CLI (German) and flash messages (`messages.localized`)."""
        if not self.ok:
            return messages.gettext("Synchronisation fehlgeschlagen: %(problems)s",
                                    problems=messages.join([_line_text(p) for p in self.errors[:LIST_AT_MOST]]))
        return messages.ngettext(
            "%(num)d Datensatz: %(created)s neu, %(updated)s geändert, %(deleted)s gelöscht, %(unchanged)s unverändert.",
            "%(num)d Datensätze: %(created)s neu, %(updated)s geändert, %(deleted)s gelöscht, "
            "%(unchanged)s unverändert.",
            self.total, created=self.created, updated=self.updated, deleted=self.deleted, unchanged=self.unchanged)


def _line_text(problem: Problem) -> messages.Message | str:
    return messages.gettext("Zeile %(line)s: %(text)s", line=problem.line, text=problem.text) if problem.line \
        else problem.text


# --------------------------------------------------------------------------- locking


@contextmanager
def source_lock(source_id: int) -> Iterator[None]:
    """Hold the lock that lets only one thread/process sync a source; raises SyncRefused.

    PostgreSQL: a session advisory lock on its own connection (released when the
    process dies). SQLite (one process): an in-process lock; other processes are
    kept out by the check for a recent running SyncRun in `sync_source`.
    """
    if db.engine.dialect.name == "postgresql":
        connection = db.engine.connect()
        try:
            if not connection.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                      {"ns": LOCK_NAMESPACE, "id": source_id}).scalar():
                raise SyncRefused(ALREADY_RUNNING)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": LOCK_NAMESPACE, "id": source_id})
                connection.commit()
        finally:
            connection.close()
        return
    with _local_locks_guard:
        lock = _local_locks.setdefault(source_id, threading.Lock())
    if not lock.acquire(blocking=False):
        raise SyncRefused(ALREADY_RUNNING)
    try:
        yield
    finally:
        lock.release()


ABORTED = messages.gettext("Abgebrochen: Der Prozess wurde während der Synchronisation beendet.")


def _lock_is_free(source_id: int) -> bool:
    """PostgreSQL: whether no session holds the source's advisory lock (probed and released at once)."""
    with db.engine.connect() as connection:
        free = connection.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                  {"ns": LOCK_NAMESPACE, "id": source_id}).scalar()
        if free:
            connection.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": LOCK_NAMESPACE, "id": source_id})
        connection.commit()
        return bool(free)


def run_is_alive(run: SyncRun) -> bool:
    """Whether a "running" run is held by a living process.

    PostgreSQL: the process running a source holds its advisory lock, on any host.
    SQLite: the run's process must live on this host (with the same start marker);
    a run of this very process is alive while a thread holds the source's lock. A
    run of another host, or one without a recorded process, counts as alive until
    it is STALE_AFTER old.
    """
    if db.engine.dialect.name == "postgresql":
        return not _lock_is_free(run.source_id)
    alive = liveness.process_alive(run.host, run.pid, run.process_marker)
    if alive is None:
        return run.started_at >= utcnow() - STALE_AFTER
    if alive and run.pid == os.getpid():
        lock = _local_locks.get(run.source_id)
        return bool(lock is not None and lock.locked())
    return alive


def _mark_aborted(run_ids: list[int]) -> None:
    if run_ids:
        db.session.execute(
            update(SyncRun).where(SyncRun.id.in_(run_ids), SyncRun.status == "running")
            .values(status="failed", finished_at=utcnow(), messages=[Problem(ABORTED).as_dict()])
            .execution_options(synchronize_session=False))
    db.session.commit()


def _claim_runs(source_id: int) -> None:
    """Mark dead runs failed; refuse when another living process runs this source (SQLite)."""
    running = db.session.scalars(select(SyncRun).where(SyncRun.source_id == source_id,
                                                       SyncRun.status == "running")).all()
    # With the advisory lock held no other process runs this source: every "running" run is dead.
    # SQLite: this thread holds the in-process lock, so a run of this process is dead too.
    if db.engine.dialect.name != "postgresql":
        if any(run.pid != os.getpid() and run_is_alive(run) for run in running):
            raise SyncRefused(ALREADY_RUNNING)
    _mark_aborted([run.id for run in running])


def reap_dead_runs() -> int:
    """Mark every "running" run that no living process holds as failed ("Abgebrochen"); returns how many.

    Called at start-up, so that a run whose process was killed does not block its source.
    """
    running = db.session.scalars(select(SyncRun).where(SyncRun.status == "running")).all()
    dead = [run.id for run in running if not run_is_alive(run)]
    _mark_aborted(dead)
    if dead:
        log.warning("phonebook sync: %d run(s) of ended processes marked as aborted", len(dead))
    return len(dead)


def is_running(source_id: int) -> bool:
    """Whether a run of the source is in progress in a living process."""
    return any(run_is_alive(run) for run in db.session.scalars(select(SyncRun).where(
        SyncRun.source_id == source_id, SyncRun.status == "running")).all())


def _set_progress(run_id: int, progress: int) -> None:
    """Update the progress in its own short transaction, outside the sync's transaction."""
    with db.engine.begin() as connection:
        connection.execute(update(SyncRun.__table__).where(SyncRun.__table__.c.id == run_id)
                           .values(progress=progress))


# --------------------------------------------------------------------------- running


def build_source(source: SyncSource) -> Source:
    """An instance of the source's type with its stored (decrypted) settings."""
    cls = source_class(source.type)
    try:
        password = crypto.decrypt(source.password_encrypted)
    except crypto.SecretUnreadable as exc:
        raise SourceError(str(exc)) from None
    return cls(url=source.url, login=source.login, password=password, options=dict(source.options or {}),
               deadline=float(site_settings.get_int("phonebook.download_deadline")))


def sync_source(source_id: int, trigger: str = "manual", *, allow_empty: bool = False, dry_run: bool = False,
                upload: bytes | None = None, allow_mass_delete: bool = False,
                on_start: Callable[[], None] | None = None) -> SyncOutcome:
    """Run (or with dry_run preview) one source's sync and record it as a SyncRun.

    A sync that would delete more than the share `phonebook.max_delete_share` of
    the source's entries fails (problem code MASS_DELETE) unless `allow_mass_delete`.
    `on_start` is called once the run is recorded as running.

    Raises SyncRefused when the source is being synced already; every other
    failure is recorded in the run and returned with ok=False, nothing changed.
    """
    source = db.session.get(SyncSource, source_id)
    if source is None:
        raise SourceError(messages.gettext("Die Schnittstelle %(id)s gibt es nicht.", id=source_id))
    with source_lock(source_id):
        _claim_runs(source_id)
        host, pid, marker = liveness.this_process()
        run = SyncRun(source_id=source_id, trigger="preview" if dry_run else trigger, status="running",
                      started_at=utcnow(), messages=[], host=host, pid=pid, process_marker=marker)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        if on_start is not None:
            on_start()
        try:
            return _run(source, run_id, allow_empty=allow_empty, dry_run=dry_run, upload=upload,
                        allow_mass_delete=allow_mass_delete)
        except SourceError as exc:
            db.session.rollback()
            return _fail(run_id, exc.problems, getattr(exc, "total", 0))
        except Exception as exc:  # a bug or a database failure must not leave the run "running"
            db.session.rollback()
            log.exception("phonebook sync of source %s failed", source_id)
            return _fail(run_id, [Problem(messages.gettext("Unerwarteter Fehler: %(error)s: %(detail)s",
                                                        error=exc.__class__.__name__, detail=str(exc)))], 0)


def _fail(run_id: int, problems: list[Problem], total: int) -> SyncOutcome:
    problems = sorted(problems, key=_problem_order)
    db.session.execute(update(SyncRun).where(SyncRun.id == run_id).values(
        status="failed", finished_at=utcnow(), total=total, progress=total,
        messages=[p.as_dict() for p in problems[:MAX_STORED_MESSAGES]]))
    db.session.commit()
    return SyncOutcome(run_id, ok=False, total=total, problems=problems)


def _problem_order(problem: Problem) -> tuple:
    return (0 if problem.level == "error" else 1, problem.line or 0)


class _Validator:
    """Checks records one by one and turns valid ones into stored values."""

    def __init__(self, source_id: int):
        self.source_id = source_id
        self.problems: list[Problem] = []
        self.first_line: dict[str, int | None] = {}
        self.numbers = NumberCache()
        self.normalised: list[str] = []
        self.unrecognised: list[Problem] = []

    def error(self, text: str, record: Record) -> None:
        self.problems.append(Problem(text, record.line))

    def check(self, record: Record) -> tuple[dict, list[tuple[str, str]]] | None:
        """(entry values with content_hash, [(phone type, number as delivered)]) for a valid record, else None.

        Numbers are not parsed here: an unchanged record (same hash) never needs them.
        """
        ok = True
        internal_id = (record.internal_id or "").strip()
        if not internal_id:
            self.error(messages.gettext("Datensatz ohne internal_id."), record)
            ok = False
        elif len(internal_id) > 200:
            self.error(messages.gettext("internal_id ist länger als 200 Zeichen."), record)
            ok = False
        elif internal_id in self.first_line:
            first = self.first_line[internal_id]
            self.error(messages.gettext("internal_id „%(id)s“ kommt mehrfach vor (zuerst in Zeile %(line)s).",
                                        id=internal_id, line=first) if first else
                       messages.gettext("internal_id „%(id)s“ kommt mehrfach vor.", id=internal_id), record)
            ok = False
        else:
            self.first_line[internal_id] = record.line
        gender = (record.gender or "").strip().lower()
        gender = _CANONICAL.get(gender, gender)
        if gender not in GENDERS and gender != "":
            self.error(messages.gettext("Ungültiges Geschlecht „%(gender)s“ – erlaubt sind male, female oder leer.",
                                        gender=record.gender), record)
            ok = False
        display_name = (record.display_name or "").strip() or \
            " ".join(part for part in (record.given_name.strip(), record.family_name.strip()) if part)
        if not display_name:
            self.error(messages.gettext("Datensatz ohne Namen (display_name, family_name und given_name sind leer)."),
                       record)
            ok = False
        phones = self._typed(record.phones, PHONE_TYPES, messages.gettext("Telefontyp"), record)
        emails = self._typed(record.emails, EMAIL_TYPES, messages.gettext("E-Mail-Typ"), record)
        ok = ok and phones is not None and emails is not None
        if not ok:
            return None
        values = {
            "internal_id": internal_id,
            "display_name": display_name[:200],
            "family_name": (record.family_name or "").strip()[:120],
            "given_name": (record.given_name or "").strip()[:120],
            "honorific_prefix": (record.honorific_prefix or "").strip()[:60],
            "gender": gender,
            "company": (record.company or "").strip()[:200],
            "job_title": (record.job_title or "").strip()[:200],
            "phones": phones,
            "emails": [(kind, address[:200]) for kind, address in emails],
        }
        # The region is part of the hash: changing it re-normalises every number on the next sync.
        values["content_hash"] = content_hash(values, self.numbers.region)
        return values, phones

    def resolve(self, phones: list[tuple[str, str]], line: int | None) -> list[tuple[str, str, str | None]]:
        """[(phone type, stored number, E.164)] with warnings for normalised and unrecognised numbers."""
        resolved = []
        for kind, raw in phones:
            stored, e164 = self.numbers.get(raw)
            if e164 is None:
                self.unrecognised.append(Problem(messages.gettext(
                    "Nummer „%(number)s“ nicht erkannt – sie wird unverändert übernommen, aber bei Anrufen "
                    "nicht gefunden.", number=raw), line, "warning"))
            elif e164 != raw:
                self.normalised.append(messages.gettext("%(raw)s → %(e164)s (Zeile %(line)s)", raw=raw, e164=e164,
                                                        line=line) if line else f"{raw} → {e164}")
            resolved.append((kind, stored[:64], e164))
        return resolved

    def recheck(self, phones: list[tuple[str, str]], line: int | None) -> None:
        """For an unchanged record: repeat the warnings, parsing only numbers not written as E.164."""
        odd = [(kind, raw) for kind, raw in phones if not _E164.match(raw)]
        if odd:
            self.resolve(odd, line)

    def _typed(self, pairs: list[tuple[str, str]], allowed: tuple[str, ...], what: str,
               record: Record) -> list[tuple[str, str]] | None:
        """Typed values (phones, e-mails) cleaned, empty ones dropped; None after reporting a wrong type."""
        cleaned, ok = [], True
        for kind, value in pairs:
            kind, value = (kind or "").strip().upper(), (value or "").strip()
            if not value:
                continue
            if kind not in allowed:
                if kind:
                    self.error(messages.gettext("Unbekannter %(what)s „%(kind)s“ bei „%(value)s“ – erlaubt: %(allowed)s.",
                                                what=what, kind=kind, value=value, allowed=", ".join(allowed)), record)
                else:
                    self.error(messages.gettext("„%(value)s“ ohne Typ – erwartet z. B. %(type)s:%(value)s.",
                                                value=value, type=allowed[0]), record)
                ok = False
                continue
            cleaned.append((_CANONICAL[kind], value))
        return cleaned if ok else None

    def notices(self) -> list[Problem]:
        notices = []
        if self.normalised:
            shown = messages.join(self.normalised[:LIST_AT_MOST])
            more = len(self.normalised) - LIST_AT_MOST
            if more > 0:
                shown = messages.ngettext("%(shown)s … und %(num)d weitere", "%(shown)s … und %(num)d weitere",
                                          more, shown=shown)
            notices.append(Problem(messages.ngettext(
                "%(num)d Nummer war nicht im Format E.164 (+496131123456) und wurde umgewandelt: %(shown)s.",
                "%(num)d Nummern waren nicht im Format E.164 (+496131123456) und wurden umgewandelt: %(shown)s.",
                len(self.normalised), shown=shown), None, "warning"))
        notices.extend(self.unrecognised[:LIST_AT_MOST])
        if len(self.unrecognised) > LIST_AT_MOST:
            notices.append(Problem(messages.ngettext("… und %(num)d weitere nicht erkannte Nummer.",
                                                     "… und %(num)d weitere nicht erkannte Nummern.",
                                                     len(self.unrecognised) - LIST_AT_MOST), None, "warning"))
        return notices


def _run(source: SyncSource, run_id: int, *, allow_empty: bool, dry_run: bool, upload: bytes | None,
         allow_mass_delete: bool) -> SyncOutcome:
    instance = build_source(source)
    if upload is not None:
        instance.use_upload(upload)
    existing = {internal_id: (entry_id, digest) for internal_id, entry_id, digest in db.session.execute(
        select(PhonebookEntry.internal_id, PhonebookEntry.id, PhonebookEntry.content_hash)
        .where(PhonebookEntry.source_id == source.id))}
    db.session.commit()  # end the read; SQLite must not keep a snapshot open while progress is written
    validator = _Validator(source.id)
    new_rows: list[tuple] = []
    changed_rows: list[tuple] = []
    total = unchanged = 0
    try:
        for record in instance.fetch():
            total += 1
            if total % YIELD_EVERY == 0:
                yield_to_other_requests()
            if total % PROGRESS_EVERY == 0:
                _set_progress(run_id, total)
            checked = validator.check(record)
            if checked is None or validator.problems:
                continue  # once something is wrong, only keep validating
            values, phones = checked
            known = existing.get(values["internal_id"])
            if known is not None and known[1] == values["content_hash"]:
                unchanged += 1
                validator.recheck(phones, record.line)
                continue
            row = _compact(values, validator.resolve(phones, record.line), known[0] if known else None)
            (changed_rows if known else new_rows).append(row)
    except SourceError as exc:
        exc.total = total
        raise
    problems = instance.problems() + validator.problems
    if any(problem.level == "error" for problem in problems):
        errors = sum(p.level == "error" for p in problems)
        exc = SourceError(messages.ngettext("%(num)d Fehler in den Daten.", "%(num)d Fehler in den Daten.", errors),
                          problems)
        exc.total = total
        raise exc
    problems += validator.notices()
    valid = len(validator.first_line)
    _check_limits(source, valid, len(existing), allow_empty, total)
    seen = validator.first_line
    deleted_ids = [entry_id for internal_id, (entry_id, _) in existing.items() if internal_id not in seen]
    mass_delete = _mass_delete(len(deleted_ids), len(existing), valid)
    if mass_delete is not None and not allow_mass_delete:
        if not dry_run:
            exc = SourceError(mass_delete.text, [mass_delete])
            exc.total = total
            raise exc
        problems.append(Problem(mass_delete.text, None, "warning", MASS_DELETE))
    outcome = SyncOutcome(run_id, ok=True, total=total, created=len(new_rows), updated=len(changed_rows),
                          deleted=len(deleted_ids), unchanged=unchanged, problems=sorted(problems, key=_problem_order))
    if dry_run:
        outcome.preview = {
            "created": [row[_DISPLAY_NAME] for row in new_rows[:PREVIEW_NAMES]],
            "updated": [row[_DISPLAY_NAME] for row in changed_rows[:PREVIEW_NAMES]],
            "deleted": list(db.session.scalars(select(PhonebookEntry.display_name).where(
                PhonebookEntry.id.in_(deleted_ids[:PREVIEW_NAMES])).order_by(PhonebookEntry.sort_name))),
        }
    else:
        _apply(source.id, new_rows, changed_rows, deleted_ids)
    db.session.execute(update(SyncRun).where(SyncRun.id == run_id).values(
        status="success", finished_at=utcnow(), progress=total, total=total, created=outcome.created,
        updated=outcome.updated, deleted=outcome.deleted, unchanged=unchanged,
        messages=[p.as_dict() for p in outcome.problems[:MAX_STORED_MESSAGES]]))
    db.session.commit()
    return outcome


MASS_DELETE = "mass_delete"


def _mass_delete(deleting: int, owned: int, valid: int) -> Problem | None:
    """The refusal of a sync deleting more than `phonebook.max_delete_share` percent of a source's entries.

    An empty source is left to the allow_empty rule of `_check_limits`.
    """
    share = site_settings.get_int("phonebook.max_delete_share")
    if valid == 0 or deleting == 0 or deleting * 100 <= owned * share:
        return None
    return Problem(messages.gettext(
        "Die Synchronisation würde %(deleting)s von %(owned)s Einträgen löschen – mehr als die erlaubten %(share)s %%. "
        "Nichts wurde geändert. Bitte die Quelle prüfen; ist die Löschung gewollt, bestätigt sie ein "
        "Administrator auf der Seite der Schnittstelle (oder: flask phonebook sync --allow-mass-delete).",
        deleting=deleting, owned=owned, share=share), code=MASS_DELETE)


def _check_limits(source: SyncSource, valid: int, owned: int, allow_empty: bool, total: int) -> None:
    """Refuse oversized uploads, a phonebook over its total limit, and an accidental empty source."""
    problems = []
    per_upload = site_settings.get_int("phonebook.max_per_upload")
    max_total = site_settings.get_int("phonebook.max_total")
    if valid > per_upload:
        problems.append(Problem(messages.gettext(
            "Die Quelle liefert %(valid)s Datensätze, erlaubt sind höchstens %(limit)s je Synchronisation "
            "(Grenze auf der Seite „Schnittstellen“).", valid=valid, limit=per_upload)))
    others = db.session.scalar(select(func.count(PhonebookEntry.id)).where(
        PhonebookEntry.source_id.is_not(None), PhonebookEntry.source_id != source.id))
    if others + valid > max_total:
        problems.append(Problem(messages.gettext(
            "Mit dieser Synchronisation hätte das Telefonbuch %(count)s synchronisierte Einträge, erlaubt sind "
            "höchstens %(limit)s über alle Schnittstellen.", count=others + valid, limit=max_total)))
    if valid == 0 and owned and not allow_empty:
        problems.append(Problem(messages.ngettext(
            "Die Quelle hat keine Datensätze geliefert. Damit würde der %(num)d Eintrag dieser Schnittstelle "
            "gelöscht. Wenn das gewollt ist, synchronisieren Sie mit „Leere Quelle zulassen“.",
            "Die Quelle hat keine Datensätze geliefert. Damit würden alle %(num)d Einträge dieser Schnittstelle "
            "gelöscht. Wenn das gewollt ist, synchronisieren Sie mit „Leere Quelle zulassen“.", owned)))
    if problems:
        exc = SourceError(problems[0].text, problems)
        exc.total = total
        raise exc


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield_to_other_requests()
        yield items[start:start + size]


def yield_to_other_requests() -> None:
    """Let other greenlets (gevent) or threads run: `time.sleep(0)` is a switch point for both."""
    time.sleep(0)


# Entry columns kept per new/changed row (a tuple: far less memory than a dict per row)
ROW_FIELDS = ("internal_id", "display_name", "family_name", "given_name", "honorific_prefix", "gender", "company",
              "job_title", "emails", "content_hash")
INSERT_CHUNK = 5000


_INTERNAL_ID, _DISPLAY_NAME, _NUMBERS = 1, 2, len(ROW_FIELDS) + 1


def _compact(values: dict, numbers_: list[tuple[str, str, str | None]], entry_id: int | None) -> tuple:
    """One flat tuple per row: (entry id or None, *ROW_FIELDS, numbers).

    emails become (type, address, type, address, …) and numbers (phone type,
    stored, E.164, …): a single tuple each instead of a list of tuples.
    """
    return (entry_id, *(values[name] for name in ROW_FIELDS[:-2]),
            tuple(item for pair in values["emails"] for item in pair), values["content_hash"],
            tuple(item for triple in numbers_ for item in triple))


def _entry_params(source_id: int, row: tuple, now) -> dict:
    """The column values of one entry for a bulk INSERT or UPDATE."""
    entry_id = row[0]
    params = dict(zip(ROW_FIELDS, row[1:_NUMBERS]))
    emails, numbers_ = params["emails"], row[_NUMBERS]
    params["emails"] = [{"type": emails[i], "address": emails[i + 1]} for i in range(0, len(emails), 2)]
    params["phones"] = [{"type": numbers_[i], "number": numbers_[i + 1]} for i in range(0, len(numbers_), 3)]
    params.update(phonebook_entry_keys(params, [(numbers_[i + 1], numbers_[i + 2])
                                                for i in range(0, len(numbers_), 3)]))
    params["source_id"] = source_id
    params["updated_at"] = now
    if entry_id is None:
        params["created_at"] = now
    else:
        params["id"] = entry_id
    return params


def _index_params(entry_id: int, numbers_: tuple, sort_name: str) -> list[dict]:
    """PhoneNumber rows exactly as numbers.index_numbers and search_documents write them for a
    phonebook entry (`sort_name` is the entry's).

    main_prefix, address_id and contact_person_id are left out: they stay NULL.
    """
    return [{"raw": numbers_[i + 1], "e164": numbers_[i + 2], "kind": KIND_BY_TYPE[numbers_[i]],
             "phonebook_entry_id": entry_id, "owner_sort": sort_name} for i in range(0, len(numbers_), 3)]


def _apply(source_id: int, new_rows: list, changed_rows: list, deleted_ids: list[int]) -> None:
    """Write the difference in the current transaction (the caller commits), in chunks to bound memory.

    PostgreSQL (psycopg 3) writes with COPY, every other database with executemany.
    """
    connection = db.session.connection()
    if pg_copy.available(connection):
        _copy_difference(connection, source_id, new_rows, changed_rows, deleted_ids)
    else:
        _execute_difference(source_id, new_rows, changed_rows, deleted_ids)
    search_index.merge_pending(connection, PhonebookEntry.__tablename__)  # searches read no pending list


def _execute_difference(source_id: int, new_rows: list, changed_rows: list, deleted_ids: list[int]) -> None:
    session = db.session
    now = utcnow()
    entries = PhonebookEntry.__table__
    phone_numbers = PhoneNumber.__table__
    for chunk in _chunks(deleted_ids + [row[0] for row in changed_rows]):
        session.execute(delete(phone_numbers).where(phone_numbers.c.phonebook_entry_id.in_(chunk)))
    for chunk in _chunks(deleted_ids):
        session.execute(delete(entries).where(entries.c.id.in_(chunk)))
    for chunk in _chunks(changed_rows, INSERT_CHUNK):
        params = [_entry_params(source_id, row, now) for row in chunk]
        session.execute(update(PhonebookEntry), params)
        _insert_index([n for row, values in zip(chunk, params)
                       for n in _index_params(row[0], row[_NUMBERS], values["sort_name"])])
    for chunk in _chunks(new_rows, INSERT_CHUNK):
        params = [_entry_params(source_id, row, now) for row in chunk]
        session.execute(insert(entries), params)
        ids = dict(session.execute(select(entries.c.internal_id, entries.c.id).where(
            entries.c.source_id == source_id, entries.c.internal_id.in_([row[_INTERNAL_ID] for row in chunk]))).all())
        _insert_index([n for row, values in zip(chunk, params)
                       for n in _index_params(ids[row[_INTERNAL_ID]], row[_NUMBERS], values["sort_name"])])


def _copy_difference(connection, source_id: int, new_rows: list, changed_rows: list, deleted_ids: list[int]) -> None:
    """The same writes with COPY: ids of new entries reserved in one query, updates through a temporary table."""
    now = utcnow()
    entries = PhonebookEntry.__table__
    phone_numbers = PhoneNumber.__table__
    pg_copy.delete_in(connection, phone_numbers.c.phonebook_entry_id, deleted_ids + [row[0] for row in changed_rows])
    pg_copy.delete_in(connection, entries.c.id, deleted_ids)
    sort_names: dict[int, str] = {}  # entry id → sort_name, for its numbers (written after all entries)

    def remembered(values: dict) -> dict:
        sort_names[values["id"]] = values["sort_name"]
        return values

    pg_copy.update(connection, entries, (remembered(_entry_params(source_id, row, now)) for row in _rows(changed_rows)))
    new_ids = pg_copy.reserve_ids(connection, entries, len(new_rows))
    pg_copy.insert(connection, entries, (remembered({**_entry_params(source_id, row, now), "id": entry_id})
                                         for row, entry_id in zip(_rows(new_rows), new_ids)))
    owned = chain(((row, row[0]) for row in _rows(changed_rows)), zip(_rows(new_rows), new_ids))
    pg_copy.insert(connection, phone_numbers, (number for row, entry_id in owned
                                               for number in _index_params(entry_id, row[_NUMBERS],
                                                                           sort_names[entry_id])))
    if len(new_rows) + len(changed_rows) + len(deleted_ids) >= ANALYZE_AFTER:
        # Fresh statistics before the first call comes in: without them PostgreSQL planned the caller
        # lookup as a scan of every number (40–100 ms per webhook at 100k entries) until autovacuum
        # got round to the tables.
        pg_copy.analyze(connection, entries, phone_numbers)


def _rows(rows: list) -> Iterator:
    """The rows one by one, letting other requests run after every INSERT_CHUNK."""
    for chunk in _chunks(rows, INSERT_CHUNK):
        yield from chunk


def _insert_index(rows: list[dict]) -> None:
    if rows:
        db.session.execute(insert(PhoneNumber.__table__), rows)


# --------------------------------------------------------------------------- background and batch


def run_in_app(app, source_id: int, trigger: str, allow_empty: bool = False, allow_mass_delete: bool = False,
               started: threading.Event | None = None) -> None:
    """Run one sync inside its own app context (background threads and scheduled jobs).

    `started` is set once the run is recorded (or the sync ended without one).
    """
    with app.app_context():
        try:
            outcome = sync_source(source_id, trigger, allow_empty=allow_empty, allow_mass_delete=allow_mass_delete,
                                  on_start=started.set if started is not None else None)
            log.info("phonebook sync of source %s (%s): %s", source_id, trigger, outcome.summary())
            if outcome.ok:
                from ..placetel_contacts import push_after_sync

                push_after_sync()
        except SyncRefused:
            log.info("phonebook sync of source %s (%s) skipped: already running", source_id, trigger)
        except Exception:
            log.exception("phonebook sync of source %s (%s) failed", source_id, trigger)
        finally:
            if started is not None:
                started.set()
            db.session.remove()


def start_background_sync(source_id: int, trigger: str = "manual", allow_empty: bool = False,
                          allow_mass_delete: bool = False) -> threading.Thread:
    """Run a sync in a thread with its own app context; return once its run is recorded.

    Waiting for the run row (a moment, at most START_WAIT seconds) lets the page
    shown next see the running sync and follow it.
    """
    started = threading.Event()
    thread = threading.Thread(target=run_in_app, args=(current_app._get_current_object(), source_id, trigger,
                                                       allow_empty, allow_mass_delete, started),
                              name=f"phonebook-sync-{source_id}", daemon=True)
    _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
    thread.start()
    started.wait(START_WAIT)
    return thread


def wait_for_background_syncs(timeout: float = 60.0) -> None:
    """Join the running background syncs (used by tests and at shutdown)."""
    for thread in list(_threads):
        thread.join(timeout)


def sync_all(trigger: str, allow_mass_delete: bool = False) -> list[tuple[SyncSource, SyncOutcome | None, str]]:
    """Sync every enabled source in turn: [(source, outcome or None, message)]."""
    results = []
    for source in db.session.scalars(select(SyncSource).where(SyncSource.enabled).order_by(SyncSource.id)).all():
        name = source.name
        try:
            outcome = sync_source(source.id, trigger, allow_mass_delete=allow_mass_delete)
        except (SyncRefused, SourceError) as exc:
            results.append((source, None, f"{name}: {exc}"))
        else:
            results.append((source, outcome, f"{name}: {outcome.summary()}"))
    return results
