"""CSV export and import of the address master.

File layout (export and import): one row per address; the contact persons of a
company follow their company as extra rows of type „Ansprechpartner“ (they use
the columns Anrede, Titel, Vorname, Nachname or Name, Funktion, E-Mail,
Telefon, Mobil, Fax). The export is UTF-8 with BOM and `;` as separator, so
German Excel opens it directly; `template_csv` is an empty file of that layout.

The import accepts UTF-8 (with or without BOM) and Excel's Windows-1252, with
`;`, `,` or tab as separator (taken from the header line), and German or
English column names (`COLUMNS`). An upload is first checked completely
(`read_import`) and stored under instance/ with a random token; nothing is
written until the user confirms, and then only if every row is valid or the
user chose to skip the faulty ones (`apply_import`, one transaction).

An import recognises the addresses it already has: by Kundennummer when the row
has one, otherwise by the same name plus a shared number or e-mail address;
contact persons of a recognised company by their name. Each row is new,
updated (only the file's columns are written) or unchanged, or faulty.
"""
from __future__ import annotations

import csv
import io
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from .. import numbers
from ..extensions import db
from ..models import Address, AddressKind, ContactPerson
from . import book

# field → (German export header, accepted header spellings, lower case)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kind": ("Typ", ("typ", "art", "type", "kind")),
    "customer_number": ("Kundennummer", ("kundennummer", "kundennr", "kundennr.", "kd-nr", "kd.-nr.", "kdnr",
                                         "customer number", "customer no", "customer id", "account number")),
    "name": ("Name", ("name", "firmenname", "company name", "full name")),
    "salutation": ("Anrede", ("anrede", "salutation")),
    "title": ("Titel", ("titel", "title", "akademischer titel")),
    "first_name": ("Vorname", ("vorname", "vornamen", "first name", "firstname", "given name")),
    "last_name": ("Nachname", ("nachname", "familienname", "last name", "lastname", "surname", "family name")),
    "company": ("Firma", ("firma", "unternehmen", "company", "organisation", "organization")),
    "role": ("Funktion", ("funktion", "position", "role", "job title")),
    "street": ("Straße", ("straße", "strasse", "str.", "street", "address")),
    "postcode": ("PLZ", ("plz", "postleitzahl", "postcode", "postal code", "zip", "zip code")),
    "city": ("Ort", ("ort", "stadt", "city", "town")),
    "country": ("Land", ("land", "country", "country code")),
    "email": ("E-Mail", ("e-mail", "email", "mail", "e-mail-adresse")),
    "phone": ("Telefon", ("telefon", "tel", "tel.", "telefonnummer", "phone", "telephone", "phone number")),
    "mobile": ("Mobil", ("mobil", "mobiltelefon", "handy", "mobile", "mobile phone", "cell")),
    "fax": ("Fax", ("fax", "telefax", "fax number")),
    "notes": ("Notizen", ("notizen", "notiz", "bemerkung", "bemerkungen", "notes", "note", "comment")),
}
EXPORT_FIELDS = ("kind", "customer_number", "name", "salutation", "title", "first_name", "last_name", "company",
                 "role", "street", "postcode", "city", "country", "email", "phone", "mobile", "fax", "notes")
# What a person's address is named after when the file has no Name for it.
_PERSON_NAME_PARTS = ("title", "first_name", "last_name")

COMPANY, PERSON, CONTACT = "company", "person", "contact"
KIND_WORDS = {
    COMPANY: ("firma", "company", "unternehmen", ""),
    PERSON: ("person", "privat", "privatperson", "private"),
    CONTACT: ("ansprechpartner", "kontakt", "contact", "contact person"),
}
KIND_LABELS = {COMPANY: "Firma", PERSON: "Person", CONTACT: "Ansprechpartner"}

UPLOAD_FOLDER = "address-imports"
UPLOAD_MAX_AGE = 24 * 3600  # seconds an unconfirmed upload is kept
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# Cells Excel would run as a formula; the export quotes them with a leading apostrophe.
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d\s(]))")


