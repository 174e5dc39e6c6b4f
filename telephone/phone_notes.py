"""Phone notes (Telefonnotizen): drafts pre-filled from a call, creation, editing, listing."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from . import numbers, search
from .extensions import db
from .i18n import as_aware
from .models import Address, Call, ContactPerson, PhonebookEntry, PhoneNote, User
from .placetel import is_sip_id

# How many addresses, contact persons and phonebook entries the note form's search offers (each).
TARGET_SEARCH_LIMIT = 6


@dataclass(frozen=True)
class NoteTarget:
    """Where a note is filed: an address, a contact person (and its company) or a phonebook entry."""

    key: str  # "address:3", "contact:5", "phonebook:7" – the value of the form's choice
    label: str
    address_id: int | None = None
    contact_person_id: int | None = None
    phonebook_entry_id: int | None = None

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]


MAX_ID = 2**31 - 1  # an INTEGER primary key; larger numbers would make PostgreSQL fail


def parse_id(text: str | None) -> int | None:
    """A record id typed into a URL or form, or None when it cannot be one (letters, "²", too large)."""
    if not text or not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        return None
    return int(text)


def _labelled(name: str, company: str | None) -> str:
    return name + (f" ({company})" if company and company != name else "")


def address_target(address: Address) -> NoteTarget:
    """Filing under an address (a company or a private person)."""
    return NoteTarget(f"address:{address.id}", _labelled(address.name, address.company), address_id=address.id)


def contact_target(person: ContactPerson) -> NoteTarget:
    """Filing under a contact person: the note also appears on their company's page."""
    return NoteTarget(f"contact:{person.id}", _labelled(person.name, person.address.name),
                      address_id=person.address_id, contact_person_id=person.id)


def phonebook_target(entry: PhonebookEntry) -> NoteTarget:
    """Filing under a company phonebook entry."""
    return NoteTarget(f"phonebook:{entry.id}", _labelled(entry.display_name, entry.company),
                      phonebook_entry_id=entry.id)


_TARGET_KINDS = {"address": (Address, address_target), "contact": (ContactPerson, contact_target),
                 "phonebook": (PhonebookEntry, phonebook_target)}


def target_for_key(key: str | None) -> NoteTarget | None:
    """The target a form value ("address:3", …) names, if that record exists; any record may be picked."""
    kind, _sep, number = (key or "").partition(":")
    record_id = parse_id(number)
    if kind not in _TARGET_KINDS or record_id is None:
        return None
    model, make = _TARGET_KINDS[kind]
    record = db.session.get(model, record_id)
    return make(record) if record is not None else None


def search_targets(query: str, exclude: set[str] = frozenset()) -> list[NoteTarget]:
    """Addresses, contact persons and phonebook entries matching `query` (name, company or number),
    for filing a note under any of them; keys in `exclude` are left out."""
    from .addresses.book import LIST_ORDER as ADDRESS_ORDER
    from .addresses.book import search_query as address_search
    from .phonebook.entries import LIST_ORDER as PHONEBOOK_ORDER
    from .phonebook.entries import search_statement as phonebook_search

    query = " ".join((query or "").split())[:100]
    if not query:
        return []
    addresses = db.session.scalars(address_search(query).order_by(*ADDRESS_ORDER).limit(TARGET_SEARCH_LIMIT)).all()
    people = db.session.scalars(
        select(ContactPerson).join(ContactPerson.address)
        .where(search.matching(ContactPerson.__tablename__, ContactPerson.id, ContactPerson.search_text,
                               search.terms(query)))
        .order_by(ContactPerson.sort_key, ContactPerson.id).limit(TARGET_SEARCH_LIMIT)
    ).all()
    entries = db.session.scalars(phonebook_search(query).order_by(*PHONEBOOK_ORDER)
                                 .limit(TARGET_SEARCH_LIMIT)).unique().all()
    found = ([address_target(a) for a in addresses] + [contact_target(p) for p in people]
             + [phonebook_target(e) for e in entries])
    return [target for target in found if target.key not in exclude]


def _target_from_match(match: dict) -> NoteTarget | None:
    label = match["name"] + (f" ({match['company']})" if match.get("company") else "")
    if match["kind"] == "contact" and match.get("contact_person_id"):
        return NoteTarget(f"contact:{match['contact_person_id']}", label, address_id=match.get("address_id"),
                          contact_person_id=match["contact_person_id"])
    if match["kind"] == "address" and match.get("address_id"):
        return NoteTarget(f"address:{match['address_id']}", label, address_id=match["address_id"])
    if match["kind"] == "phonebook" and match.get("phonebook_entry_id"):
        return NoteTarget(f"phonebook:{match['phonebook_entry_id']}", label,
                          phonebook_entry_id=match["phonebook_entry_id"])
    return None


