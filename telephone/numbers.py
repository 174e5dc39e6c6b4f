"""Phone numbers: what a text is (`parse`), the lookup index and caller lookup.

`parse` is the one place that decides what a typed, stored or notified number
is: a phone number (valid for `phonenumbers`, kept as E.164), an internal
extension (`23`, up to six digits, dialled as it is), a colleague's SIP id
(`777123456@fpbx.de`), an anonymous caller, or text that is not recognised.
Storage, the display macro, the journal and click-to-dial all use it.

Every stored number of an address, contact person or phonebook entry is kept as
typed (`raw`) and as E.164 in the `PhoneNumber` table. Caller lookup is an index
hit on E.164; a company's main number also matches callers dialling in on an
extension of it.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import phonenumbers
from flask import current_app, url_for
from flask_babel import gettext as _
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata, PhoneNumberFormat
from sqlalchemy import bindparam, select

from .extensions import db
from .models import Address, AddressKind, ContactPerson, PhonebookEntry, PhoneNumber

# A partial (extension) match needs at least this many digits in the stored
# national number, so that short codes and fragments never match.
MIN_PARTIAL_DIGITS = 7
# How many digits a caller's extension may add to a company's main number.
MAX_EXTENSION_DIGITS = 4

_DIRECT_DIAL_ZERO = re.compile(r"[-\s/]0\s*$")
# Internal extensions: 1–6 digits without a leading 0 (no area code, no "+").
_INTERNAL_EXTENSION = re.compile(r"[1-9][0-9]{0,5}")
ANONYMOUS = "anonymous"
# "+" and 3–17 ASCII digits without a leading zero: numbers already written as E.164
_PLAIN_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{2,16}")
_UNDECIDED = object()
# Country calling code → compiled national prefix pattern (None: the country has none), or _UNDECIDED
_national_prefixes: dict[int, object] = {}


# What a number text is (ParsedNumber.kind).
PHONE = "phone"  # a valid phone number; e164 is set
INTERNAL = "internal"  # an internal extension of the office's PBX ("23")
COLLEAGUE = "colleague"  # a SIP id of the office's PBX ("777123456@fpbx.de")
ANONYMOUS_CALLER = "anonymous"  # a caller who suppressed the number
EMPTY = "empty"
UNRECOGNISED = "unrecognised"


@dataclass(frozen=True)
class ParsedNumber:
    """A number text and what it is; only valid phone numbers have an E.164 form."""

    raw: str
    e164: str | None  # None unless kind is PHONE
    kind: str = PHONE

    @property
    def recognised(self) -> bool:
        """A phone number or an internal extension: something the PBX can dial."""
        return self.kind in (PHONE, INTERNAL)

    @property
    def dial_target(self) -> str | None:
        """What click-to-dial sends to the PBX: E.164, or the extension's digits as typed."""
        if self.kind == PHONE:
            return self.e164
        return self.raw if self.kind == INTERNAL else None


def default_region() -> str:
    """The region for numbers written without country code (admin setting, else env, else DE)."""
    from . import site_settings

    return site_settings.get("numbers.default_region")


def parse(text: str | None, region: str | None = None) -> ParsedNumber:
    """What `text` is: a phone number in any common notation (national, +49, 0049, +49 (0)…, tel:…)
    that `phonenumbers` finds valid, an internal extension, a SIP id, anonymous, or unrecognised.
    """
    raw = (text or "").strip()
    if not raw:
        return ParsedNumber(raw, None, EMPTY)
    if raw.lower() == ANONYMOUS:
        return ParsedNumber(raw, None, ANONYMOUS_CALLER)
    if "@" in raw:
        return ParsedNumber(raw, None, COLLEAGUE)
    if _INTERNAL_EXTENSION.fullmatch(raw):
        return ParsedNumber(raw, None, INTERNAL)
    candidate = raw[4:] if raw.lower().startswith("tel:") else raw
    e164 = _plain_international(candidate)
    if e164 is _UNDECIDED:
        e164 = _full_parse(candidate, region or default_region())
    return ParsedNumber(raw, e164, PHONE) if e164 else ParsedNumber(raw, None, UNRECOGNISED)


