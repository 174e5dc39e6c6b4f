"""CSV file source: the CentrexX "Schnittstelle Firmentelefonbuch" file format.

The file comes from a URL (HTTP basic auth) or is uploaded in the browser. The
header line names the columns and their order and fixes the delimiter; `phone`
and `email` may repeat and carry a type prefix (`WORK:+496131123456`).
"""
from __future__ import annotations

import csv
import re
from typing import Iterable, Iterator

import requests
from flask_babel import lazy_gettext as _l

from ... import messages
from ..base import Problem, Record, Source, SourceError, SourceField, register
from .http import BodyTooLarge, read_body

SYSTEM = messages.gettext("CSV-Datei")

REQUIRED_COLUMNS = ("internal_id", "display_name", "family_name", "given_name")
SINGLE_COLUMNS = REQUIRED_COLUMNS + ("honorific_prefix", "gender")
REPEATABLE_COLUMNS = ("phone", "email")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": messages.gettext("Komma"), ";": messages.gettext("Semikolon"),
                   "\t": messages.gettext("Tabulator"), "|": messages.gettext("senkrechter Strich")}

# Errors about single rows are listed up to this count; a wrong file would list thousands.
MAX_ROW_ERRORS = 200

# One line with its ending, split as io.StringIO(newline="") splits: at \r\n, \r or \n
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, else Windows-1252 as Excel writes it in Germany."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def detect_delimiter(header_line: str) -> str:
    """The delimiter of the header line among , ; tab | (a one-column file falls back to a comma)."""
    outside, quoted = [], False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    text = "".join(outside)
    counts = {delimiter: text.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _split_typed(value: str) -> tuple[str, str]:
    """`WORK:+4961311234` → ("WORK", "+4961311234"); without a colon the type is empty."""
    kind, sep, rest = value.partition(":")
    if not sep:
        return "", value.strip()
    return kind.strip().upper(), rest.strip()


def parse_csv(text: str, problems: list[Problem]) -> Iterator[Record]:
    """Yield one Record per data row; header problems raise SourceError, row problems go to `problems`."""
    if text.strip() == "":
        raise SourceError(messages.gettext("Die CSV-Datei ist leer – es fehlt die Kopfzeile."))
    header_line = text.split("\n", 1)[0]
    delimiter = detect_delimiter(header_line)
    # Lines are cut from the text one by one: io.StringIO would hold a copy four times the text's size.
    lines = (match.group() for match in _LINE.finditer(text))
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    header = [name.strip().lower() for name in next(reader)]
    columns = _check_header(header, delimiter, problems)
    width = len(header)
    row_errors = 0
    previous_end = reader.line_num
    for row in reader:
        line = previous_end + 1
        previous_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            row_errors += 1
            if row_errors <= MAX_ROW_ERRORS:
                problems.append(Problem(messages.gettext(
                    "Die Zeile hat %(fields)s Felder, die Kopfzeile nur %(width)s – "
                    "Trennzeichen (%(delimiter)s) oder Anführungszeichen prüfen.",
                    fields=len(row), width=width, delimiter=DELIMITER_NAMES[delimiter]), line))
            continue
        yield _record(row, columns, line)
    if row_errors > MAX_ROW_ERRORS:
        problems.append(Problem(messages.ngettext("… und %(num)d weitere Zeile mit zu vielen Feldern.",
                                                  "… und %(num)d weitere Zeilen mit zu vielen Feldern.",
                                                  row_errors - MAX_ROW_ERRORS)))


def _check_header(header: list[str], delimiter: str, problems: list[Problem]) -> dict[str, list[int]]:
    """Map each known column to its positions; missing required or doubled columns raise SourceError."""
    columns: dict[str, list[int]] = {}
    for position, name in enumerate(header):
        columns.setdefault(name, []).append(position)
    errors = []
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        errors.append(Problem(messages.gettext(
            "In der Kopfzeile fehlen die Pflichtspalten %(columns)s (erkanntes Trennzeichen: %(delimiter)s).",
            columns=", ".join(f"„{name}“" for name in missing), delimiter=DELIMITER_NAMES[delimiter]), 1))
    for name in SINGLE_COLUMNS:
        if len(columns.get(name, [])) > 1:
            errors.append(Problem(messages.gettext("Die Spalte „%(name)s“ steht mehrfach in der Kopfzeile.",
                                                   name=name), 1))
    if errors:
        raise SourceError(errors[0].text, errors)
    for name in columns:
        if name not in SINGLE_COLUMNS and name not in REPEATABLE_COLUMNS:
            label = name or messages.gettext("(ohne Namen)")
            problems.append(Problem(messages.gettext("Unbekannte Spalte „%(name)s“ wird ignoriert.", name=label),
                                    1, "info"))
    return columns


def _record(row: list[str], columns: dict[str, list[int]], line: int) -> Record:
    def cell(position: int) -> str:
        return row[position].strip() if position < len(row) else ""

    def single(name: str) -> str:
        positions = columns.get(name)
        return cell(positions[0]) if positions else ""

    def typed(name: str) -> list[tuple[str, str]]:
        values = (cell(position) for position in columns.get(name, ()))
        return [_split_typed(value) for value in values if value]

    return Record(
        internal_id=single("internal_id"),
        display_name=single("display_name"),
        family_name=single("family_name"),
        given_name=single("given_name"),
        honorific_prefix=single("honorific_prefix"),
        gender=single("gender").lower(),
        phones=typed("phone"),
        emails=typed("email"),
        line=line,
    )


@register
class CsvSource(Source):
    """A CSV file at a URL (HTTP basic auth) or uploaded in the browser."""

    type = "csv"
    label = _l("CSV-Datei")
    description = _l("Eine CSV-Datei nach der Spezifikation des Firmentelefonbuchs (Kopfzeile mit internal_id, "
                     "display_name, family_name, given_name …). Sie wird von der URL abgerufen oder hier hochgeladen.")
    fields = (
        SourceField("url", _l("URL der CSV-Datei"), kind="url", column="url", required=False,
                    help=_l("z. B. https://intranet.example.de/telefonbuch.csv – leer lassen, "
                            "wenn Sie die Datei nur hochladen.")),
        SourceField("login", _l("Login"), column="login", required=False,
                    help=_l("Benutzername für HTTP-Basic-Authentifizierung, falls der Server eine verlangt.")),
        SourceField("password", _l("Passwort"), kind="password", column="password", required=False),
    )
    accepts_upload = True
    max_bytes = 20 * 1024 * 1024

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._upload: bytes | None = None
        self._problems: list[Problem] = []

    def use_upload(self, data: bytes) -> None:
        if len(data) > self.max_bytes:
            raise SourceError(self._too_big())
        self._upload = data

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def fetch(self) -> Iterable[Record]:
        data = self._upload if self._upload is not None else self.download()
        self._problems = []
        return parse_csv(decode(data), self._problems)

    def test_connection(self) -> str:
        count = sum(1 for _ in self.fetch())
        errors = [problem for problem in self._problems if problem.level == "error"]
        text = messages.ngettext("Verbindung erfolgreich: %(num)d Datensatz gelesen.",
                                 "Verbindung erfolgreich: %(num)d Datensätze gelesen.", count)
        if errors:
            return messages.ngettext("%(text)s Achtung: %(num)d fehlerhafte Zeile.",
                                     "%(text)s Achtung: %(num)d fehlerhafte Zeilen.", len(errors), text=text)
        return text

    def _too_big(self) -> str:
        return messages.gettext("Die CSV-Datei ist größer als %(size)s MB und wird nicht gelesen.",
                                size=self.max_bytes // (1024 * 1024))

    def download(self) -> bytes:
        """GET the file with basic auth; every failure becomes a SourceError with a German reason."""
        if not self.url:
            raise SourceError(messages.gettext(
                "Für diese Schnittstelle ist keine URL eingetragen. "
                "Tragen Sie eine URL ein oder laden Sie die Datei auf der Seite der Schnittstelle hoch."))
        auth = (self.login, self.password) if self.login or self.password else None
        try:
            with requests.get(self.url, auth=auth, stream=True, timeout=(10, self.timeout)) as response:
                self._check_status(response)
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise SourceError(self._too_big())
                return read_body(response, system=SYSTEM, deadline=self.deadline, max_bytes=self.max_bytes,
                                 require_final_newline=True)
        except BodyTooLarge:
            raise SourceError(self._too_big()) from None
        except requests.Timeout:
            raise SourceError(messages.gettext("Zeitüberschreitung: %(url)s hat nicht rechtzeitig geantwortet. "
                                               "Bitte später erneut versuchen oder die URL prüfen.",
                                               url=self.url)) from None
        except requests.ConnectionError:
            raise SourceError(messages.gettext("Keine Verbindung zu %(url)s: Bitte URL und Netzwerk prüfen.",
                                               url=self.url)) from None
        except requests.RequestException as exc:
            raise SourceError(messages.gettext("Die CSV-Datei konnte nicht abgerufen werden (%(error)s): "
                                               "Bitte die URL prüfen.", error=exc.__class__.__name__)) from None

    def _check_status(self, response: requests.Response) -> None:
        if response.status_code in (401, 403):
            raise SourceError(messages.gettext("Anmeldung abgelehnt (HTTP %(status)s): "
                                               "Bitte Login und Passwort der Schnittstelle prüfen.",
                                               status=response.status_code))
        if response.status_code == 404:
            raise SourceError(messages.gettext("Datei nicht gefunden (HTTP 404): Bitte die URL %(url)s prüfen.",
                                               url=self.url))
        if response.status_code >= 400:
            raise SourceError(messages.gettext("Der Server antwortete mit HTTP %(status)s: "
                                               "Die CSV-Datei konnte nicht abgerufen werden.",
                                               status=response.status_code))
