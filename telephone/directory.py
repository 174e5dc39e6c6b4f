"""The phone directory of the Telefon page: every stored, callable number with its owner.

Built from the `PhoneNumber` index, sorted by the owner's sort key kept on each number,
and the owners of a page's rows read in one more query (no query per row): contact
persons, addresses and company phonebook entries alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, false, or_, select, union

from .extensions import db
from .search import Terms, dialect, matching, one_of, terms
from .models import Address, ContactPerson, PhonebookEntry, PhoneNumber
from .numbers import Match, owner_columns, owner_match

# Faxes are listed with their owner elsewhere; nobody calls a fax from the phonebook.
CALLABLE_KINDS = ("phone", "mobile")


@dataclass(frozen=True)
class DirectoryEntry:
    """One number of the directory and who it belongs to (name, company, link)."""

    number: PhoneNumber
    owner: Match


# The directory's order: the owners' German sort keys, kept on each number (the last key unique, for
# keyset paging; the index ix_phone_number_owner_sort).
ORDER = (PhoneNumber.owner_sort, PhoneNumber.kind, PhoneNumber.id)


def search(query: str) -> Select:
    """The callable numbers matching `query` (see `search`), unordered (the list sorts by ORDER); their
    owners are loaded for the page's rows alone (`entries`)."""
    statement = select(PhoneNumber).where(PhoneNumber.kind.in_(CALLABLE_KINDS))
    found = terms(query)
    if found:
        statement = statement.where(owned_by_matches(found))
        if found.number:  # the owner has the number: list that number, not all of the owner's
            statement = statement.where(or_(PhoneNumber.e164.contains(found.number, autoescape=True),
                                            PhoneNumber.raw.contains(found.number, autoescape=True)))
    return statement


# Who a number can belong to: the key in the number index, and the owner's model
OWNERS = ((PhoneNumber.contact_person_id, ContactPerson), (PhoneNumber.address_id, Address),
          (PhoneNumber.phonebook_entry_id, PhonebookEntry))
# Owners of one kind found by more ids than this (a word in most names) are looked up inside the query
OWNER_IDS_AT_MOST = 20_000


def owned_by_matches(found: Terms):
    """SQL condition on the number index: the number's owner (contact person, address or phonebook
    entry) matches `found`, reached through the number index's key of each owner kind."""
    conditions = _owner_conditions(found)
    return or_(*conditions) if conditions else false()


def journal_numbers_of_matches(found: Terms) -> Select | None:
    """The E.164 numbers the journal has of the owners matching `found` (a select of one column, each
    number once), or None when no owner matches.

    One select per owner kind, joined by UNION, each along its partial index of the
    journal's numbers (`journal_numbers`). The owners stay subqueries on both databases:
    even when PostgreSQL misjudges how many match, the most it reads is that small index.
    One statement took 31 ms where the owners' ids listed first took 45 (PostgreSQL,
    100,000 addresses, "Jäger").
    """
    selects = [select(PhoneNumber.e164).where(owner, PhoneNumber.e164.is_not(None), PhoneNumber.in_journal)
               for owner in _owner_conditions(found, listed=False)]
    if not selects:
        return None
    return union(*selects) if len(selects) > 1 else selects[0].distinct()


def _owner_conditions(found: Terms, listed: bool | None = None) -> list:
    """Per owner kind with a match, the condition on the number index's key of that kind.

    By default (`listed` None) the matching owners of each kind are looked up first on
    PostgreSQL and given to the condition as a list: as subqueries, PostgreSQL misjudged
    how many owners match and scanned the whole number index (minutes inside the
    journal's search at 100,000 calls). SQLite plans the subqueries well (a temporary
    index each).
    """
    listed = dialect() == "postgresql" if listed is None else listed
    conditions = []
    for owner_key, model in OWNERS:
        ids = select(model.id).where(matching(model.__tablename__, model.id, model.search_text, found))
        found_ids = db.session.scalars(ids.limit(OWNER_IDS_AT_MOST + 1)).all() if listed else ()
        if not listed or len(found_ids) > OWNER_IDS_AT_MOST:
            conditions.append(owner_key.in_(ids))
        elif found_ids:
            conditions.append(one_of(owner_key, found_ids))
    return conditions


def entries(rows: list[PhoneNumber]) -> list[DirectoryEntry]:
    """The directory's rows with their owners described like caller lookup matches.

    The owners are read in one query for the page's rows: joined into the list's own
    query, they were read for every matching number before the page was cut (8,000 rows
    for a common name, 50 ms at 100,000 addresses).
    """
    if not rows:
        return []
    owners = {row.id: owner_match(row) for row in db.session.execute(
        select(PhoneNumber.id, *owner_columns()).where(PhoneNumber.id.in_([row.id for row in rows])))}
    return [DirectoryEntry(row, owner) for row in rows if (owner := owners.get(row.id))]
