"""The company phonebook for desk phones and other devices: who is in it, and each vendor's format.

`directory_contacts()` reads every number of the phonebook (and, by the admin's
choice, of the address master) in one query and groups it by owner. The
renderers turn that list into the remote phonebook formats that the common desk
phones read (Yealink, Snom, Grandstream), an AVM Fritz!Box phonebook and a
vCard 3.0 file. Numbers are written the way the phone dials them: national
notation for the office's own country, the international prefix otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import func, select

from . import numbers, site_settings
from .extensions import db
from .models import Address, ContactPerson, PhonebookEntry, PhoneNumber
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


@dataclass(slots=True)
class DirectoryNumber:
    kind: str  # phone | mobile | fax
    dial: str  # as the phone dials it (0221…, 0043…)
    e164: str | None


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
    emails: list[str] = field(default_factory=list)
    numbers: list[DirectoryNumber] = field(default_factory=list)

    @property
    def label(self) -> str:
        """"Nachname, Vorname (Firma)" as desk phones list it."""
        if self.family_name and self.given_name:
            name = f"{self.family_name}, {self.given_name}"
        else:
            name = self.family_name or self.given_name or self.display_name or self.company
        if self.company and self.company != name:
            return f"{name} ({self.company})"
        return name

    def dialled(self) -> list[DirectoryNumber]:
        return [number for number in self.numbers if number.kind in DIALLED_KINDS]


# --------------------------------------------------------------------------- numbers as the phone dials them


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
            return re.sub(r"[^0-9+*#]", "", raw)
        digits = e164[1:]
        if digits.startswith(self.country_code):
            return self.national_prefix + digits[len(self.country_code):]
        return self.international_prefix + digits


# --------------------------------------------------------------------------- who is in the directory


def directory_contacts(query: str = "", scope: str | None = None, emails: bool = False) -> list[DirectoryContact]:
    """Everyone with a number, sorted German-style by label; `query` filters by name, company or digits.

    `emails` also loads the e-mail addresses (the Fritz!Box and vCard formats carry them).
    """
    scope = scope or site_settings.get("phones.directory_scope")
    dial = DialPlan.for_region(numbers.default_region()).dial
    contacts: dict[str, DirectoryContact] = {}
    entry_ids: dict[int, DirectoryContact] = {}
    current_id, contact = None, None
    for (owner_id, family_name, given_name, company, display_name, prefix, job_title,
         kind, e164, raw) in db.session.connection().execute(_phonebook_rows()):
        if owner_id != current_id:
            current_id = owner_id
            contact = DirectoryContact(f"pb-{owner_id}", family_name or "", given_name or "", company or "",
                                       display_name or "", prefix or "", job_title or "")
            contacts[contact.key] = entry_ids[owner_id] = contact
        contact.numbers.append(DirectoryNumber(kind, dial(e164, raw), e164))
    if emails:
        for entry_id, stored in db.session.connection().execute(
                select(PhonebookEntry.id, PhonebookEntry.emails)):
            if stored and entry_id in entry_ids:
                entry_ids[entry_id].emails = [item.get("address", "") for item in stored or []
                                              if isinstance(item, dict)]
    if scope == "all":
        for key, contact_row, number_row in _address_rows():
            contact = contacts.get(key)
            if contact is None:
                contact = contacts[key] = contact_row
            contact.numbers.append(DirectoryNumber(number_row.kind, dial(number_row.e164, number_row.raw),
                                                   number_row.e164))
    result = [contact for contact in contacts.values() if _matches(contact, query)] if query.strip() \
        else list(contacts.values())
    result.sort(key=lambda contact: (sort_key(contact.label), contact.key))
    return result


def _phonebook_rows():
    return (
        select(PhonebookEntry.id, PhonebookEntry.family_name, PhonebookEntry.given_name, PhonebookEntry.company,
               PhonebookEntry.display_name, PhonebookEntry.honorific_prefix, PhonebookEntry.job_title,
               PhoneNumber.kind, PhoneNumber.e164, PhoneNumber.raw)
        .join(PhoneNumber, PhoneNumber.phonebook_entry_id == PhonebookEntry.id)
        .order_by(PhonebookEntry.id, PhoneNumber.id)
    )


def _address_rows():
    """(key, contact, number row) for the numbers of addresses and contact persons."""
    address_numbers = db.session.execute(
        select(Address.id, Address.kind, Address.name, Address.company, Address.email,
               PhoneNumber.kind.label("number_kind"), PhoneNumber.e164, PhoneNumber.raw)
        .join(PhoneNumber, PhoneNumber.address_id == Address.id)
        .order_by(Address.id, PhoneNumber.id)
    )
    for row in address_numbers:
        company = row.name if row.kind == "company" else row.company
        contact = DirectoryContact(f"adr-{row.id}", row.name if row.kind == "company" else "", "",
                                   company or "", row.name, emails=[row.email] if row.email else [])
        yield contact.key, contact, _NumberRow(row.number_kind, row.e164, row.raw)
    person_numbers = db.session.execute(
        select(ContactPerson.id, ContactPerson.name, ContactPerson.role, ContactPerson.email,
               Address.name.label("company"),
               PhoneNumber.kind.label("number_kind"), PhoneNumber.e164, PhoneNumber.raw)
        .join(PhoneNumber, PhoneNumber.contact_person_id == ContactPerson.id)
        .join(Address, ContactPerson.address_id == Address.id)
        .order_by(ContactPerson.id, PhoneNumber.id)
    )
    for row in person_numbers:
        contact = DirectoryContact(f"cp-{row.id}", "", "", row.company or "", row.name, job_title=row.role or "",
                                   emails=[row.email] if row.email else [])
        yield contact.key, contact, _NumberRow(row.number_kind, row.e164, row.raw)


@dataclass(frozen=True)
class _NumberRow:
    kind: str
    e164: str | None
    raw: str


def _matches(contact: DirectoryContact, query: str) -> bool:
    """Type-ahead on the phone: every word in the label, or the digits in one of the numbers."""
    query = query.strip()
    if not query:
        return True
    digits = re.sub(r"\D", "", query)
    if digits and len(digits) == len(re.sub(r"[\s+/()-]", "", query)):
        return any(digits in re.sub(r"\D", "", number.dial) for number in contact.numbers)
    label = sort_key(contact.label)
    return all(sort_key(word) in label for word in query.split())


# --------------------------------------------------------------------------- vendor formats


# Characters XML 1.0 cannot carry (control characters from a synced source): dropped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_NEEDS_ESCAPE = re.compile('[&<>"]')


def _escape(value: str) -> str:
    """Text or attribute value as XML: markup characters escaped, characters XML cannot carry dropped."""
    if not value.isprintable():
        value = _NOT_XML.sub("", value)
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match.group()], value)


class _Xml:
    """A small XML writer: every text and attribute passes through `_escape`, tags are our own literals.

    Building strings is several times faster than an element tree for 10,000 entries,
    which phones may fetch every few minutes.
    """

    def __init__(self):
        self.parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']

    def open(self, tag: str, **attributes: str) -> None:
        self.parts.append(f"<{tag}{self._attributes(attributes)}>")

    def close(self, tag: str) -> None:
        self.parts.append(f"</{tag}>\n")

    def element(self, tag: str, text: str = "", **attributes: str) -> None:
        self.parts.append(f"<{tag}{self._attributes(attributes)}>{_escape(text)}</{tag}>")

    @staticmethod
    def _attributes(attributes: dict[str, str]) -> str:
        return "".join(f' {name}="{_escape(value)}"' for name, value in attributes.items())

    def bytes(self) -> bytes:
        return "".join(self.parts).encode("utf-8")


def yealink_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Yealink remote phonebook: `YealinkIPPhoneDirectory` with up to three labelled `Telephone`s per entry."""
    xml = _Xml()
    xml.open("YealinkIPPhoneDirectory")
    xml.element("Title", title)
    for contact in contacts:
        dialled = contact.dialled()
        if not dialled:
            continue
        xml.open("DirectoryEntry")
        xml.element("Name", contact.label)
        for number in dialled[:3]:
            xml.element("Telephone", number.dial, label=KINDS[number.kind][0])
        xml.close("DirectoryEntry")
    xml.close("YealinkIPPhoneDirectory")
    return xml.bytes()


