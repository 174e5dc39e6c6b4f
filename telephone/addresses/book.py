"""The address master (Adressen): saving, deleting, searching, and the lookup index.

Every change to an address or contact person goes through this module so that
the lookup index (`PhoneNumber`) always matches the phone fields.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from .. import numbers, search_documents
from ..search import Terms, matching, terms
from ..extensions import db
from ..models import Address, AddressKind, ContactPerson

# The editable fields of each model, in form and CSV order.
ADDRESS_FIELDS = ("kind", "customer_number", "name", "company", "street", "postcode", "city", "country", "email",
                  "notes", "phone", "mobile", "fax")
CONTACT_FIELDS = ("salutation", "title", "first_name", "last_name", "role", "email", "phone", "mobile", "fax")
PHONE_KINDS = ("phone", "mobile", "fax")

# Column lengths of the models, for validation of forms and imports.
MAX_LENGTHS = {"customer_number": 40, "salutation": 20, "title": 60, "first_name": 120, "last_name": 120,
               "name": 200, "company": 200, "street": 200, "postcode": 20, "city": 100, "country": 2,
               "email": 200, "role": 120, "phone": 64, "mobile": 64, "fax": 64}

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}$")


# Anrede words in names as people write them, and how they are stored.
SALUTATIONS = {"herr": "Herr", "hr.": "Herr", "hr": "Herr", "frau": "Frau", "fr.": "Frau", "fr": "Frau",
               "mr.": "Mr.", "mr": "Mr.", "mrs.": "Mrs.", "mrs": "Mrs.", "ms.": "Ms.", "ms": "Ms."}
# Academic titles without a dot; every word ending in "." before the name counts as title too.
_TITLE_WORDS = {"dr", "prof", "professor", "dipl.-ing", "mag", "ing"}
# Particles that belong to the last name ("Anna von Berg" → last name "von Berg").
_NAME_PARTICLES = {"von", "van", "de", "der", "den", "zu", "vom", "zum", "zur", "di", "da", "du", "le", "la",
                   "ten", "ter", "del", "dos"}


@dataclass(frozen=True)
class PersonName:
    """A person's name in its parts: Anrede, Titel, Vorname, Nachname."""

    salutation: str = ""
    title: str = ""
    first_name: str = ""
    last_name: str = ""

    @property
    def full(self) -> str:
        """How lists, search and caller lookup show the person: "Dr. Anna Schmidt"."""
        return " ".join(part for part in (self.title, self.first_name, self.last_name) if part)


def split_name(text: str) -> PersonName:
    """Split a name written in one field ("Herr Dr. Hans Müller", "Müller, Hans") into its parts.

    Leading Anrede and title words are taken off; "Last, First" is read as such;
    otherwise the last word (with particles such as "von") is the last name.
    """
    words = " ".join((text or "").split()).split(" ") if (text or "").strip() else []
    salutation = ""
    if words and words[0].lower() in SALUTATIONS:
        salutation = SALUTATIONS[words.pop(0).lower()]
    titles = []
    while len(words) > 1 and (words[0].endswith(".") or words[0].lower() in _TITLE_WORDS):
        titles.append(words.pop(0))
    rest = " ".join(words)
    if "," in rest:
        last, _comma, first = rest.partition(",")
        return PersonName(salutation, " ".join(titles), first.strip(), last.strip())
    if len(words) <= 1:
        return PersonName(salutation, " ".join(titles), "", rest)
    cut = len(words) - 1
    while cut > 1 and words[cut - 1].lower() in _NAME_PARTICLES:
        cut -= 1
    return PersonName(salutation, " ".join(titles), " ".join(words[:cut]), " ".join(words[cut:]))


def is_valid_email(value: str) -> bool:
    """A plausible e-mail address (one @, a dot in the domain, no spaces)."""
    return bool(_EMAIL.match(value))


def is_valid_country(value: str) -> bool:
    """A two-letter country code that phone numbers can be parsed for (DE, AT, CH, …)."""
    return value.upper() in phonenumbers.SUPPORTED_REGIONS


def number_region(country: str | None, default: str) -> str:
    """The region national numbers of an address are read in: its country, else the office's."""
    country = (country or "").upper()
    return country if is_valid_country(country) else default


# --------------------------------------------------------------------------- lookup index


def index_address(address: Address, region: str | None = None) -> None:
    """Rebuild the lookup index rows of an address (not of its contact persons)."""
    region = number_region(address.country, region or numbers.default_region())
    numbers.index_numbers(address, [(kind, getattr(address, kind)) for kind in PHONE_KINDS], region=region)


def index_contact(contact: ContactPerson, region: str | None = None) -> None:
    """Rebuild the lookup index rows of a contact person (read in its company's country)."""
    default = region or numbers.default_region()
    region = number_region(contact.address.country, default) if contact.address is not None else default
    numbers.index_numbers(contact, [(kind, getattr(contact, kind)) for kind in PHONE_KINDS], region=region)


@dataclass(frozen=True)
class ShownNumber:
    """A stored number as the pages show it: kind, text as typed and E.164 (None: not recognised)."""

    kind: str
    raw: str
    e164: str | None

    @property
    def parsed(self) -> numbers.ParsedNumber:
        """What the number is (phone number, internal extension, not recognised), for the number macro."""
        return numbers.stored(self.raw, self.e164)


def shown_numbers(owner: Address | ContactPerson) -> list[ShownNumber]:
    """The owner's numbers from the lookup index, in the order Telefon, Mobil, Fax."""
    order = {kind: position for position, kind in enumerate(PHONE_KINDS)}
    rows = sorted(owner.numbers, key=lambda row: order.get(row.kind, len(order)))
    return [ShownNumber(row.kind, row.raw, row.e164) for row in rows]


