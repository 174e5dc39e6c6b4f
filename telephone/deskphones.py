"""The company phonebook for desk phones and other devices: who is in it, and each vendor's format.

`directory_contacts()` reads the phonebook (and, by the admin's choice, the
numbers of the address master) as plain rows and groups the numbers by owner.
The renderers turn that list into the remote phonebook formats that the common
desk phones read (Yealink, Snom, Grandstream), an AVM Fritz!Box phonebook and a
vCard 3.0 file. Numbers are written the way the phone dials them: national
notation for the office's own country, the international prefix otherwise.

Phones poll the full directory (10,000 entries and more), so the load path stays
lean: Core selects of plain columns, no ORM objects, one small object per contact,
and XML written as text.
"""
from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import Text, cast, func, null, select, true

from . import numbers, site_settings
from .extensions import db
from .models import Address, ContactPerson, PhonebookEntry, PhoneNumber
from .search import fold, terms
from .sync.normalize import sort_key

FORMATS = ("yealink", "snom", "grandstream", "fritzbox", "vcard")
# What the directories contain: the company phonebook, or also addresses and contact persons
SCOPES = ("phonebook", "all")
# Kind of a stored number → (label on the phone, Grandstream type, Fritz!Box type, vCard TEL types)
KINDS = {
    "phone": ("Büro", "Work", "work", "WORK,VOICE"),
    "mobile": ("Mobil", "Cell", "mobile", "CELL,VOICE"),
    "fax": ("Fax", None, "fax_work", "WORK,FAX"),
}
DIALLED_KINDS = ("phone", "mobile")  # a desk phone never needs to dial a fax


# A number of the directory: (kind, dial, e164). kind is phone | mobile | fax; dial is the number as
# the phone dials it (0221…, 0043…: only digits, "+", "*" and "#"). A plain tuple: a directory holds
# 20,000 of them.
DirectoryNumber = tuple[str, str, "str | None"]


@dataclass(slots=True)
class DirectoryContact:
    """One person or company of the directory with its numbers."""

    key: str  # stable across exports: "pb-12", "adr-3", "cp-7"
    family_name: str
    given_name: str
    company: str
    display_name: str
    prefix: str = ""
    job_title: str = ""
    emails: Sequence[str] = ()  # most entries have none: no list each
    numbers: list[DirectoryNumber] = field(default_factory=list)
    # The record's stored sort column (folded, surname first: the order of the app's own lists)
    sort: str = ""
    # "Nachname, Vorname (Firma)" as desk phones list it; set once, every format uses it
    label: str = field(init=False)

    def __post_init__(self) -> None:
        if self.family_name and self.given_name:
            name = f"{self.family_name}, {self.given_name}"
        else:
            name = self.family_name or self.given_name or self.display_name or self.company
        self.label = f"{name} ({self.company})" if self.company and self.company != name else name
        if not self.sort:  # a record without a name sorts by what the phone shows
            self.sort = sort_key(self.label)

    def dialled(self) -> list[DirectoryNumber]:
        return [number for number in self.numbers if number[0] in DIALLED_KINDS]


# --------------------------------------------------------------------------- numbers as the phone dials them


_NOT_DIALLED = re.compile(r"[^0-9+*#]")


@dataclass(frozen=True)
class DialPlan:
    """How the office's phones dial: own country code, national and international prefix."""

    country_code: str
    national_prefix: str
    international_prefix: str

    @classmethod
    def for_region(cls, region: str) -> DialPlan:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        international = (metadata.preferred_international_prefix or metadata.international_prefix or "00") \
            if metadata else "00"
        if not international.isdigit():
            international = "00"
        national = (metadata.national_prefix or "") if metadata else ""
        return cls(str(phonenumbers.country_code_for_region(region)), national, international)

    def dial(self, e164: str | None, raw: str) -> str:
        """`+49221123` → `0221123` at home, `+43…` → `0043…`; unrecognised numbers keep their digits."""
        if not e164:
            return _NOT_DIALLED.sub("", raw)
        if e164.startswith(self.country_code, 1):
            return self.national_prefix + e164[1 + len(self.country_code):]
        return self.international_prefix + e164[1:]