def shown(raw: str | None, e164: str | None = None) -> ParsedNumber:
    """A number as pages show it: a known E.164 is a phone number, else `parse` decides."""
    return ParsedNumber((raw or "").strip(), e164, PHONE) if e164 else parse(raw)


def stored(raw: str, e164: str | None) -> ParsedNumber:
    """A lookup index row as ParsedNumber: without a stored E.164 the text is an extension or unrecognised.

    The row was parsed in its owner's region when it was saved; that decision stands.
    """
    if e164:
        return ParsedNumber(raw, e164, PHONE)
    parsed = parse(raw)
    return parsed if parsed.kind != PHONE else ParsedNumber(raw, None, UNRECOGNISED)


@functools.lru_cache(maxsize=4096)
def _full_parse(candidate: str, region: str) -> str | None:
    """E.164 of a valid number, else None (kept: callers call again, and the full parse costs ~35 µs)."""
    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _plain_international(candidate: str):
    """E.164 or None for a number written as "+" and digits, as `phonenumbers.parse` would decide; else _UNDECIDED.

    Bulk imports deliver most numbers in E.164 already; the full parse costs ~35 µs
    each, this check ~3 µs, plus ~11 µs for the validity check both need
    (`phonenumbers.is_valid_number`). It replays what `phonenumbers.parse` does with such a
    string (country code = the shortest known prefix, the rest the national number)
    and leaves every case where parse would do more to the full parse: an unknown
    country code, a national number starting with 0 (Italian leading zeros) or
    shorter than 2 digits, and a national number that starts like the country's
    national prefix (which parse may strip, e.g. +4906131… → +496131…).
    The region plays no part for such numbers; like the full parse it accepts only
    numbers `phonenumbers` finds valid. tests/test_numbers_fast_path.py
    compares it with the full parse over a large random sample.
    """
    if _PLAIN_INTERNATIONAL.fullmatch(candidate) is None:
        return _UNDECIDED
    digits = candidate[1:]
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return _UNDECIDED
    national = digits[size:]
    if len(national) < 2 or national[0] == "0":
        return _UNDECIDED
    prefix = _national_prefixes.get(country_code, _UNDECIDED)
    if prefix is _UNDECIDED:
        prefix = _national_prefixes[country_code] = _national_prefix(country_code)
    if prefix is _UNDECIDED or (prefix is not None and prefix.match(national)):
        return _UNDECIDED
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return candidate if phonenumbers.is_valid_number(number) else None


