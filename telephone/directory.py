"""The phone directory of the Telefon page: every stored, callable number with its owner.

Built from the `PhoneNumber` index in one query (owners joined, no query per row):
contact persons, addresses and company phonebook entries alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, literal, or_, select
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


def search(query: str, page: int = 1, per_page: int = 25):
    """A page (Flask-SQLAlchemy Pagination) of DirectoryEntry matching `query` in name, company or number.

    The owners (contact person with its company, address, phonebook entry) are
    loaded by the same query and described like caller lookup matches.
    """
    owner_address = aliased(Address)  # the company of a contact person
    name = func.coalesce(ContactPerson.name, Address.name, PhonebookEntry.display_name, literal(""))
    company = func.coalesce(owner_address.name, Address.company, PhonebookEntry.company, literal(""))
    statement = (
        select(PhoneNumber)
        .outerjoin(PhoneNumber.contact_person)
        .outerjoin(owner_address, ContactPerson.address_id == owner_address.id)
        .outerjoin(PhoneNumber.address)
        .outerjoin(PhoneNumber.phonebook_entry)
        .options(
            contains_eager(PhoneNumber.contact_person).contains_eager(ContactPerson.address.of_type(owner_address)),
            contains_eager(PhoneNumber.address),
            contains_eager(PhoneNumber.phonebook_entry),
        )
        .where(PhoneNumber.kind.in_(CALLABLE_KINDS))
    )
    if query:
        text = query.lower()
        conditions = [func.lower(column).contains(text, autoescape=True)
                      for column in (name, company, PhoneNumber.raw)]
        conditions += [PhoneNumber.e164.like(f"%{digits}%") for digits in _digit_patterns(query)]
        statement = statement.where(or_(*conditions))
    statement = statement.order_by(func.lower(name), PhoneNumber.kind, PhoneNumber.id)
    result = db.paginate(statement, page=page, per_page=per_page, error_out=False)
    # Same description as a caller lookup match; every index row has exactly one owner.
    result.items = [DirectoryEntry(row, owner) for row in result.items if (owner := _match_for(row))]
    return result