# What an import does with a row (ImportRow.status); faulty rows have errors instead.
NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, no name column); German message."""


class ImportFailed(Exception):
    """Writing the import failed; everything was rolled back (German message)."""


@dataclass
class ImportRow:
    """One data row of an import: where it is, what it would create, and what is wrong with it."""

    line: int
    kind: str
    data: dict
    errors: list[str] = field(default_factory=list)
    company_line: int | None = None  # contact rows: line of their company row
    numbers: list[book.ShownNumber] = field(default_factory=list)  # as they would be stored
    status: str = NEW  # new | updated | unchanged (for rows without errors)
    existing_id: int | None = None  # the address or contact person this row updates
    changes: list[str] = field(default_factory=list)  # column titles of the values that change
    compared: set[str] = field(default_factory=set)  # fields an update writes (the file's columns)

    def written(self) -> dict:
        """The values the import writes: all for a new row, the file's columns for an update."""
        if self.status == NEW:
            return self.data
        return {name: value for name, value in self.data.items() if name in self.compared}


@dataclass
class ImportPreview:
    """The checked file: every row, the separator and encoding found, columns that were ignored."""

    rows: list[ImportRow]
    encoding: str
    delimiter: str
    ignored_columns: list[str]

    @property
    def faulty(self) -> list[ImportRow]:
        return [row for row in self.rows if row.errors]

    @property
    def valid(self) -> list[ImportRow]:
        return [row for row in self.rows if not row.errors]

    def count(self, status: str) -> int:
        """Valid rows with this status (new, updated, unchanged)."""
        return sum(1 for row in self.valid if row.status == status)

    @property
    def address_count(self) -> int:
        return sum(1 for row in self.valid if row.kind != CONTACT and row.status == NEW)

    @property
    def contact_count(self) -> int:
        return sum(1 for row in self.valid if row.kind == CONTACT and row.status == NEW)

    @property
    def changes_nothing(self) -> bool:
        """Every valid row is there already, unchanged: importing would write nothing."""
        return bool(self.valid) and all(row.status == UNCHANGED for row in self.valid)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: rows created, updated, and left as they were."""

    created: int
    updated: int
    unchanged: int


# --------------------------------------------------------------------------- export


def _cell(value: str) -> str:
    return "'" + value if _FORMULA.match(value) else value


def _row(values: dict) -> list[str]:
    return [_cell(values.get(name, "") or "") for name in EXPORT_FIELDS]


def export_csv() -> bytes:
    """All addresses, each company followed by its contact persons, as Excel-ready CSV (UTF-8 BOM, `;`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([COLUMNS[name][0] for name in EXPORT_FIELDS])
    addresses = db.session.scalars(
        select(Address).options(selectinload(Address.contacts)).order_by(Address.name, Address.id)
    )
    for address in addresses:
        values = {name: getattr(address, name) for name in book.ADDRESS_FIELDS}
        values["kind"] = KIND_LABELS[COMPANY if address.is_company else PERSON]
        writer.writerow(_row(values))
        for contact in address.contacts:
            values = {name: getattr(contact, name) for name in (*book.CONTACT_FIELDS, "name")}
            values["kind"] = KIND_LABELS[CONTACT]
            writer.writerow(_row(values))
    return buffer.getvalue().encode("utf-8-sig")


TEMPLATE_EXAMPLE = {"kind": "Firma", "customer_number": "10001", "name": "Muster GmbH",
                    "street": "Musterstraße 1", "postcode": "55116", "city": "Mainz", "country": "DE",
                    "email": "info@muster-gmbh.de", "phone": "06131 1234-0", "fax": "06131 1234-99",
                    "notes": "Beispielzeile – bitte ersetzen"}


def template_csv() -> bytes:
    """An import template for Excel: the export's header row and one example line (UTF-8 BOM, `;`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([COLUMNS[name][0] for name in EXPORT_FIELDS])
    writer.writerow(_row(TEMPLATE_EXAMPLE))
    return buffer.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- reading


def decode(content: bytes) -> tuple[str, str]:
    """Text and encoding name of an uploaded file: UTF-8 (BOM optional), else Windows-1252."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace"), "UTF-8 (BOM)"
    try:
        return content.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace"), "Windows-1252"


def detect_delimiter(header_line: str) -> str:
    """The separator the header line uses most: `;`, `,` or tab (`;` wins a tie, as in German Excel)."""
    outside_quotes = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: outside_quotes.count(delimiter) for delimiter in (";", "\t", ",")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ";"


def _header_fields(header: list[str]) -> tuple[list[str | None], list[str]]:
    lookup = {alias: name for name, (_label, aliases) in COLUMNS.items() for alias in aliases}
    lookup.update({label.lower(): name for name, (label, _aliases) in COLUMNS.items()})
    fields, ignored = [], []
    for title in header:
        name = lookup.get(" ".join(title.strip().lower().split()))
        if name in fields:
            name = None  # a repeated column: the first one counts
        fields.append(name)
        if name is None and title.strip():
            ignored.append(title.strip())
    return fields, ignored


