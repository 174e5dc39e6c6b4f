"""Phonebook entries: listing and search, manual entries and copies of synced ones."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from .. import numbers, search
from ..extensions import db
from ..models import PhonebookEntry
from ..sync.normalize import KIND_BY_TYPE

# Form field of a manual entry → phone type of a record
PHONE_FIELDS = {"work_phones": "WORK", "mobile_phones": "MOBILE", "fax_phones": "WORK_FAX"}
_SPLIT = re.compile(r"[,;\n]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReadOnlyEntry(Exception):
    """Synced entries belong to their source and cannot be changed by hand."""


# The phonebook list's order (the last key unique, for keyset paging: telephone/paging.py).
LIST_ORDER = (PhonebookEntry.sort_name, PhonebookEntry.id)


def search_statement(query: str = "") -> Select:
    """All entries (synced and manual together) matching `query`, unordered (the list sorts by
    LIST_ORDER: German phonebook order, persons by surname).

    Every word must be found (folded like the address search) in the names,
    company or job title; a number in any notation matches the digits of the
    entry's numbers. Served by the search index.
    """
    statement = select(PhonebookEntry).options(joinedload(PhonebookEntry.source))
    found = search.terms(query)
    if found:
        statement = statement.where(search.matching(PhonebookEntry.__tablename__, PhonebookEntry.id,
                                                    PhonebookEntry.search_text, found))
    return statement


@dataclass
class ManualEntryData:
    """The fields of a manual entry as typed; numbers and e-mails as lists."""

    display_name: str = ""
    honorific_prefix: str = ""
    gender: str = ""
    given_name: str = ""
    family_name: str = ""
    company: str = ""
    job_title: str = ""
    phones: list[tuple[str, str]] = field(default_factory=list)  # (WORK|MOBILE|WORK_FAX, number)
    emails: list[str] = field(default_factory=list)


def split_values(text: str) -> list[str]:
    """Numbers or e-mail addresses typed into one field, separated by commas, semicolons or lines."""
    return [part.strip() for part in _SPLIT.split(text or "") if part.strip()]


def number_errors(values: list[str]) -> list[str]:
    """Messages (in the reader's language) for numbers that are not phone numbers."""
    region = numbers.default_region()
    return [_("„%(value)s“ ist keine gültige Telefonnummer.", value=value)
            for value in values if not numbers.to_e164(value, region)]


def email_errors(values: list[str]) -> list[str]:
    """Messages (in the reader's language) for e-mail addresses that are not valid."""
    return [_("„%(value)s“ ist keine gültige E-Mail-Adresse.", value=value) for value in values if not _EMAIL.match(value)]


def form_values(entry: PhonebookEntry) -> dict:
    """The manual-entry form's values for an entry (also to copy a synced one)."""
    values = {name: getattr(entry, name) for name in ("display_name", "honorific_prefix", "gender", "given_name",
                                                      "family_name", "company", "job_title")}
    for form_field, phone_type in PHONE_FIELDS.items():
        values[form_field] = ", ".join(p["number"] for p in entry.phones or [] if p.get("type") == phone_type)
    values["emails"] = ", ".join(e["address"] for e in entry.emails or [])
    return values


def save_manual(entry: PhonebookEntry | None, data: ManualEntryData) -> PhonebookEntry:
    """Create (entry None) or update a manual entry and its rows in the number index; caller commits."""
    if entry is None:
        entry = PhonebookEntry(source_id=None, internal_id=None)
        db.session.add(entry)
    elif entry.source_id is not None:
        raise ReadOnlyEntry(_("Synchronisierte Einträge können nicht bearbeitet werden."))
    display_name = data.display_name.strip() or " ".join(
        part for part in (data.given_name.strip(), data.family_name.strip()) if part)
    entry.display_name = display_name
    for name in ("honorific_prefix", "gender", "given_name", "family_name", "company", "job_title"):
        setattr(entry, name, getattr(data, name).strip())
    entry.phones = [{"type": kind, "number": number} for kind, number in data.phones]
    entry.emails = [{"type": "WORK", "address": address} for address in data.emails]
    entry.content_hash = ""
    numbers.index_numbers(entry, [(KIND_BY_TYPE[kind], number) for kind, number in data.phones])
    return entry


def delete_manual(entry: PhonebookEntry) -> None:
    """Delete a manual entry (its index rows go with it); caller commits."""
    if entry.source_id is not None:
        raise ReadOnlyEntry(_("Synchronisierte Einträge werden mit ihrer Schnittstelle gelöscht."))
    db.session.delete(entry)
