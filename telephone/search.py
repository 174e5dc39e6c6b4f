"""German search: the folded text every record is found by, and the one match rule over it.

Addresses, contact persons and company phonebook entries each keep a `search_text`:
their names, company, city, role and the digits of their numbers, folded the way
a German phonebook reads them (case, accents, umlauts and their spellings, ß:
"Öztürk", "Oeztuerk" and "Ozturk" are the same; so are "Straßenbau" and
"strassenbau"). A query is folded the same way and split into terms; a record
matches when its text contains every term. The text is indexed for substring
search (SQLite FTS5 with the trigram tokenizer, PostgreSQL pg_trgm; see
`search_index`), so a search never scans the table.

Typed numbers follow one rule in every search (addresses, phonebook, Telefon
page, journal): the digits typed, without a leading "+", "00" or "0", are looked
for in the stored numbers' digits (E.164 and as typed), so "0221 12", "+49 221 12"
and "004922112" all find +4922112….
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ARRAY, and_, any_, bindparam, column, false, literal, select, table, true

from . import numbers
from .extensions import db
from .sync.normalize import sort_key

# Spellings of umlauts without the dots, folded like the umlauts themselves.
_SPELLED_UMLAUTS = re.compile(r"([aou])e")
_NOT_WORD = re.compile(r"[\W_]+")
# A query that is a number: digits and what people write in numbers, at least three digits.
_NUMBER_QUERY = re.compile(r"^\+?[\d\s()/.\-]*\d[\d\s()/.\-]*$")
MIN_NUMBER_DIGITS = 3
# Terms shorter than this cannot use the trigram index; they filter what the others found.
TRIGRAM = 3


def fold(value: str | None) -> str:
    """The search form of a text: lower case, no accents, ß → ss, ä/ae → a, ö/oe → o, ü/ue → u,
    punctuation as spaces."""
    folded = sort_key(value or "") if value else ""
    folded = _SPELLED_UMLAUTS.sub(r"\1", folded)
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def number_digits(query: str | None) -> str | None:
    """The digits a typed number is looked for by, or None when the query is not a number.

    "0221 12" → "22112", "+49 221 12" → "4922112", "0049 221" → "49221": without the
    prefix, so that the national and the international notation both match.
    """
    query = (query or "").strip()
    if not _NUMBER_QUERY.match(query) or sum(char.isdigit() for char in query) < MIN_NUMBER_DIGITS:
        return None
    e164 = numbers.to_e164(query)
    if e164:  # a whole number in any notation, "+49 (0)6131 1234-0" included
        return e164[1:]
    digits = re.sub(r"\D", "", query)
    stripped = digits[2:] if digits.startswith("00") else digits.lstrip("0")
    return stripped if len(stripped) >= MIN_NUMBER_DIGITS else digits


@dataclass(frozen=True)
class Terms:
    """A query as the index reads it: folded words that must all be contained."""

    words: tuple[str, ...]
    number: str | None = None  # the digits when the whole query is a number
    typed: bool = False  # something was typed, even if nothing of it can be searched ("%")

    def __bool__(self) -> bool:
        return self.typed

    def found_in(self, folded_text: str) -> bool:
        """Whether a folded text contains every term (the same rule as the index)."""
        return all(word in folded_text for word in self.words)


def terms(query: str | None) -> Terms:
    """The terms of a query: one digit term for a number, else its folded words."""
    number = number_digits(query)
    if number:
        return Terms((number,), number, typed=True)
    return Terms(tuple(dict.fromkeys(fold(query).split())), typed=bool((query or "").strip()))


# --------------------------------------------------------------------------- the text of each record


def number_text(numbers: Iterable[tuple[str | None, str | None]]) -> str:
    """The digits of numbers [(raw, e164), …] as searched: E.164 and as typed, each once."""
    found: list[str] = []
    for raw, e164 in numbers:
        for value in (e164, raw):
            digits = re.sub(r"\D", "", value or "")
            if digits and digits not in found:
                found.append(digits)
    return " ".join(found)


def document(*parts: str | None, numbers: Iterable[tuple[str | None, str | None]] = ()) -> str:
    """The search text of a record: its folded words, then the digits of its numbers."""
    words = fold(" ".join(part for part in parts if part))
    digits = number_text(numbers)
    return f"{words} {digits}".strip()


# --------------------------------------------------------------------------- the indexed match


def dialect() -> str:
    """The name of the session's database dialect (sqlite, postgresql)."""
    return db.session.get_bind().dialect.name


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_query(words: Iterable[str]) -> str:
    """An FTS5 query for the trigram tokenizer: every word as a quoted phrase (all must match)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _fts_table(name: str):
    return table(f"{name}_fts", column("rowid"), column(f"{name}_fts"))


def one_of(column, values: list):
    """SQL condition: `column` is one of `values` (a list of any length): on PostgreSQL one array
    parameter (which it hashes), elsewhere an IN list."""
    if dialect() == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def matching(table_name: str, id_column, text_column, found: Terms):
    """SQL condition: the row's search text contains every term of `found`.

    SQLite asks the table's FTS5 trigram index (`<table>_fts`, keyed by the row id),
    PostgreSQL the pg_trgm index of `text_column` through LIKE; terms shorter than a
    trigram filter what the others found (alone, they scan in list order until the
    page is full). The patterns are inlined (literal_execute) so that PostgreSQL
    plans each query with them.
    """
    if not found.words:  # nothing typed: everything; only punctuation typed: nothing
        return false() if found.typed else true()
    sqlite = dialect() == "sqlite"
    indexed = [word for word in found.words if sqlite and len(word) >= TRIGRAM]
    conditions = [text_column.like(literal(_like_pattern(word), literal_execute=True), escape="\\")
                  for word in found.words if word not in indexed]
    if indexed:
        fts = _fts_table(table_name)
        match = fts.c[f"{table_name}_fts"].op("MATCH")(_fts_query(indexed))
        conditions.insert(0, id_column.in_(select(fts.c.rowid).where(match)))
    return and_(*conditions)
