"""The phone directory of the Telefon page: every stored, callable number with its owner.

Built from the `PhoneNumber` index in one query (owners joined, no query per row):
contact persons, addresses and company phonebook entries alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, literal, or_, select
from sqlalchemy.orm import aliased, contains_eager

from .extensions import db
from .models import Address, ContactPerson, PhonebookEntry, PhoneNumber
from .numbers import Match, _match_for

# Faxes are listed with their owner elsewhere; nobody calls a fax from the phonebook.
CALLABLE_KINDS = ("phone", "mobile")


@dataclass(frozen=True)
class DirectoryEntry:
    """One number of the directory and who it belongs to (name, company, link)."""

    number: PhoneNumber
    owner: Match


def _digit_patterns(query: str) -> list[str]:
    """Digit strings to look for in E.164 numbers: `0221 12` also finds `+4922112…`."""
    digits = re.sub(r"\D", "", query)
    if len(digits) < 3:
        return []
    patterns = [digits]
    if digits.startswith("00"):
        patterns.append(digits[2:])
    elif digits.startswith("0"):
        patterns.append(digits[1:])
    return patterns


# The owner of a number as the directory names it: contact person (with its company), address or
# phonebook entry; every index row has exactly one owner.
OWNER_ADDRESS = aliased(Address, name="owner_address")  # the company of a contact person
OWNER_NAME = func.coalesce(ContactPerson.name, Address.name, PhonebookEntry.display_name, literal(""))
OWNER_COMPANY = func.coalesce(OWNER_ADDRESS.name, Address.company, PhonebookEntry.company, literal(""))
# The directory's order (the last key unique, for keyset paging: telephone/paging.py).
ORDER = (func.lower(OWNER_NAME), PhoneNumber.kind, PhoneNumber.id)


def search(query: str) -> Select:
    """The callable numbers matching `query` in name, company or number, unordered (the list sorts
    by ORDER), each with its owner loaded by the same query (see `entries`)."""
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
    if query:
        text = query.lower()
        conditions = [func.lower(column).contains(text, autoescape=True)
                      for column in (OWNER_NAME, OWNER_COMPANY, PhoneNumber.raw)]
        conditions += [PhoneNumber.e164.like(f"%{digits}%") for digits in _digit_patterns(query)]
        statement = statement.where(or_(*conditions))
    return statement


def entries(rows: list[PhoneNumber]) -> list[DirectoryEntry]:
    """The directory's rows with their owners described like caller lookup matches."""
    return [DirectoryEntry(row, owner) for row in rows if (owner := _match_for(row))]