# --------------------------------------------------------------------------- changes


def _clean(value) -> str:
    return (value or "").strip() if isinstance(value, str) or value is None else str(value)


def apply_address(address: Address, data: dict, region: str | None = None) -> Address:
    """Copy the given fields onto `address` (new or existing) and re-index its numbers.

    The caller validates and commits. The kind decides whether the main number
    also matches callers on its extensions, so the index is rebuilt every time.
    """
    for name in ADDRESS_FIELDS:
        if name in data:
            setattr(address, name, _clean(data[name]))
    if "account_manager_id" in data:
        address.account_manager_id = data["account_manager_id"] or None
    if "tags" in data:
        address.tags = ", ".join(part.strip() for part in _clean(data["tags"]).split(",") if part.strip())
    address.country = (address.country or "").upper()
    if address.kind not in {kind.value for kind in AddressKind}:
        address.kind = AddressKind.COMPANY.value
    index_address(address, region)
    return address


NAME_PARTS = ("salutation", "title", "first_name", "last_name")


def contact_name(data: dict) -> PersonName:
    """The name parts of contact data: the separate fields, else "name" split into parts."""
    parts = {name: _clean(data.get(name)) for name in NAME_PARTS}
    if not (parts["first_name"] or parts["last_name"]) and _clean(data.get("name")):
        split = split_name(_clean(data.get("name")))
        parts = {"salutation": parts["salutation"] or split.salutation, "title": parts["title"] or split.title,
                 "first_name": split.first_name, "last_name": split.last_name}
    return PersonName(**parts)


def apply_contact(contact: ContactPerson, data: dict, region: str | None = None) -> ContactPerson:
    """Copy the given fields onto a contact person and re-index its numbers (caller commits).

    The name comes as Anrede/Titel/Vorname/Nachname or as one "name" that is split;
    `name` always holds the full name ("Dr. Anna Schmidt").
    """
    for name in CONTACT_FIELDS:
        if name in data:
            setattr(contact, name, _clean(data[name]))
    if _clean(data.get("name")) and not (_clean(data.get("first_name")) or _clean(data.get("last_name"))):
        kept = {name: getattr(contact, name) for name in ("salutation", "title")}
        parts = contact_name({**kept, "name": data["name"]})
        contact.salutation, contact.title = parts.salutation, parts.title
        contact.first_name, contact.last_name = parts.first_name, parts.last_name
    contact.name = PersonName(*(getattr(contact, name) or "" for name in NAME_PARTS)).full[:200]
    index_contact(contact, region)
    return contact


def save_address(address: Address | None, data: dict) -> Address:
    """Create (address None) or update an address from validated data and commit."""
    address = address or Address()
    if address.id is None:
        db.session.add(address)
    region = numbers.default_region()
    apply_address(address, data, region)
    # The company's country may have changed: its contact persons' numbers are read in it.
    for contact in address.contacts:
        index_contact(contact, region)
    db.session.commit()
    return address


def save_contact(address: Address, contact: ContactPerson | None, data: dict) -> ContactPerson:
    """Create (contact None) or update a contact person of `address` and commit."""
    if contact is None:
        contact = ContactPerson(address=address)
        db.session.add(contact)
    apply_contact(contact, data)
    db.session.commit()
    return contact


def customer_number_owner(customer_number: str, exclude_id: int | None = None) -> Address | None:
    """The address that already has this Kundennummer (other than `exclude_id`), if any."""
    customer_number = _clean(customer_number)
    if not customer_number:
        return None
    statement = select(Address).where(Address.customer_number == customer_number)
    if exclude_id is not None:
        statement = statement.where(Address.id != exclude_id)
    return db.session.scalar(statement.order_by(Address.id).limit(1))


def delete_address(address: Address) -> None:
    """Delete an address with its contact persons and their index rows."""
    db.session.delete(address)
    db.session.commit()


def delete_contact(contact: ContactPerson) -> None:
    """Delete a contact person and its index rows."""
    db.session.delete(contact)
    db.session.commit()


# --------------------------------------------------------------------------- search


# The address list's order: German phonebook order, indexed (the last key unique, for keyset paging:
# telephone/paging.py).
LIST_ORDER = (Address.sort_key, Address.id)


def search_query(query: str = "") -> Select:
    """Addresses matching `query`, unordered (the list sorts by LIST_ORDER: companies by name,
    persons by surname).

    Every word must be found (folded: case, accents, umlauts and their spellings,
    ß) in the name, company, customer number, street, postcode, city, e-mail or
    tags of the address, or in the name, role or e-mail of one of its contact
    persons; a number in any notation matches the digits of their numbers (the
    rule of `search.number_digits`). Served by the search index, never a scan.
    """
    statement = select(Address).options(selectinload(Address.numbers))
    found = terms(query)
    if not found:
        return statement
    # The list says which contact person a hit was found by (matched_contacts): their persons in one query
    return statement.where(matching(Address.__tablename__, Address.id, Address.search_text, found)).options(
        selectinload(Address.contacts))


def matched_contacts(address: Address, query: str) -> list[ContactPerson]:
    """The contact persons a search hit was found by: those holding the words the address's own
    fields do not (none when the address itself matches)."""
    found = terms(query)
    own = search_documents.address_own_text(address)
    missing = Terms(tuple(word for word in found.words if word not in own))
    if not missing.words:
        return []
    return [contact for contact in address.contacts if missing.found_in(contact.search_text)]


def load_address(address_id: int) -> Address | None:
    """An address with its contact persons and all their numbers, for the detail page."""
    return db.session.scalar(
        select(Address).where(Address.id == address_id).options(
            selectinload(Address.numbers),
            selectinload(Address.contacts).selectinload(ContactPerson.numbers),
        )
    )
