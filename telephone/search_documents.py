"""What each record is found and sorted by: the search text and sort key of addresses,
contact persons and company phonebook entries, and the owner's sort key on each of
their numbers (`PhoneNumber.owner_sort`, the Telefon page's order).

Lists sort German-style (DIN 5007-1, umlauts as their base letter) and persons
by surname: "Dr. Thomas Groß" sorts as "gross thomas", under G. The texts are
set on every flush of a changed record (whatever changed it: a form, an import,
the CLI), and by the sync engine for its bulk writes (`phonebook_entry_keys`).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

from .models import Address, AddressKind, ContactPerson, PhonebookEntry, PhoneNumber
from .search import document
from .sync.normalize import sort_key

SORT_KEY_LENGTH = 200


def surname_first(last: str | None, first: str | None) -> str:
    """The sort key of a person: surname, then first name ("gross thomas")."""
    return sort_key(" ".join(part for part in (last, first) if part))[:SORT_KEY_LENGTH]


def _numbers(rows: Iterable[PhoneNumber]) -> list[tuple[str, str | None]]:
    return [(row.raw, row.e164) for row in rows]


def address_sort_key(address: Address) -> str:
    """Companies by name, persons by surname ("Dr. Thomas Groß" under G)."""
    if address.kind != AddressKind.PERSON.value:  # a company (also while kind is still the column default)
        return sort_key(address.name)[:SORT_KEY_LENGTH]
    from .addresses.book import split_name  # the address master's name rules

    name = split_name(address.name)
    return surname_first(name.last_name, name.first_name)


def address_own_text(address: Address) -> str:
    """The search text of the address's own fields and numbers (without its contact persons)."""
    return document(address.name, address.company, address.customer_number, address.postcode, address.city,
                    address.tags, numbers=_numbers(address.numbers))


def contact_own_text(contact: ContactPerson) -> str:
    """The search text of a contact person's own fields and numbers."""
    return document(contact.salutation, contact.name, contact.role, numbers=_numbers(contact.numbers))


def refresh_address(address: Address) -> None:
    """Set the sort key and search texts of an address and its contact persons.

    The address is found by its contact persons too; a contact person also by its
    company's name and city (the Telefon page lists the person's own numbers).
    """
    own = address_own_text(address)
    contacts = [contact for contact in address.contacts]
    for contact in contacts:
        contact.sort_key = surname_first(contact.last_name, contact.first_name)
        contact.search_text = " ".join(filter(None, (contact_own_text(contact),
                                                      document(address.name, address.city))))
        _sort_numbers(contact.numbers, contact.sort_key)
    address.sort_key = address_sort_key(address)
    address.search_text = " ".join(filter(None, [own] + [contact_own_text(contact) for contact in contacts]))
    _sort_numbers(address.numbers, address.sort_key)


def _sort_numbers(rows: Iterable[PhoneNumber], owner_sort: str) -> None:
    """Give the owner's numbers its sort key (the directory sorts by it); unchanged rows stay untouched."""
    for row in rows:
        if row.owner_sort != owner_sort:
            row.owner_sort = owner_sort


def phonebook_entry_keys(values: dict, numbers: Iterable[tuple[str | None, str | None]]) -> dict:
    """sort_name and search_text of a phonebook entry from its column values and [(raw, e164), …]."""
    family, given = values.get("family_name") or "", values.get("given_name") or ""
    sort_name = surname_first(family, given) if family else sort_key(values.get("display_name") or "")
    return {
        "sort_name": sort_name[:SORT_KEY_LENGTH],
        "search_text": document(values.get("display_name"), values.get("honorific_prefix"), given, family,
                                values.get("company"), values.get("job_title"), numbers=numbers),
    }


def refresh_phonebook_entry(entry: PhonebookEntry) -> None:
    values = {name: getattr(entry, name) for name in ("display_name", "honorific_prefix", "given_name",
                                                      "family_name", "company", "job_title")}
    for name, value in phonebook_entry_keys(values, _numbers(entry.numbers)).items():
        setattr(entry, name, value)
    _sort_numbers(entry.numbers, entry.sort_name)


def _changed_records(session: Session):
    addresses: set[Address] = set()
    entries: set[PhonebookEntry] = set()
    for record in list(session.new) + list(session.dirty) + list(session.deleted):
        deleted = record in session.deleted
        if isinstance(record, Address) and not deleted:
            addresses.add(record)
        elif isinstance(record, ContactPerson) and record.address is not None:
            addresses.add(record.address)
        elif isinstance(record, PhonebookEntry) and not deleted:
            entries.add(record)
        elif isinstance(record, PhoneNumber):
            owner = record.address or (record.contact_person.address if record.contact_person else None)
            if owner is not None:
                addresses.add(owner)
            elif record.phonebook_entry is not None:
                entries.add(record.phonebook_entry)
    return [address for address in addresses if address not in session.deleted], \
        [entry for entry in entries if entry not in session.deleted]


@event.listens_for(Session, "before_flush")
def _refresh_before_flush(session: Session, _context, _instances) -> None:
    addresses, entries = _changed_records(session)
    for address in addresses:
        refresh_address(address)
    for entry in entries:
        refresh_phonebook_entry(entry)
