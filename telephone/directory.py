"""The phone directory of the Telefon page: every stored, callable number with its owner.

Built from the `PhoneNumber` index in one query (owners joined, no query per row):
contact persons, addresses and company phonebook entries alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased, contains_eager

from .search import matching, terms
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


def search(query: str, page: int = 1, per_page: int = 25):
    """A page (Flask-SQLAlchemy Pagination) of DirectoryEntry matching `query` (see `search`).

    The owners (contact person with its company, address, phonebook entry) are
    loaded by the same query and described like caller lookup matches.
    """
    owner_address = aliased(Address)  # the company of a contact person
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
    sort = func.coalesce(ContactPerson.sort_key, Address.sort_key, PhonebookEntry.sort_name)
    statement = statement.order_by(sort, PhoneNumber.kind, PhoneNumber.id)
    result = db.paginate(statement, page=page, per_page=per_page, error_out=False)
    # Same description as a caller lookup match; every index row has exactly one owner.
    result.items = [DirectoryEntry(row, owner) for row in result.items if (owner := _match_for(row))]
    return result