def snom_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Snom XML minibrowser directory: one `DirectoryEntry` (Name, Telephone) per number."""
    xml = _Xml()
    xml.open("SnomIPPhoneDirectory")
    xml.element("Title", title)
    xml.element("Prompt", "Prompt")
    for contact in contacts:
        dialled = contact.dialled()
        for number in dialled:
            suffix = f" – {KINDS[number.kind][0]}" if len(dialled) > 1 else ""
            xml.open("DirectoryEntry")
            xml.element("Name", contact.label + suffix)
            xml.element("Telephone", number.dial)
            xml.close("DirectoryEntry")
    xml.close("SnomIPPhoneDirectory")
    return xml.bytes()


def grandstream_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """Grandstream phonebook XML: `AddressBook` of `Contact`s with typed `Phone`s."""
    xml = _Xml()
    xml.open("AddressBook")
    for contact in contacts:
        dialled = contact.dialled()
        if not dialled:
            continue
        xml.open("Contact")
        if contact.family_name or contact.given_name:
            xml.element("LastName", contact.family_name)
            xml.element("FirstName", contact.given_name)
        else:
            xml.element("LastName", contact.display_name or contact.company)
            xml.element("FirstName", "")
        if contact.company:
            xml.element("Company", contact.company)
        for number in dialled:
            xml.open("Phone", type=KINDS[number.kind][1])
            xml.element("phonenumber", number.dial)
            xml.element("accountindex", "1")
            xml.close("Phone")
        xml.close("Contact")
    xml.close("AddressBook")
    return xml.bytes()


def fritzbox_xml(contacts: list[DirectoryContact], title: str) -> bytes:
    """AVM Fritz!Box phonebook (`phonebooks`/`phonebook`/`contact`), importable under Telefonie → Telefonbuch."""
    xml = _Xml()
    xml.open("phonebooks")
    xml.open("phonebook", name=title)
    for unique_id, contact in enumerate(contacts, start=1):
        if not contact.numbers:
            continue
        xml.open("contact")
        xml.element("category", "0")
        xml.open("person")
        xml.element("realName", contact.label)
        xml.close("person")
        xml.open("telephony", nid=str(len(contact.numbers)))
        for index, number in enumerate(contact.numbers):
            xml.element("number", number.dial, type=KINDS[number.kind][2], prio="1" if index == 0 else "0",
                        id=str(index))
        xml.close("telephony")
        xml.open("services", nid=str(len(contact.emails)))
        for index, email in enumerate(contact.emails):
            xml.element("email", email, classifier="work", id=str(index))
        xml.close("services")
        xml.element("setup")
        xml.element("uniqueid", str(unique_id))
        xml.close("contact")
    xml.close("phonebook")
    xml.close("phonebooks")
    return xml.bytes()


def _vcard_text(value: str) -> str:
    """Escape a vCard 3.0 text value (RFC 2426 section 4)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 2425 5.8.1), never inside a UTF-8 character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
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
    return "\r\n ".join(parts)