def _kind_of(text: str, data: dict) -> str | None:
    """The row's kind from its Typ cell; without one a row with a first name (or only a last name) is a person."""
    word = " ".join(text.strip().lower().split())
    if not word and (data.get("first_name") or (data.get("last_name") and not data.get("name"))):
        return PERSON
    return next((kind for kind, words in KIND_WORDS.items() if word in words), None)


def _person_address_name(data: dict) -> str:
    """A person's address name from Name and/or Titel/Vorname/Nachname ("Jürgen Weiß")."""
    name = data.get("name", "")
    first = data.get("first_name", "")
    if not name:
        return " ".join(data[part] for part in _PERSON_NAME_PARTS if data.get(part))
    if first and first.casefold() not in name.casefold():
        return f"{first} {name}"  # "Name" held the surname only
    return name


def _value(text: str) -> str:
    text = text.strip()
    # Undo the export's protection against Excel formulas.
    return text[1:] if text.startswith("'") and _FORMULA.match(text[1:]) else text


def _check(row: ImportRow) -> None:
    data = row.data
    if not data.get("name"):
        row.errors.append(_("Name fehlt."))
    for name, value in data.items():
        limit = book.MAX_LENGTHS.get(name)
        if limit and len(value) > limit:
            row.errors.append(_("%(column)s ist länger als %(max)d Zeichen.", column=COLUMNS[name][0], max=limit))
    if data.get("email") and not book.is_valid_email(data["email"]):
        row.errors.append(_("E-Mail-Adresse „%(email)s“ ist ungültig.", email=data["email"]))
    if data.get("country") and not book.is_valid_country(data["country"]):
        row.errors.append(_("Land „%(country)s“ ist kein zweistelliger Ländercode (z. B. DE, AT, CH).",
                            country=data["country"]))


def read_import(content: bytes) -> ImportPreview:
    """Check an uploaded file row by row without writing anything.

    Raises ImportFileError when the file as a whole is unusable. Line numbers
    count physical lines of the file (the header is line 1).
    """
    text, encoding = decode(content)
    if not text.strip():
        raise ImportFileError(_("Die Datei ist leer."))
    header_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = detect_delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise ImportFileError(_("Die Datei enthält keine Kopfzeile.")) from None
    except csv.Error as exc:
        raise ImportFileError(_("Die Kopfzeile ist kein gültiges CSV: %(reason)s", reason=exc)) from None
    fields, ignored = _header_fields(header)
    if "name" not in fields and "last_name" not in fields:
        raise ImportFileError(_("Die Kopfzeile enthält keine Spalte „Name“ oder „Nachname“. Gefunden: %(columns)s",
                                columns=", ".join(cell.strip() for cell in header if cell.strip()) or "–"))

    default_country = numbers.default_region()
    rows: list[ImportRow] = []
    company: ImportRow | None = None
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(ImportRow(start, COMPANY, {}, [_("Zeile ist kein gültiges CSV: %(reason)s", reason=exc)]))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        data = {name: _value(cell) for name, cell in zip(fields, cells) if name}
        for name in fields:  # a short row: its missing cells are empty
            if name and name not in data:
                data[name] = ""
        kind_text = data.pop("kind", "")
        kind = _kind_of(kind_text, data)
        row = ImportRow(start, kind or COMPANY, data)
        if kind is None:
            row.errors.append(_("Typ „%(kind)s“ ist unbekannt (erlaubt: Firma, Person, Ansprechpartner).",
                                kind=kind_text))
        if len(cells) > len(fields) and any(cell.strip() for cell in cells[len(fields):]):
            row.errors.append(_("Die Zeile hat mehr Spalten als die Kopfzeile (Trennzeichen im Text?)."))
        if row.kind == CONTACT:
            data.pop("company", None)
            data.pop("customer_number", None)
            parts = book.contact_name(data)
            data.update(salutation=parts.salutation, title=parts.title, first_name=parts.first_name,
                        last_name=parts.last_name, name=parts.full)
            if company is None:
                row.errors.append(_("Ansprechpartner ohne vorangehende Firma-Zeile."))
            else:
                row.company_line = company.line
                if company.errors:
                    row.errors.append(_("Die Firma in Zeile %(line)d ist fehlerhaft.", line=company.line))
        else:
            if row.kind == PERSON:
                data["name"] = _person_address_name(data)
            elif not data.get("name"):
                data["name"] = " ".join(data[part] for part in _PERSON_NAME_PARTS if data.get(part))
            for name in ("role", "salutation", "title", "first_name", "last_name"):
                data.pop(name, None)
            data["kind"] = row.kind
            data["country"] = (data.get("country") or default_country).upper()
            company = row if row.kind == COMPANY else None
        _check(row)
        region = book.number_region((company or row).data.get("country"), default_country)
        row.numbers = [book.ShownNumber(kind, data[kind], numbers.to_e164(data[kind], region))
                       for kind in book.PHONE_KINDS if data.get(kind)]
        rows.append(row)
    _recognise(rows, set(filter(None, fields)))
    return ImportPreview(rows, encoding, delimiter, ignored)