def targets_for(call: Call | None = None, address: Address | None = None,
                entry: PhonebookEntry | None = None) -> list[NoteTarget]:
    """The candidates offered first: the call's matched contacts, or the address or phonebook entry
    the note was started from."""
    targets: list[NoteTarget] = []
    if call is not None:
        targets = [target for target in map(_target_from_match, call.matches or []) if target]
    if address is not None and not any(target.address_id == address.id for target in targets):
        targets.append(address_target(address))
    if entry is not None and not any(target.phonebook_entry_id == entry.id for target in targets):
        targets.append(phonebook_target(entry))
    return targets


def remote_number(call: Call) -> str:
    """The other party's number of a call as notified (caller for incoming, callee for outgoing)."""
    return call.from_number if call.direction == "in" else call.to_number


def party_name(call: Call) -> str:
    """Who the call was with: the first matched contact, else the readable number."""
    if call.matches:
        return call.matches[0]["name"]
    raw = remote_number(call)
    if not raw or raw == "anonymous":
        return _("unterdrückter Nummer")
    if is_sip_id(raw):
        return raw
    return numbers.display(call.remote_e164, raw)


@dataclass
class NoteDraft:
    subject: str = ""
    number: str = ""
    target: str = ""


def draft_for(call: Call | None = None, address: Address | None = None,
              entry: PhonebookEntry | None = None) -> NoteDraft:
    """The pre-filled fields of a new note about `call` (or for `address` or phonebook `entry`)."""
    if call is not None:
        targets = targets_for(call, address)
        subject = _("Telefonat mit %(name)s am %(date)s", name=party_name(call),
                    date=format_date(as_aware(call.started_at)))
        number = numbers.display(call.remote_e164, remote_number(call)) if call.remote_e164 else remote_number(call)
        return NoteDraft(subject=subject[:200], number=number[:120], target=targets[0].key if targets else "")
    if address is not None:
        return NoteDraft(subject=_("Telefonat mit %(name)s", name=address.name)[:200],
                         number=address.phone, target=f"address:{address.id}")
    if entry is not None:
        first_number = next((phone.get("number", "") for phone in entry.phones or []), "")
        return NoteDraft(subject=_("Telefonat mit %(name)s", name=entry.display_name)[:200],
                         number=first_number[:120], target=f"phonebook:{entry.id}")
    return NoteDraft()


def create_note(author: User, subject: str, text: str, number: str, call: Call | None,
                target: NoteTarget | None) -> PhoneNote:
    """Add a phone note (caller commits)."""
    note = PhoneNote(subject=subject.strip(), text=text or "", number=(number or "").strip(), author_id=author.id,
                     call_pk=call.id if call else None)
    if target is not None:
        note.address_id = target.address_id
        note.contact_person_id = target.contact_person_id
        note.phonebook_entry_id = target.phonebook_entry_id
        note.filed_under = target.label[:250]  # kept when what it is filed under is deleted
        if note.contact_person_id and not note.address_id:
            note.address_id = db.session.get(ContactPerson, note.contact_person_id).address_id
    db.session.add(note)
    return note


def can_edit(note: PhoneNote, user: User) -> bool:
    """Only the author may change a note."""
    return note.author_id is not None and note.author_id == user.id


def update_note(note: PhoneNote, subject: str, text: str, number: str) -> None:
    """Change a note's subject, text and number (caller commits)."""
    note.subject = subject.strip()
    note.text = text or ""
    note.number = (number or "").strip()


def notes_for_address(address_id: int) -> list[PhoneNote]:
    """The notes filed with an address or one of its contact persons, newest first."""
    return _notes_where(PhoneNote.address_id == address_id)


def notes_for_phonebook_entry(entry_id: int) -> list[PhoneNote]:
    """The notes filed with a company phonebook entry, newest first."""
    return _notes_where(PhoneNote.phonebook_entry_id == entry_id)


def _notes_where(condition) -> list[PhoneNote]:
    return db.session.scalars(
        select(PhoneNote).where(condition).order_by(PhoneNote.created_at.desc(), PhoneNote.id.desc())
    ).all()


def excerpt(text: str, max_lines: int = 2, max_chars: int = 140) -> str:
    """The first lines of a note's text for lists (plain text; templates escape it)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    shown = "\n".join(lines[:max_lines])
    if len(shown) > max_chars:
        return shown[:max_chars - 1].rstrip() + "…"
    return shown + ("…" if len(lines) > max_lines else "")