# --------------------------------------------------------------------------- who is in the directory


def directory_contacts(query: str = "", scope: str | None = None, emails: bool = False) -> list[DirectoryContact]:
    """Everyone with a number, in phonebook order (`ordered`); `query` filters by name, company or digits.

    `emails` also loads the e-mail addresses (the Fritz!Box and vCard formats carry them).
    """
    scope = scope or site_settings.get("phones.directory_scope")
    dial = DialPlan.for_region(numbers.default_region()).dial
    contacts = _phonebook_contacts(dial, emails)
    if scope == "all":
        contacts += _address_contacts(dial)
    if query.strip():
        contacts = [contact for contact in contacts if _matches(contact, query)]
    return ordered(contacts)


def ordered(contacts: list[DirectoryContact]) -> list[DirectoryContact]:
    """German phonebook order (Ä with A, case-free, persons by surname), as in the app's lists: by the
    records' stored sort columns, so that 10,000 names are not folded again; the key keeps equal names
    in a stable order."""
    return sorted(contacts, key=lambda contact: (contact.sort, contact.key))


def _phonebook_contacts(dial, emails: bool) -> list[DirectoryContact]:
    """The phonebook entries that have a number: two plain scans (numbers, then entries), joined here.

    Two scans instead of a join: SQLite answers a 20,000-row join with as many index
    look-ups, which costs twice as much as reading both tables straight through. An
    entry changed between the two reads is rendered again at the next request (the
    version was read before).
    """
    # Each entry's numbers in the order they were stored. The database returns the rows in
    # storage order, nearly that of the ids: Python's sort finishes that in one pass, where
    # PostgreSQL would sort all 20,000 rows for an ORDER BY.
    number_rows = _driver_rows(
        select(PhoneNumber.id, PhoneNumber.phonebook_entry_id, PhoneNumber.kind, PhoneNumber.e164, PhoneNumber.raw)
        .where(PhoneNumber.phonebook_entry_id.is_not(None)))
    number_rows.sort()
    numbers_of: dict[int, list[DirectoryNumber]] = {}
    for _number_id, entry_id, kind, e164, raw in number_rows:
        entry_numbers = numbers_of.get(entry_id)
        if entry_numbers is None:
            entry_numbers = numbers_of[entry_id] = []
        entry_numbers.append((kind, dial(e164, raw), e164))
    # E-mail addresses as stored text: json.loads is cheaper than the driver's and SQLAlchemy's JSON handling
    entry_rows = _driver_rows(select(
        PhonebookEntry.id, PhonebookEntry.family_name, PhonebookEntry.given_name, PhonebookEntry.company,
        PhonebookEntry.display_name, PhonebookEntry.honorific_prefix, PhonebookEntry.job_title,
        PhonebookEntry.sort_name, cast(PhonebookEntry.emails, Text) if emails else null()))
    contacts: list[DirectoryContact] = []
    email_owners, email_texts = [], []
    for (entry_id, family_name, given_name, company, display_name, prefix, job_title, sort_name,
         stored_emails) in entry_rows:
        entry_numbers = numbers_of.get(entry_id)
        if entry_numbers is None:
            continue
        contact = DirectoryContact(f"pb-{entry_id}", family_name or "", given_name or "", company or "",
                                   display_name or "", prefix or "", job_title or "", numbers=entry_numbers,
                                   sort=sort_name or "")
        contacts.append(contact)
        if stored_emails and stored_emails != "[]":
            email_owners.append(contact)
            email_texts.append(stored_emails)
    if email_texts:  # one JSON document for all: a tenth of the time of 10,000 separate json.loads
        for contact, stored in zip(email_owners, json.loads(f"[{','.join(email_texts)}]")):
            contact.emails = _email_addresses(stored)
    return contacts


def _driver_rows(statement) -> list[tuple]:
    """Every row of a select of text and integer columns without parameters, as the database driver returns it.

    For the bulk reads of the directory: SQLAlchemy builds and compiles the statement,
    the rows skip its Row objects (those cost a third of the time for 30,000 rows, and
    give the garbage collector as many objects more to visit). Text and integers need no
    conversion from SQLAlchemy's types; a statement with parameters is refused.
    """
    connection = db.session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    if compiled.params:
        raise ValueError("_driver_rows takes statements without parameters")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled))
        return cursor.fetchall()
    finally:
        cursor.close()