def _national_prefix(country_code: int):
    """The compiled national prefix pattern of a country code, None without one, _UNDECIDED without metadata."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code))
    if metadata is None:
        return _UNDECIDED
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


def to_e164(text: str | None, region: str | None = None) -> str | None:
    """E.164 of a valid phone number, else None (extensions, SIP ids and unrecognised text have none)."""
    return parse(text, region).e164


def national_digits(e164: str) -> int:
    """Length of the national significant number of an E.164 string."""
    number = phonenumbers.parse(e164)
    return len(phonenumbers.national_significant_number(number))


def display(e164: str | None, raw: str = "", region: str | None = None) -> str:
    """Readable form: national notation for the office's own country, else international.

    Without E.164 the text says what it is: "intern 23", "anonym", else the text as typed.
    """
    if not e164:
        parsed = parse(raw, region)
        if parsed.kind == INTERNAL:
            return _("intern %(extension)s", extension=parsed.raw)
        if parsed.kind == ANONYMOUS_CALLER:
            return _("anonym")
        return raw
    return _formatted(e164, region or default_region())


@functools.lru_cache(maxsize=50_000)
def _formatted(e164: str, region: str) -> str:
    """E.164 in the notation of `display` (formatting costs ~0.5 ms; lists show the same numbers again)."""
    number = phonenumbers.parse(e164)
    own = phonenumbers.country_code_for_region(region)
    fmt = PhoneNumberFormat.NATIONAL if number.country_code == own else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def main_prefix(raw: str, e164: str | None) -> str | None:
    """The stem that extensions of a company main number start with.

    German offices write their switchboard as `06131 1234-0`: callers from an
    extension arrive as `+496131123456`, so the stem is the number without that `0`.
    """
    if not e164:
        return None
    stem = e164[:-1] if _DIRECT_DIAL_ZERO.search(raw) else e164
    return stem if national_digits(e164) - (len(e164) - len(stem)) >= MIN_PARTIAL_DIGITS else None


def index_numbers(owner: Address | ContactPerson | PhonebookEntry, numbers: list[tuple[str, str]],
                  region: str | None = None) -> None:
    """Replace the owner's rows in the lookup index by `numbers` = [(kind, raw), …].

    kind is phone, mobile or fax; empty raw values are skipped. Call before commit.
    """
    region = region or default_region()
    company = isinstance(owner, Address) and owner.is_company
    rows = []
    for kind, raw in numbers:
        parsed = parse(raw, region)
        if not parsed.raw:
            continue
        stem = main_prefix(parsed.raw, parsed.e164) if company and kind == "phone" else None
        rows.append(PhoneNumber(raw=parsed.raw[:64], e164=parsed.e164, kind=kind, main_prefix=stem))
    owner.numbers = rows


# --------------------------------------------------------------------------- caller lookup


@dataclass
class Match:
    """One candidate for a caller: an address, a contact person or a phonebook entry."""

    kind: str  # address | contact | phonebook
    name: str
    company: str
    url: str
    address_id: int | None = None
    contact_person_id: int | None = None
    phonebook_entry_id: int | None = None
    via_extension: bool = False

    def public(self) -> dict:
        """The fields the lookup API and the call journal keep."""
        return {"kind": self.kind, "name": self.name, "company": self.company, "url": self.url}

    def stored(self) -> dict:
        return {**self.public(), "address_id": self.address_id, "contact_person_id": self.contact_person_id,
                "phonebook_entry_id": self.phonebook_entry_id, "via_extension": self.via_extension}


def display_name(match: Match) -> str:
    """How a caller is named on a phone display: "Anna Schmidt (Müller GmbH)" or "Müller GmbH"."""
    if match.company and match.company != match.name:
        return f"{match.name} ({match.company})"
    return match.name


@dataclass
class LookupResult:
    number: str  # what was asked for
    e164: str | None
    matches: list[Match] = field(default_factory=list)


def _person_match(person_id: int, name: str, address_id: int, company: str, via_extension: bool) -> Match:
    return Match("contact", name, company,
                 url_for("addresses.detail", address_id=address_id, _anchor=f"contact-{person_id}"),
                 address_id=address_id, contact_person_id=person_id, via_extension=via_extension)


def _address_match(address_id: int, name: str, company: str, kind: str, via_extension: bool) -> Match:
    return Match("address", name, company if kind != AddressKind.COMPANY.value else "",
                 url_for("addresses.detail", address_id=address_id),
                 address_id=address_id, via_extension=via_extension)


def _entry_match(entry_id: int, name: str, company: str, via_extension: bool) -> Match:
    return Match("phonebook", name, company, url_for("phonebook.detail", entry_id=entry_id),
                 phonebook_entry_id=entry_id, via_extension=via_extension)


def owner_match(row, via_extension: bool = False) -> Match | None:
    """The Match of a row with the `owner_columns`."""
    if row.contact_person_id is not None:
        return _person_match(row.contact_person_id, row.person_name, row.person_address_id, row.person_company,
                             via_extension)
    if row.address_id is not None:
        return _address_match(row.address_id, row.address_name, row.address_company, row.address_kind,
                              via_extension)
    if row.phonebook_entry_id is not None:
        return _entry_match(row.phonebook_entry_id, row.entry_name, row.entry_company, via_extension)
    return None


@functools.cache
def _caller_rows():
    """Index rows with the number `e164` or a company main number among `stems`, with what a Match shows of
    their owner, oldest row first: one query on the number index for exact hits and extensions (a round
    trip less for every unknown caller).

    The owner's columns are looked up by primary key for each row found, so that the plan never depends
    on table statistics (PostgreSQL has none right after an import). Built once, the values bound at
    execution: building and keying a statement of this size costs more than running it.
    """
    extends_main_number = (PhoneNumber.main_prefix.in_(bindparam("stems", expanding=True))
                           & PhoneNumber.address_id.is_not(None))
    return (
        select(PhoneNumber.e164, *owner_columns())
        .where((PhoneNumber.e164 == bindparam("e164")) | extends_main_number)
        .order_by(PhoneNumber.id)
    )


def owner_columns() -> tuple:
    """The columns of an index row that `owner_match` reads: its owner keys and what a Match shows of
    the owner, each looked up by primary key for the row (a plan that never depends on statistics)."""
    person_company = (select(Address.name).join(ContactPerson, ContactPerson.address_id == Address.id)
                      .where(ContactPerson.id == PhoneNumber.contact_person_id).scalar_subquery())
    return (PhoneNumber.address_id, PhoneNumber.contact_person_id, PhoneNumber.phonebook_entry_id,
            _column_of(Address.name, PhoneNumber.address_id).label("address_name"),
            _column_of(Address.company, PhoneNumber.address_id).label("address_company"),
            _column_of(Address.kind, PhoneNumber.address_id).label("address_kind"),
            _column_of(ContactPerson.name, PhoneNumber.contact_person_id).label("person_name"),
            _column_of(ContactPerson.address_id, PhoneNumber.contact_person_id).label("person_address_id"),
            person_company.label("person_company"),
            _column_of(PhonebookEntry.display_name, PhoneNumber.phonebook_entry_id).label("entry_name"),
            _column_of(PhonebookEntry.company, PhoneNumber.phonebook_entry_id).label("entry_company"))


def _column_of(column, key):
    """`column` of the row whose primary key is `key` (a correlated look-up)."""
    return select(column).where(column.class_.id == key).scalar_subquery()


def unique_matches(matches: list[Match | None]) -> list[Match]:
    seen, result = set(), []
    for match in matches:
        if match is None:
            continue
        key = (match.kind, match.address_id, match.contact_person_id, match.phonebook_entry_id)
        if key not in seen:
            seen.add(key)
            result.append(match)
    return result


@functools.lru_cache(maxsize=4096)
def extension_stems(e164: str) -> tuple[str, ...]:
    """Prefixes of a caller number that a company main number may equal (1–4 digits shorter; kept per caller)."""
    stems = []
    for cut in range(1, MAX_EXTENSION_DIGITS + 1):
        stem = e164[:-cut]
        if len(stem) > 1 and national_digits_safe(stem) >= MIN_PARTIAL_DIGITS:
            stems.append(stem)
    return tuple(stems)


def national_digits_safe(e164: str) -> int:
    try:
        return national_digits(e164)
    except NumberParseException:
        return 0


def lookup_caller(number: str | None, region: str | None = None) -> LookupResult:
    """Find who is calling: exact E.164 hits, else companies whose main number the caller extends.

    Several hits are all returned (a number shared by two contacts is ambiguous,
    not "the first one"). Anonymous or unparseable numbers find nothing.
    """
    parsed = parse(number, region)
    result = LookupResult(number=(number or "").strip(), e164=parsed.e164)
    if parsed.e164 is None:
        return result
    # Through the session's connection: no ORM layer, and no flush (the webhook looks up while its Call is
    # half-built)
    rows = db.session.connection().execute(
        _caller_rows(), {"e164": parsed.e164, "stems": extension_stems(parsed.e164)}).all()
    exact = [row for row in rows if row.e164 == parsed.e164]  # exact hits win
    matches = [owner_match(row) for row in exact] if exact else [owner_match(row, True) for row in rows]
    result.matches = unique_matches(matches)
    return result


class CallerLookup:
    """`lookup_caller` of one caller's number, done when first asked for and then kept.

    The webhook hands one to Call Control and to the journal, so that an incoming
    call's caller is looked up once, and only if one of them needs it.
    """

    def __init__(self, number: str | None):
        self.number = number

    @functools.cached_property
    def result(self) -> LookupResult:
        return lookup_caller(self.number)