# --------------------------------------------------------------------------- recognising what exists

# Fields an import row compares and writes, per kind.
_ADDRESS_IMPORT_FIELDS = book.ADDRESS_FIELDS
_CONTACT_IMPORT_FIELDS = (*book.CONTACT_FIELDS, "name")
_CHUNK = 500


def _fold(text: str) -> str:
    return " ".join((text or "").casefold().split())


def _chunks(values: list[str]):
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _existing_addresses(rows: list[ImportRow]) -> tuple[dict[str, list[Address]], dict[str, list[Address]]]:
    """The stored addresses that rows may mean: by Kundennummer and by name (folded)."""
    customer_numbers = sorted({row.data["customer_number"] for row in rows if row.data.get("customer_number")})
    names = sorted({row.data["name"] for row in rows if row.data.get("name")})
    options = (selectinload(Address.numbers), selectinload(Address.contacts))
    by_number: dict[str, list[Address]] = {}
    by_name: dict[str, list[Address]] = {}
    for chunk in _chunks(customer_numbers):
        for address in db.session.scalars(select(Address).where(Address.customer_number.in_(chunk))
                                          .options(*options).order_by(Address.id)):
            by_number.setdefault(address.customer_number, []).append(address)
    for chunk in _chunks(names):
        for address in db.session.scalars(select(Address).where(Address.name.in_(chunk))
                                          .options(*options).order_by(Address.id)):
            by_name.setdefault(_fold(address.name), []).append(address)
    return by_number, by_name


def _shares_number_or_email(row: ImportRow, address: Address) -> bool:
    stored = {number.e164 or _fold(number.raw) for number in address.numbers}
    if any((number.e164 or _fold(number.raw)) in stored for number in row.numbers):
        return True
    email = _fold(row.data.get("email", ""))
    return bool(email) and email == _fold(address.email)


def _changes(target, values: dict, names, present: set[str]) -> list[str]:
    """Column titles of the file's values that differ from what `target` holds."""
    changed = []
    for name in names:
        if name not in present or name not in values:
            continue
        if (values[name] or "") != (getattr(target, name) or ""):
            changed.append(_(COLUMNS[name][0]) if name in COLUMNS else _("Name"))
    return changed


def _set_status(row: ImportRow, target, names, present: set[str]) -> None:
    row.existing_id = target.id
    row.compared = {name for name in names if name in present}
    row.changes = _changes(target, row.data, names, present)
    row.status = UPDATED if row.changes else UNCHANGED


def _recognise(rows: list[ImportRow], columns: set[str]) -> None:
    """Mark each valid row new, updated or unchanged against the stored addresses and contact persons.

    A row matching several stored addresses, or an address another row of the file
    already matched, is faulty: the import would not know which one it means.
    """
    by_number, by_name = _existing_addresses([row for row in rows if row.kind != CONTACT and not row.errors])
    # Compared and written: the file's columns; the name always (it may come from Vorname/Nachname).
    address_columns = {name for name in columns if name in _ADDRESS_IMPORT_FIELDS} | {"name"}
    contact_columns = {name for name in columns if name in _CONTACT_IMPORT_FIELDS} | {"first_name", "last_name",
                                                                                       "name"}
    matched: dict[int, int] = {}  # address id → line of the row that matched it
    address_of_line: dict[int, Address | None] = {}
    for row in rows:
        if row.kind == CONTACT:
            company = address_of_line.get(row.company_line)
            if row.errors or company is None:
                continue
            name = _fold(row.data["name"])
            contact = next((person for person in company.contacts if _fold(person.name) == name), None)
            if contact is not None:
                _set_status(row, contact, _CONTACT_IMPORT_FIELDS, contact_columns)
            continue
        if row.errors:
            continue
        customer_number = row.data.get("customer_number", "")
        if customer_number:
            candidates = by_number.get(customer_number, [])
        else:
            candidates = [address for address in by_name.get(_fold(row.data["name"]), [])
                          if _shares_number_or_email(row, address)]
        if len(candidates) > 1:
            row.errors.append(_("Passt zu mehreren vorhandenen Adressen (%(names)s); bitte mit Kundennummer "
                                "eindeutig machen.", names=", ".join(f"{a.name} #{a.id}" for a in candidates)))
            continue
        if not candidates:
            address_of_line[row.line] = None
            continue
        address = candidates[0]
        if address.id in matched:
            row.errors.append(_("Dieselbe Adresse wie Zeile %(line)d.", line=matched[address.id]))
            continue
        matched[address.id] = row.line
        address_of_line[row.line] = address
        _set_status(row, address, _ADDRESS_IMPORT_FIELDS, address_columns)
    by_line = {row.line: row for row in rows}
    for row in rows:  # contacts of a company that became faulty above
        if row.kind == CONTACT and not row.errors and row.company_line is not None:
            if by_line[row.company_line].errors:
                row.errors.append(_("Die Firma in Zeile %(line)d ist fehlerhaft.", line=row.company_line))