def vcard(contacts: list[DirectoryContact], title: str) -> bytes:
    """The directory as one vCard 3.0 file (UTF-8, CRLF line ends)."""
    lines: list[str] = []
    for contact in contacts:
        if not contact.numbers:
            continue
        formatted = " ".join(part for part in (contact.prefix, contact.given_name, contact.family_name) if part) \
            or contact.display_name or contact.company
        lines += ["BEGIN:VCARD", "VERSION:3.0",
                  "N:" + ";".join(_vcard_text(part) for part in
                                  (contact.family_name or (formatted if not contact.given_name else ""),
                                   contact.given_name, "", contact.prefix, "")),
                  "FN:" + _vcard_text(formatted)]
        if contact.company:
            lines.append("ORG:" + _vcard_text(contact.company))
        if contact.job_title:
            lines.append("TITLE:" + _vcard_text(contact.job_title))
        for number in contact.numbers:
            lines.append(f"TEL;TYPE={KINDS[number.kind][3]}:" + _vcard_text(number.e164 or number.dial))
        for email in contact.emails:
            lines.append("EMAIL;TYPE=INTERNET,WORK:" + _vcard_text(email))
        lines += [f"UID:telephone-{contact.key}", "END:VCARD"]
    return "".join(_fold(line) + "\r\n" for line in lines).encode("utf-8")


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
    contacts = directory_contacts(query, scope, emails=format_name in ("fritzbox", "vcard"))
    body = RENDERERS[format_name](contacts, title)
    if cacheable:
        _rendered[key] = (version, body)
    return body


_rendered: dict[tuple, tuple[tuple, bytes]] = {}


def _phonebook_version() -> tuple:
    """Changes whenever an entry or a number of the phonebook is added, changed or removed.

    Entries carry `updated_at` (the sync engine and manual edits set it); numbers are
    replaced, never edited, so their count and highest id tell a change.
    """
    numbers_version = (select(func.count(PhoneNumber.id), func.max(PhoneNumber.id))
                       .where(PhoneNumber.phonebook_entry_id.is_not(None)))
    entries_version = select(func.count(PhonebookEntry.id), func.max(PhonebookEntry.updated_at))
    connection = db.session.connection()
    return tuple(connection.execute(entries_version).one()) + tuple(connection.execute(numbers_version).one())