def _email_addresses(stored) -> list[str]:
    return [item.get("address", "") for item in stored or [] if isinstance(item, dict)]


def _address_contacts(dial) -> list[DirectoryContact]:
    """Addresses and contact persons with their numbers (the directory scope "all")."""
    connection = db.session.connection()
    contacts: dict[str, DirectoryContact] = {}
    for address_id, kind, name, company, email, sort, number_kind, e164, raw in connection.execute(
            select(Address.id, Address.kind, Address.name, Address.company, Address.email, Address.sort_key,
                   PhoneNumber.kind, PhoneNumber.e164, PhoneNumber.raw)
            .join(PhoneNumber, PhoneNumber.address_id == Address.id)
            .order_by(Address.id, PhoneNumber.id)):
        key = f"adr-{address_id}"
        contact = contacts.get(key)
        if contact is None:
            is_company = kind == "company"
            contact = contacts[key] = DirectoryContact(
                key, name if is_company else "", "", (name if is_company else company) or "", name,
                emails=[email] if email else [], sort=sort or "")
        contact.numbers.append((number_kind, dial(e164, raw), e164))
    for person_id, name, role, email, sort, company, number_kind, e164, raw in connection.execute(
            select(ContactPerson.id, ContactPerson.name, ContactPerson.role, ContactPerson.email,
                   ContactPerson.sort_key, Address.name, PhoneNumber.kind, PhoneNumber.e164, PhoneNumber.raw)
            .join(PhoneNumber, PhoneNumber.contact_person_id == ContactPerson.id)
            .join(Address, ContactPerson.address_id == Address.id)
            .order_by(ContactPerson.id, PhoneNumber.id)):
        key = f"cp-{person_id}"
        contact = contacts.get(key)
        if contact is None:
            contact = contacts[key] = DirectoryContact(key, "", "", company or "", name, job_title=role or "",
                                                       emails=[email] if email else [], sort=sort or "")
        contact.numbers.append((number_kind, dial(e164, raw), e164))
    return list(contacts.values())


def _matches(contact: DirectoryContact, query: str) -> bool:
    """Type-ahead on the phone: every word in the label, or the digits in one of the numbers."""
    query = query.strip()
    if not query:
        return True
    digits = re.sub(r"\D", "", query)
    if digits and len(digits) == len(re.sub(r"[\s+/()-]", "", query)):
        return any(digits in re.sub(r"\D", "", dialled) for _kind, dialled, _e164 in contact.numbers)
    return terms(query).found_in(fold(contact.label))  # folded like every other search ("Oeztuerk")


# --------------------------------------------------------------------------- vendor formats
#
# The XML formats are written as text, one f-string per entry: several times faster than an
# element tree for 10,000 entries. Every text and attribute value from the database passes
# through `_escape`; tags and the KINDS labels are our own literals, and dialled numbers hold
# only digits, "+", "*" and "#" (DialPlan.dial), so they need no escaping.


# Characters XML 1.0 cannot carry (control characters from a synced source): dropped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _escape(value: str) -> str:
    """Text or attribute value as XML: markup characters escaped, characters XML cannot carry dropped."""
    if not value.isprintable():
        value = _NOT_XML.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# What the phones call a dialled number's kind: Yealink's and Snom's label, Grandstream's type
_LABELS = {kind: KINDS[kind][0] for kind in DIALLED_KINDS}
_GRANDSTREAM_TYPES = {kind: KINDS[kind][1] for kind in DIALLED_KINDS}


