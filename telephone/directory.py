"""The phone directory of the Telefon page: every stored, callable number with its owner.

Built from the `PhoneNumber` index in one query (owners joined, no query per row):
contact persons, addresses and company phonebook entries alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased, contains_eager

from .search import matching, terms
from .models import Address, ContactPerson, PhonebookEntry, PhoneNumber
from .numbers import Match, _match_for

# Faxes are listed with their owner elsewhere; nobody calls a fax from the phonebook.
CALLABLE_KINDS = ("phone", "mobile")


@dataclass(frozen=True)
class DirectoryEntry:
    """One number of the directory and who it belongs to (name, company, link)."""

    number: PhoneNumber
    owner: Match


# The owner of a number as the directory names it: contact person (with its company), address or
# phonebook entry; every index row has exactly one owner.
OWNER_ADDRESS = aliased(Address, name="owner_address")  # the company of a contact person
# The directory's order: the owners' German sort keys (the last key unique, for keyset paging).
ORDER = (func.coalesce(ContactPerson.sort_key, Address.sort_key, PhonebookEntry.sort_name), PhoneNumber.kind,
         PhoneNumber.id)


def search(query: str) -> Select:
    """The callable numbers matching `query` (see `search`), unordered (the list sorts by ORDER), each
    with its owner loaded by the same query (see `entries`)."""
    statement = (
        select(PhoneNumber)
        .outerjoin(PhoneNumber.contact_person)
        .outerjoin(OWNER_ADDRESS, ContactPerson.address_id == OWNER_ADDRESS.id)
        .outerjoin(PhoneNumber.address)
        .outerjoin(PhoneNumber.phonebook_entry)
        .options(
            contains_eager(PhoneNumber.contact_person).contains_eager(ContactPerson.address.of_type(OWNER_ADDRESS)),
            contains_eager(PhoneNumber.address),
            contains_eager(PhoneNumber.phonebook_entry),
        )
        .where(PhoneNumber.kind.in_(CALLABLE_KINDS))
    )
    found = terms(query)
    if found:
        owners = [matching(model.__tablename__, model.id, model.search_text, found)
                  for model in (ContactPerson, Address, PhonebookEntry)]
        statement = statement.where(or_(
            and_(PhoneNumber.contact_person_id.is_not(None), owners[0]),
            and_(PhoneNumber.address_id.is_not(None), owners[1]),
            and_(PhoneNumber.phonebook_entry_id.is_not(None), owners[2]),
        ))
        if found.number:  # the owner has the number: list that number, not all of the owner's
            statement = statement.where(or_(PhoneNumber.e164.contains(found.number, autoescape=True),
                                            PhoneNumber.raw.contains(found.number, autoescape=True)))
    return statement


def entries(rows: list[PhoneNumber]) -> list[DirectoryEntry]:
    """The directory's rows with their owners described like caller lookup matches."""
    return [DirectoryEntry(row, owner) for row in rows if (owner := _match_for(row))]