# --------------------------------------------------------------------------- writing


def apply_import(preview: ImportPreview, skip_faulty: bool = False, update_existing: bool = True) -> ImportResult:
    """Create new and update recognised addresses and contact persons of a checked file, in one transaction.

    Refuses (ValueError) when there are faulty rows and skip_faulty is not set.
    Contact rows of a skipped company are skipped with it; with update_existing
    off, recognised rows are left as they are. Raises ImportFailed (after a
    rollback, so nothing is written) when the database refuses the changes.
    """
    if preview.faulty and not skip_faulty:
        raise ValueError("the import has faulty rows")
    region = numbers.default_region()
    by_line: dict[int, Address] = {}
    created = updated = unchanged = 0
    try:
        for row in preview.valid:
            if row.kind == CONTACT:
                address = by_line.get(row.company_line)
                if address is None:
                    continue
                target = db.session.get(ContactPerson, row.existing_id) if row.existing_id else None
            else:
                target = db.session.get(Address, row.existing_id) if row.existing_id else None
                if target is not None:
                    by_line[row.line] = target
            if row.status == UNCHANGED or (row.status == UPDATED and not update_existing):
                unchanged += 1
                continue
            if row.kind == CONTACT:
                if target is None:
                    target = ContactPerson(address=address)
                    db.session.add(target)
                book.apply_contact(target, row.written(), region)
            else:
                if target is None:
                    target = Address()
                    db.session.add(target)
                    by_line[row.line] = target
                book.apply_address(target, row.written(), region)
                if row.status == UPDATED:
                    for contact in target.contacts:  # the country may have changed
                        book.index_contact(contact, region)
            created += row.status == NEW
            updated += row.status == UPDATED
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.warning("address import failed: %s", exc)
        raise ImportFailed(_("Der Import ist fehlgeschlagen; es wurde nichts geändert. Bitte versuchen Sie es "
                             "erneut.")) from None
    return ImportResult(created, updated, unchanged)


# --------------------------------------------------------------------------- upload storage


def _folder() -> Path:
    """Where uploads wait for confirmation: ADDRESS_IMPORT_FOLDER, else instance/address-imports."""
    folder = Path(current_app.config.get("ADDRESS_IMPORT_FOLDER") or Path(current_app.instance_path) / UPLOAD_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(user_id: int, token: str) -> Path | None:
    if not _TOKEN.match(token or ""):
        return None
    return _folder() / f"{int(user_id)}-{token}.csv"


def store_upload(user_id: int, content: bytes) -> str:
    """Keep an upload until it is confirmed; returns the random token that names it.

    The file stays on the server (not in the session, not resent by the browser)
    and belongs to the uploading user. Uploads older than a day are removed.
    """
    folder = _folder()
    now = time.time()
    for old in folder.glob("*.csv"):
        if now - old.stat().st_mtime > UPLOAD_MAX_AGE:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    path = _path(user_id, token)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return token


def load_upload(user_id: int, token: str) -> bytes | None:
    """The stored upload of this user, or None when it is unknown or expired."""
    path = _path(user_id, token)
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def discard_upload(user_id: int, token: str) -> None:
    """Remove a stored upload (after import or cancel)."""
    path = _path(user_id, token)
    if path is not None:
        path.unlink(missing_ok=True)