def yealink_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Yealink remote phonebook: `YealinkIPPhoneDirectory` with up to three labelled `Telephone`s per entry."""
    parts = [_XML_DECLARATION, f"<YealinkIPPhoneDirectory><Title>{_escape(title)}</Title>"]
    for contact in contacts:
        telephones = [f'<Telephone label="{_LABELS[kind]}">{dialled}</Telephone>'
                      for kind, dialled, _e164 in contact.numbers if kind in _LABELS]
        if telephones:
            parts.append(f"<DirectoryEntry><Name>{_escape(contact.label)}</Name>{''.join(telephones[:3])}"
                         "</DirectoryEntry>\n")
    parts.append("</YealinkIPPhoneDirectory>\n")
    return "".join(parts).encode("utf-8")


def snom_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Snom XML minibrowser directory: one `DirectoryEntry` (Name, Telephone) per number."""
    parts = [_XML_DECLARATION, f"<SnomIPPhoneDirectory><Title>{_escape(title)}</Title><Prompt>Prompt</Prompt>"]
    for contact in contacts:
        dialled = contact.dialled()
        if not dialled:
            continue
        name = _escape(contact.label)
        if len(dialled) == 1:
            parts.append(f"<DirectoryEntry><Name>{name}</Name><Telephone>{dialled[0][1]}</Telephone>"
                         "</DirectoryEntry>\n")
        else:  # the kind tells the entries apart
            parts += [f"<DirectoryEntry><Name>{name} – {_LABELS[kind]}</Name>"
                      f"<Telephone>{digits}</Telephone></DirectoryEntry>\n" for kind, digits, _e164 in dialled]
    parts.append("</SnomIPPhoneDirectory>\n")
    return "".join(parts).encode("utf-8")


