"""Shared helpers of the phonebook tests."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from telephone.extensions import db
from telephone.models import PhonebookEntry, SyncSource
from telephone.sync import engine

FIXTURE = Path(__file__).parent / "fixtures" / "phonebook-example.csv"
HEADER = "internal_id,display_name,family_name,given_name,honorific_prefix,gender,phone,phone,email"


def add_source(app, name: str = "CSV-Datei", **fields) -> int:
    with app.app_context():
        source = SyncSource(type="csv", name=name, options={}, **fields)
        db.session.add(source)
        db.session.commit()
        return source.id


def sync(app, source_id: int, data: str | bytes, **kwargs) -> engine.SyncOutcome:
    """Run a sync of `source_id` from the given file content."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with app.app_context():
        outcome = engine.sync_source(source_id, kwargs.pop("trigger", "upload"), upload=data, **kwargs)
        db.session.remove()
        return outcome


def entries(app, source_id: int | None = None) -> dict[str, dict]:
    """Entries of one source (or the manual ones) by internal_id / display name."""
    with app.app_context():
        rows = db.session.scalars(select(PhonebookEntry).where(PhonebookEntry.source_id.is_(source_id)
                                                               if source_id is None else
                                                               PhonebookEntry.source_id == source_id)).all()
        return {(row.internal_id or row.display_name): {
            "display_name": row.display_name, "family_name": row.family_name, "given_name": row.given_name,
            "honorific_prefix": row.honorific_prefix, "gender": row.gender, "phones": row.phones,
            "emails": row.emails, "id": row.id} for row in rows}


def csv_rows(count: int, start: int = 1, header: str = HEADER) -> str:
    lines = [header]
    for number in range(start, start + count):
        lines.append(f"{number},Person {number},Nachname{number},Vorname{number},,,WORK:+4961311{number:05d},,")
    return "\n".join(lines) + "\n"
