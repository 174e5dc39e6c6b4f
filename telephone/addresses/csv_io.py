"""CSV export and import of the address master.

File layout (export and import): one row per address; the contact persons of a
company follow their company as extra rows of type „Ansprechpartner“ (they use
the columns Name, Funktion, E-Mail, Telefon, Mobil, Fax). The export is UTF-8
with BOM and `;` as separator, so German Excel opens it directly.

The import accepts UTF-8 (with or without BOM) and Excel's Windows-1252, with
`;`, `,` or tab as separator (taken from the header line), and German or
English column names (`COLUMNS`). An upload is first checked completely
(`read_import`) and stored under instance/ with a random token; nothing is
written until the user confirms, and then only if every row is valid or the
user chose to skip the faulty ones (`apply_import`, one transaction).
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
from sqlalchemy.orm import selectinload

from .. import numbers
from ..extensions import db
from ..models import Address, AddressKind, ContactPerson
from . import book

# field → (German export header, accepted header spellings, lower case)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kind": ("Typ", ("typ", "art", "type", "kind")),
    "name": ("Name", ("name", "firmenname", "nachname", "company name")),
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
EXPORT_FIELDS = ("kind", "name", "company", "role", "street", "postcode", "city", "country", "email",
                 "phone", "mobile", "fax", "notes")

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


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, no name column); German message."""


@dataclass
class ImportRow:
    """One data row of an import: where it is, what it would create, and what is wrong with it."""

    line: int
    kind: str
    data: dict
    errors: list[str] = field(default_factory=list)
    company_line: int | None = None  # contact rows: line of their company row
    numbers: list[book.ShownNumber] = field(default_factory=list)  # as they would be stored


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

    @property
    def address_count(self) -> int:
        return sum(1 for row in self.valid if row.kind != CONTACT)

    @property
    def contact_count(self) -> int:
        return sum(1 for row in self.valid if row.kind == CONTACT)


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
            values = {name: getattr(contact, name) for name in book.CONTACT_FIELDS}
            values["kind"] = KIND_LABELS[CONTACT]
            writer.writerow(_row(values))
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


def _kind_of(text: str) -> str | None:
    word = " ".join(text.strip().lower().split())
    return next((kind for kind, words in KIND_WORDS.items() if word in words), None)


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
    if "name" not in fields:
        raise ImportFileError(_("Die Kopfzeile enthält keine Spalte „Name“. Gefunden: %(columns)s",
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
        kind_text = data.pop("kind", "")
        kind = _kind_of(kind_text)
        row = ImportRow(start, kind or COMPANY, data)
        if kind is None:
            row.errors.append(_("Typ „%(kind)s“ ist unbekannt (erlaubt: Firma, Person, Ansprechpartner).",
                                kind=kind_text))
        if len(cells) > len(fields) and any(cell.strip() for cell in cells[len(fields):]):
            row.errors.append(_("Die Zeile hat mehr Spalten als die Kopfzeile (Trennzeichen im Text?)."))
        if row.kind == CONTACT:
            data.pop("company", None)
            if company is None:
                row.errors.append(_("Ansprechpartner ohne vorangehende Firma-Zeile."))
            else:
                row.company_line = company.line
                if company.errors:
                    row.errors.append(_("Die Firma in Zeile %(line)d ist fehlerhaft.", line=company.line))
        else:
            data.pop("role", None)
            data["kind"] = row.kind
            data["country"] = (data.get("country") or default_country).upper()
            company = row if row.kind == COMPANY else None
        _check(row)
        region = book.number_region((company or row).data.get("country"), default_country)
        row.numbers = [book.ShownNumber(kind, data[kind], numbers.to_e164(data[kind], region))
                       for kind in book.PHONE_KINDS if data.get(kind)]
        rows.append(row)
    return ImportPreview(rows, encoding, delimiter, ignored)


def apply_import(preview: ImportPreview, skip_faulty: bool = False) -> tuple[int, int]:
    """Create the addresses and contact persons of a checked file in one transaction.

    Refuses (ValueError) when there are faulty rows and skip_faulty is not set.
    Contact rows of a skipped company are skipped with it. Returns (addresses, contacts).
    """
    if preview.faulty and not skip_faulty:
        raise ValueError("the import has faulty rows")
    region = numbers.default_region()
    by_line: dict[int, Address] = {}
    created_addresses = created_contacts = 0
    for row in preview.valid:
        if row.kind == CONTACT:
            address = by_line.get(row.company_line)
            if address is None:
                continue
            contact = ContactPerson(address=address)
            db.session.add(contact)
            book.apply_contact(contact, row.data, region)
            created_contacts += 1
        else:
            address = Address()
            book.apply_address(address, row.data, region)
            db.session.add(address)
            by_line[row.line] = address
            created_addresses += 1
    db.session.commit()
    return created_addresses, created_contacts


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
