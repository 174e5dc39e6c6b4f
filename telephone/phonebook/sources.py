"""Phonebook sources as the admin configures them: stored fields, overview, deletion."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import delete, func, select

from .. import crypto
from ..extensions import db
from ..models import PhonebookEntry, PhoneNumber, SyncRun, SyncSource
from ..sync import engine, schedule
from ..sync.base import REGISTRY, Source, SourceField


def source_types() -> list[tuple[str, str]]:
    """(type, label) of every registered source type, by label."""
    return sorted(((name, cls.label) for name, cls in REGISTRY.items()), key=lambda item: item[1].lower())


def is_web_address(url: str) -> bool:
    """Whether `url` is an http or https address with a host (the only kinds a source may read)."""
    try:
        parsed = urlparse(url.strip())
        return parsed.scheme.lower() in ("http", "https") and bool(parsed.hostname)
    except ValueError:
        return False


def stored_value(source: SyncSource, spec: SourceField) -> str:
    """The stored value of a non-secret source field."""
    if spec.column:
        return getattr(source, spec.column) or ""
    return (source.options or {}).get(spec.name, spec.default)


def is_secret_set(source: SyncSource | None, spec: SourceField) -> bool:
    if source is None:
        return False
    if spec.column == "password":
        return bool(source.password_encrypted)
    return bool((source.options or {}).get(spec.name))


def store_fields(source: SyncSource, cls: type[Source], values: dict[str, str], clear: set[str]) -> None:
    """Store a type's field values; secrets are encrypted, an empty secret keeps the stored one."""
    options = dict(source.options or {})
    for spec in cls.fields:
        value = (values.get(spec.name) or "").strip()
        if spec.kind == "password":
            if spec.name in clear:
                value = ""
            elif not value:
                continue
            value = crypto.encrypt(value)
        if spec.column == "password":
            source.password_encrypted = value
        elif spec.column:
            setattr(source, spec.column, value)
        else:
            options[spec.name] = value
    source.options = options


@dataclass
class SourceRow:
    """A source with what the overview shows about it."""

    source: SyncSource
    label: str
    entries: int
    last_run: SyncRun | None
    running: SyncRun | None


def last_real_run(source: SyncSource) -> SyncRun | None:
    """The source's last finished run; previews are not runs of the source."""
    return db.session.scalars(select(SyncRun).where(SyncRun.source_id == source.id, SyncRun.status != "running",
                                                    SyncRun.trigger != "preview")
                              .order_by(SyncRun.id.desc()).limit(1)).first()


def pending_mass_delete(source: SyncSource) -> SyncRun | None:
    """The last real run when it stopped because it would delete too many entries (waits for an admin)."""
    run = last_real_run(source)
    if run is not None and run.status == "failed" and any(
            isinstance(item, dict) and item.get("code") == engine.MASS_DELETE for item in run.messages or ()):
        return run
    return None


def overview() -> list[SourceRow]:
    """Every source with its type label, entry count, last real run and a running one (of a living process)."""
    sources = db.session.scalars(select(SyncSource).order_by(SyncSource.name, SyncSource.id)).all()
    counts = dict(db.session.execute(select(PhonebookEntry.source_id, func.count(PhonebookEntry.id))
                                     .where(PhonebookEntry.source_id.is_not(None))
                                     .group_by(PhonebookEntry.source_id)).all())
    rows = []
    for source in sources:
        running = next((run for run in db.session.scalars(select(SyncRun).where(
            SyncRun.source_id == source.id, SyncRun.status == "running").order_by(SyncRun.id.desc())).all()
            if engine.run_is_alive(run)), None)
        last = last_real_run(source)
        cls = REGISTRY.get(source.type)
        rows.append(SourceRow(source, cls.label if cls else source.type, counts.get(source.id, 0), last, running))
    return rows


def delete_source(source: SyncSource) -> int:
    """Delete a source with its entries and runs; returns how many entries went. Caller commits."""
    entry_ids = select(PhonebookEntry.id).where(PhonebookEntry.source_id == source.id)
    db.session.execute(delete(PhoneNumber).where(PhoneNumber.phonebook_entry_id.in_(entry_ids.scalar_subquery()))
                       .execution_options(synchronize_session=False))
    count = db.session.execute(delete(PhonebookEntry).where(PhonebookEntry.source_id == source.id)
                               .execution_options(synchronize_session=False)).rowcount
    db.session.execute(delete(SyncRun).where(SyncRun.source_id == source.id)
                       .execution_options(synchronize_session=False))
    db.session.delete(source)
    return count


def sources_changed() -> None:
    """Reload the scheduled jobs after sources were created, edited or deleted."""
    schedule.reload_jobs()
