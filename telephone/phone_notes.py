"""Phone notes (Telefonnotizen): drafts pre-filled from a call, creation, editing, listing."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from . import numbers
from .extensions import db
from .i18n import as_aware
from .models import Address, Call, ContactPerson, PhoneNote, User
from .placetel import is_sip_id


@dataclass(frozen=True)
class NoteTarget:
    """Where a note is filed: an address, a contact person (and its company) or a phonebook entry."""

    key: str  # "address:3", "contact:5", "phonebook:7" – the value of the form's select
    label: str
    address_id: int | None = None
    contact_person_id: int | None = None
    phonebook_entry_id: int | None = None


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


def targets_for(call: Call | None = None, address: Address | None = None) -> list[NoteTarget]:
    """The candidates a note can be filed with: the call's matched contacts, or one given address."""
    targets: list[NoteTarget] = []
    if call is not None:
        targets = [target for target in map(_target_from_match, call.matches or []) if target]
    if address is not None and not any(target.address_id == address.id for target in targets):
        targets.append(NoteTarget(f"address:{address.id}", address.name, address_id=address.id))
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


def draft_for(call: Call | None = None, address: Address | None = None) -> NoteDraft:
    """The pre-filled fields of a new note about `call` (or for `address`)."""
    if call is not None:
        targets = targets_for(call, address)
        subject = _("Telefonat mit %(name)s am %(date)s", name=party_name(call),
                    date=format_date(as_aware(call.started_at)))
        number = numbers.display(call.remote_e164, remote_number(call)) if call.remote_e164 else remote_number(call)
        return NoteDraft(subject=subject[:200], number=number[:120], target=targets[0].key if targets else "")
    if address is not None:
        return NoteDraft(subject=_("Telefonat mit %(name)s", name=address.name)[:200],
                         number=address.phone, target=f"address:{address.id}")
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
    return db.session.scalars(
        select(PhoneNote).where(PhoneNote.address_id == address_id)
        .order_by(PhoneNote.created_at.desc(), PhoneNote.id.desc())
    ).all()