def grandstream_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Grandstream phonebook XML: `AddressBook` of `Contact`s with typed `Phone`s."""
    parts = [_XML_DECLARATION, "<AddressBook>"]
    for contact in contacts:
        phones = [f'<Phone type="{_GRANDSTREAM_TYPES[kind]}"><phonenumber>{dialled}</phonenumber>'
                  "<accountindex>1</accountindex></Phone>\n"
                  for kind, dialled, _e164 in contact.numbers if kind in _GRANDSTREAM_TYPES]
        if not phones:
            continue
        if contact.family_name or contact.given_name:
            last_name, first_name = contact.family_name, contact.given_name
        else:
            last_name, first_name = contact.display_name or contact.company, ""
        company = f"<Company>{_escape(contact.company)}</Company>" if contact.company else ""
        parts.append(f"<Contact><LastName>{_escape(last_name)}</LastName><FirstName>{_escape(first_name)}</FirstName>"
                     f"{company}{''.join(phones)}</Contact>\n")
    parts.append("</AddressBook>\n")
    return "".join(parts).encode("utf-8")


def fritzbox_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """AVM Fritz!Box phonebook (`phonebooks`/`phonebook`/`contact`), importable under Telefonie → Telefonbuch."""
    parts = [_XML_DECLARATION, f'<phonebooks><phonebook name="{_escape(title)}">']
    for unique_id, contact in enumerate(contacts, start=1):
        if not contact.numbers:
            continue
        telephony = "".join([f'<number type="{KINDS[kind][2]}" prio="{1 if index == 0 else 0}" id="{index}">'
                             f"{dialled}</number>" for index, (kind, dialled, _e164) in enumerate(contact.numbers)])
        services = "".join([f'<email classifier="work" id="{index}">{_escape(email)}</email>'
                            for index, email in enumerate(contact.emails)])
        parts.append(f"<contact><category>0</category><person><realName>{_escape(contact.label)}</realName>"
                     f'</person>\n<telephony nid="{len(contact.numbers)}">{telephony}</telephony>\n'
                     f'<services nid="{len(contact.emails)}">{services}</services>\n'
                     f"<setup></setup><uniqueid>{unique_id}</uniqueid></contact>\n")
    parts.append("</phonebook>\n</phonebooks>\n")
    return "".join(parts).encode("utf-8")


# What a vCard text value escapes (RFC 2426 section 4)
_VCARD_SPECIAL = re.compile(r"[\\;,\r\n]")


def _vcard_text(value: str) -> str:
    """Escape a vCard 3.0 text value (RFC 2426 section 4)."""
    if _VCARD_SPECIAL.search(value) is None:  # most names: nothing to escape
        return value
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _line(line: str) -> str:
    """A content line with its CRLF, folded at 75 octets (RFC 2425 5.8.1), never inside a UTF-8 character."""
    if len(line) <= 18 or (len(line) <= 75 and line.isascii()) or len(line.encode("utf-8")) <= 75:
        return line + "\r\n"  # up to 18 characters are at most 72 octets
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = 75 if not parts else 74  # continuation lines start with a space
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts) + "\r\n"


def vcard(contacts: list[DirectoryContact], title: str) -> bytes:
    """The directory as one vCard 3.0 file (UTF-8, CRLF line ends).

    Numbers (E.164, else the dialled digits) hold nothing a vCard text value escapes.
    """
    parts: list[str] = []
    for contact in contacts:
        if not contact.numbers:
            continue
        formatted = " ".join(part for part in (contact.prefix, contact.given_name, contact.family_name) if part) \
            or contact.display_name or contact.company
        family_name = contact.family_name or (formatted if not contact.given_name else "")
        parts += ["BEGIN:VCARD\r\nVERSION:3.0\r\n",
                  _line(f"N:{_vcard_text(family_name)};{_vcard_text(contact.given_name)};;"
                        f"{_vcard_text(contact.prefix)};"),
                  _line("FN:" + _vcard_text(formatted))]
        if contact.company:
            parts.append(_line("ORG:" + _vcard_text(contact.company)))
        if contact.job_title:
            parts.append(_line("TITLE:" + _vcard_text(contact.job_title)))
        for kind, dialled, e164 in contact.numbers:  # "TEL;TYPE=WORK,VOICE:" and E.164 fit in 75 octets
            parts.append(f"TEL;TYPE={KINDS[kind][3]}:{e164}\r\n" if e164 else
                         _line(f"TEL;TYPE={KINDS[kind][3]}:{dialled}"))
        for email in contact.emails:
            parts.append(_line("EMAIL;TYPE=INTERNET,WORK:" + _vcard_text(email)))
        parts.append(f"UID:telephone-{contact.key}\r\nEND:VCARD\r\n")
    return "".join(parts).encode("utf-8")


RENDERERS = {"yealink": yealink_xml, "snom": snom_xml, "grandstream": grandstream_xml,
             "fritzbox": fritzbox_xml, "vcard": vcard}


def render(format_name: str, query: str = "", title: str = "Firmentelefonbuch") -> bytes:
    """The directory in one of FORMATS.

    The full company phonebook is kept rendered per process until the phonebook
    changes: desk phones poll it, and a render of 10,000 entries would otherwise
    hold the event loop that also serves the call banners.
    """
    scope = site_settings.get("phones.directory_scope")
    cacheable = scope == "phonebook" and not query.strip()
    if cacheable:
        key = (str(db.engine.url), format_name, title, numbers.default_region())
        version = _phonebook_version()
        hit = _rendered.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
    with _collector_paused:  # the contacts are freed as soon as the text is written
        body = RENDERERS[format_name](directory_contacts(query, scope, emails=format_name in ("fritzbox", "vcard")),
                                      title)
    if cacheable:
        _rendered[key] = (version, body)
    return body


_rendered: dict[tuple, tuple[tuple, bytes]] = {}


def _phonebook_version() -> tuple:
    """Changes whenever an entry or a number of the phonebook is added, changed or removed.

    One statement, one round trip. Entries carry `updated_at` (the sync engine and
    manual edits set it) and their count tells a deletion; numbers are replaced,
    never edited, so the count and highest id of the number index tell a change
    too. The number index is counted whole (also the address master's numbers):
    SQLite counts a whole table without reading its rows, and a change to an
    address merely renders the directory once more.
    """
    entries = select(func.count().label("entries"), func.max(PhonebookEntry.updated_at).label("updated")).subquery()
    index = select(func.count().label("numbers"), func.max(PhoneNumber.id).label("last_number")).subquery()
    statement = select(entries, index).select_from(entries.join(index, true()))
    return tuple(db.session.connection().execute(statement).one())


class _CollectorPause:
    """Keeps Python's cycle collector out of building and writing a directory (`with _collector_paused:`).

    A directory of 10,000 entries makes some 100,000 short-lived objects without
    reference cycles, freed by reference counting once the text is written. Meanwhile
    the collector would run a hundred times and walk them again and again: a fifth to
    a half of the render time. Overlapping renders (threads, greenlets) turn it back
    on when the last one ends, and only if it was on before.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = True

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_collector_paused = _CollectorPause()
