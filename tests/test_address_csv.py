"""CSV import (preview, all-or-nothing, skipping faulty rows, encodings) and export of addresses."""
import io
import os
import re
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from telephone.addresses import csv_io
from telephone.extensions import db
from telephone.models import Address, ContactPerson, PhoneNumber

GOOD = (
    "Typ;Name;Firma;Funktion;Straße;PLZ;Ort;Land;E-Mail;Telefon;Mobil;Fax;Notizen\r\n"
    "Firma;Müller GmbH;;;Hauptstraße 1;55116;Mainz;DE;info@mueller.de;06131 1234-0;;06131 1234-99;Stammkunde\r\n"
    "Ansprechpartner;Anna Schmidt;;Einkauf;;;;;anna@mueller.de;06131 1234-17;0171 2345678;;\r\n"
    "Person;Erika Weber;Weber & Söhne;;;;Berlin;;;030 9876543;;;\r\n"
)
FAULTY = (
    "Name;Ort;E-Mail;Telefon\n"
    "Alpha GmbH;Mainz;;06131 111111\n"
    ";Bonn;;\n"
    "Gamma KG;Köln;gamma(at)example;0221 333333\n"
    "Delta AG;Trier;;kein Anschluss\n"
)


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    """Keep uploads of the tests out of the real instance folder."""
    app.config["ADDRESS_IMPORT_FOLDER"] = str(tmp_path / "imports")
    return tmp_path / "imports"


def upload(client, content: bytes, filename: str = "adressen.csv"):
    return client.post("/addresses/import", data={"file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def token_of(html: str) -> str:
    match = re.search(r'action="/addresses/import/([A-Za-z0-9_-]+)"', html)
    assert match, "preview carries no confirm form"
    return match.group(1)


def result_per_line(html: str) -> list[tuple[int, str]]:
    """(line, what the preview says it does with the line: "neu", "unverändert", "fehlerhaft Grund" …)."""
    rows = re.findall(r'<tr id="import-line-(\d+)".*?<td class="import-result">(.*?)</td>', html, re.S)
    return [(int(line), " ".join(re.sub(r"<[^>]+>", " ", cell).split())) for line, cell in rows]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_import_page_documents_columns(client, auth):
    auth.login("anna")
    page = client.get("/addresses/import").text
    for text in ("Telefon", "phone", "Straße", "street", "Ansprechpartner", "Windows-1252", "Semikolon"):
        assert text in page


def test_import_preview_then_confirm_creates_addresses_contacts_and_index(client, auth, app):
    auth.login("anna")
    preview = upload(client, GOOD.encode("utf-8"))
    assert preview.status_code == 200
    assert "Es werden 2 Adressen und 1 Ansprechpartner angelegt." in preview.text
    assert "Müller GmbH" in preview.text and "Anna Schmidt" in preview.text
    assert count(app, Address) == 0  # the preview writes nothing

    assert "Neu: 3 · Aktualisiert: 0 · Unverändert: 0 · Fehlerhaft: 0" in preview.text
    response = client.post(f"/addresses/import/{token_of(preview.text)}", data={})
    assert response.status_code == 302
    assert ("Import abgeschlossen: 3 neu angelegt, 0 aktualisiert, 0 unverändert."
            in client.get(response.headers["Location"]).text)
    with app.app_context():
        mueller = db.session.scalar(select(Address).filter_by(name="Müller GmbH"))
        assert (mueller.kind, mueller.street, mueller.city, mueller.notes) == (
            "company", "Hauptstraße 1", "Mainz", "Stammkunde")
        contact, = mueller.contacts
        assert (contact.name, contact.role, contact.email) == ("Anna Schmidt", "Einkauf", "anna@mueller.de")
        assert {row.e164 for row in contact.numbers} == {"+496131123417", "+491712345678"}
        weber = db.session.scalar(select(Address).filter_by(name="Erika Weber"))
        assert (weber.kind, weber.company, weber.country) == ("person", "Weber & Söhne", "DE")
        assert db.session.scalar(select(PhoneNumber.e164).filter_by(address_id=weber.id)) == "+49309876543"


def test_preview_lists_faulty_rows_with_line_numbers_and_writes_nothing(client, auth, app):
    auth.login("anna")
    preview = upload(client, FAULTY.encode("utf-8"))
    assert preview.status_code == 200
    assert "Fehlerhaft: 2" in preview.text
    results = dict(result_per_line(preview.text))
    assert results[2] == "neu" and results[5] == "neu"
    assert results[3] == "fehlerhaft Name fehlt."
    assert results[4] == "fehlerhaft E-Mail-Adresse „gamma(at)example“ ist ungültig."

    # all or nothing: without the option the import is refused and nothing is written
    token = token_of(preview.text)
    refused = client.post(f"/addresses/import/{token}", data={})
    assert refused.status_code == 422
    assert "fehlerhafte Zeilen" in refused.text
    assert count(app, Address) == 0

    response = client.post(f"/addresses/import/{token}", data={"skip_faulty": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert set(db.session.scalars(select(Address.name))) == {"Alpha GmbH", "Delta AG"}
        # an unparseable number is imported as typed, not recognised
        delta = db.session.scalar(select(Address).filter_by(name="Delta AG"))
        assert [(row.raw, row.e164) for row in delta.numbers] == [("kein Anschluss", None)]
    # the upload is gone after the import: a second confirm does not import again
    again = client.post(f"/addresses/import/{token}", data={"skip_faulty": "y"})
    assert again.status_code == 302 and again.headers["Location"] == "/addresses/import"
    assert count(app, Address) == 2


def test_contacts_of_a_faulty_company_are_skipped_with_it(client, auth, app):
    auth.login("anna")
    content = ("Typ;Name;E-Mail\nFirma;Kaputt GmbH;falsch\nAnsprechpartner;Hans;\n"
               "Ansprechpartner;Waise;\nFirma;Gut GmbH;\nAnsprechpartner;Grete;\n").encode()
    preview = upload(client, content)
    assert "Die Firma in Zeile 2 ist fehlerhaft." in preview.text
    client.post(f"/addresses/import/{token_of(preview.text)}", data={"skip_faulty": "y"})
    with app.app_context():
        assert list(db.session.scalars(select(Address.name))) == ["Gut GmbH"]
        assert list(db.session.scalars(select(ContactPerson.name))) == ["Grete"]


def test_contact_row_without_company_is_faulty(app):
    with app.test_request_context():
        preview = csv_io.read_import("Typ;Name\nAnsprechpartner;Hans\nPerson;Eva\nKontakt;Otto\n".encode())
        assert [(row.line, row.errors) for row in preview.faulty] == [
            (2, ["Ansprechpartner ohne vorangehende Firma-Zeile."]),
            (4, ["Ansprechpartner ohne vorangehende Firma-Zeile."]),
        ]


def test_cp1252_semicolon_file_with_umlauts(client, auth, app):
    auth.login("anna")
    content = "Name;Straße;Ort;Telefon\r\nBäckerei Größe;Königsallee 5;Düsseldorf;0211 445566\r\n".encode("cp1252")
    preview = upload(client, content)
    assert "Windows-1252" in preview.text
    client.post(f"/addresses/import/{token_of(preview.text)}")
    with app.app_context():
        address = db.session.scalar(select(Address))
        assert (address.name, address.street, address.city) == ("Bäckerei Größe", "Königsallee 5", "Düsseldorf")


def test_utf8_bom_comma_file_with_english_headers(app):
    content = "\ufeffName,Company,City,Phone,Mobile,Email,Unknown\n\"Smith, John\",ACME,London,+44 20 7946 0958,,j@acme.co.uk,x\n"
    with app.test_request_context():
        preview = csv_io.read_import(content.encode("utf-8"))
        assert (preview.encoding, preview.delimiter, preview.ignored_columns) == ("UTF-8 (BOM)", ",", ["Unknown"])
        row, = preview.rows
        assert row.errors == []
        assert row.data["name"] == "Smith, John" and row.data["company"] == "ACME"
        assert row.data["email"] == "j@acme.co.uk"
        assert [number.e164 for number in row.numbers] == ["+442079460958"]


def test_tab_separated_file(app):
    with app.test_request_context():
        preview = csv_io.read_import("Name\tOrt\nEins\tMainz\n".encode())
        assert preview.delimiter == "\t"
        assert preview.rows[0].data == {"name": "Eins", "city": "Mainz", "kind": "company", "country": "DE"}


def test_line_numbers_count_physical_lines(app):
    content = 'Name;Notizen\nA;"zwei\nZeilen"\n\n;fehlt\n'.encode()
    with app.test_request_context():
        preview = csv_io.read_import(content)
        assert [(row.line, row.errors) for row in preview.faulty] == [(5, ["Name fehlt."])]


def test_file_without_name_column_is_refused(client, auth, app):
    auth.login("anna")
    response = upload(client, b"Vorname;Ort\nHans;Mainz\n")
    assert response.status_code == 422
    assert "keine Spalte „Name“" in response.text
    assert count(app, Address) == 0
    assert upload(client, b"").status_code == 422


def test_upload_is_kept_on_the_server_and_bound_to_the_user(client, auth, app, upload_folder):
    auth.login("anna")
    token = token_of(upload(client, GOOD.encode()).text)
    stored = list(upload_folder.glob(f"*-{token}.csv"))
    assert len(stored) == 1 and stored[0].read_bytes() == GOOD.encode()
    auth.logout()
    auth.login("otto")
    response = client.post(f"/addresses/import/{token}")
    assert response.headers["Location"] == "/addresses/import"
    assert count(app, Address) == 0
    assert stored[0].exists()


def test_unconfirmed_uploads_are_removed_after_a_day(client, auth, upload_folder):
    auth.login("anna")
    first = token_of(upload(client, GOOD.encode()).text)
    stale, = upload_folder.glob(f"*-{first}.csv")
    day_ago = time.time() - csv_io.UPLOAD_MAX_AGE - 60
    os.utime(stale, (day_ago, day_ago))
    second = token_of(upload(client, GOOD.encode()).text)
    assert not stale.exists()
    assert len(list(upload_folder.glob(f"*-{second}.csv"))) == 1


def test_malformed_token_is_not_a_path(client, auth, app):
    auth.login("anna")
    response = client.post("/addresses/import/..%2F..%2Fsecret_key")
    assert response.status_code in (302, 404)
    assert count(app, Address) == 0


def test_export_is_named_after_the_office_day(client, auth, app, monkeypatch):
    """Not the server's (UTC) date: an export made after midnight in the office is today's."""
    utc_day = datetime.now(timezone.utc).date()
    zone = next(name for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago")  # UTC+14, UTC−11: one differs
                if datetime.now(ZoneInfo(name)).date() != utc_day)
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_TIMEZONE", zone)
    auth.login("anna")
    office_day = datetime.now(ZoneInfo(zone)).date().isoformat()
    disposition = client.get("/addresses/export.csv").headers["Content-Disposition"]
    assert disposition == f'attachment; filename="adressen-{office_day}.csv"'


def test_export_is_excel_ready_and_round_trips(client, auth, app):
    auth.login("anna")
    client.post(f"/addresses/import/{token_of(upload(client, GOOD.encode()).text)}")
    client.post("/addresses/new", data={"kind": "company", "name": "=HYPERLINK(\"x\")", "country": "AT",
                                        "phone": "01 5551234", "notes": "Zeile 1\nZeile 2; mit Semikolon"})
    response = client.get("/addresses/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    content = response.data
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert text.splitlines()[0] == ("Typ;Kundennummer;Name;Anrede;Titel;Vorname;Nachname;Firma;Funktion;Straße;PLZ;"
                                    "Ort;Land;E-Mail;Telefon;Mobil;Fax;Notizen")
    assert "'=HYPERLINK" in text  # Excel must not run it as a formula
    assert "Ansprechpartner;;Anna Schmidt;;;Anna;Schmidt;;Einkauf" in text

    def snapshot():
        with app.app_context():
            rows = []
            for address in db.session.scalars(select(Address).order_by(Address.name)):
                rows.append(tuple(getattr(address, name) for name in (
                    "kind", "name", "company", "street", "postcode", "city", "country", "email", "notes",
                    "phone", "mobile", "fax")))
                rows.extend(tuple(getattr(c, n) for n in ("name", "salutation", "title", "first_name", "last_name",
                                                          "role", "email", "phone", "mobile", "fax"))
                            for c in address.contacts)
            numbers = sorted((row.raw, row.e164 or "") for row in db.session.scalars(select(PhoneNumber)))
            return rows, numbers

    before = snapshot()
    with app.app_context():
        for address in db.session.scalars(select(Address)):
            db.session.delete(address)
        db.session.commit()
    preview = upload(client, content)
    assert "Es werden 3 Adressen und 1 Ansprechpartner angelegt." in preview.text
    client.post(f"/addresses/import/{token_of(preview.text)}")
    assert snapshot() == before


# --------------------------------------------------------------------------- re-import and names

PERSONS = (
    "Kundennummer;Name;Anrede;Titel;Vorname;Nachname;Typ;Funktion;Ort;Telefon;E-Mail\r\n"
    ";;;;Jürgen;Weiß;Person;;Mainz;06131 223344;\r\n"
    "K-100;Kaiser KG;;;;;Firma;;Köln;0221 123456;\r\n"
    ";;Frau;Dr.;Anna;Schmidt;Ansprechpartner;Einkauf;;0221 123456-17;anna@example.de\r\n"
)


def imported(client, content: bytes, **options):
    """Upload and confirm; returns the preview's text."""
    preview = upload(client, content)
    assert preview.status_code == 200, preview.text
    client.post(f"/addresses/import/{token_of(preview.text)}", data={"update_existing": "y", **options})
    return preview.text


def test_first_names_are_kept_and_person_rows_without_type_are_persons(client, auth, app):
    auth.login("anna")
    imported(client, "Vorname;Nachname;Ort;Telefon\nJürgen;Weiß;Mainz;06131 223344\n".encode())
    imported(client, "Name;Vorname\nMeier;Eva\n".encode())  # "Name" holding the surname only
    with app.app_context():
        assert {(a.kind, a.name) for a in db.session.scalars(select(Address))} == {
            ("person", "Jürgen Weiß"), ("person", "Eva Meier")}


def test_company_row_is_named_by_its_customer_number_file_and_contact_gets_name_parts(client, auth, app):
    auth.login("anna")
    content = ("Kundennummer;Name;Anrede;Titel;Vorname;Nachname;Typ;Funktion;Telefon\r\n"
               "K-100;Müller GmbH;;;;;Firma;;0221 123456\r\n"
               ";;Frau;Dr.;Anna;Schmidt;Ansprechpartner;Einkauf;0221 123456-17\r\n"
               ";Herr Prof. Hans von Berg;;;;;Ansprechpartner;;\r\n")
    imported(client, content.encode())
    with app.app_context():
        company = db.session.scalar(select(Address))
        assert (company.customer_number, company.name) == ("K-100", "Müller GmbH")
        assert [(c.salutation, c.title, c.first_name, c.last_name, c.name) for c in company.contacts] == [
            ("Frau", "Dr.", "Anna", "Schmidt", "Dr. Anna Schmidt"),
            ("Herr", "Prof.", "Hans", "von Berg", "Prof. Hans von Berg"),
        ]


def test_reimport_of_the_same_file_is_unchanged_and_creates_nothing(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    before = (count(app, Address), count(app, ContactPerson), count(app, PhoneNumber))
    preview = upload(client, GOOD.encode())
    assert result_per_line(preview.text) == [(2, "unverändert"), (3, "unverändert"), (4, "unverändert")]
    assert "Neu: 0 · Aktualisiert: 0 · Unverändert: 3 · Fehlerhaft: 0" in preview.text
    assert "der Import würde nichts ändern" in preview.text
    assert re.search(r'<button type="submit"\s+disabled', preview.text)
    client.post(f"/addresses/import/{token_of(preview.text)}", data={"update_existing": "y"})
    assert (count(app, Address), count(app, ContactPerson), count(app, PhoneNumber)) == before


def test_reimport_of_the_export_is_unchanged(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    imported(client, PERSONS.encode())
    export = client.get("/addresses/export.csv").data
    preview = upload(client, export)
    results = result_per_line(preview.text)
    assert len(results) == 6 and {result for _line, result in results} == {"unverändert"}


def test_changed_file_updates_recognised_rows_and_says_what_changes(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    changed = (GOOD.replace("Hauptstraße 1;55116;Mainz", "Rheinallee 9;55118;Mainz")
               .replace("Einkauf;;;;;anna@mueller.de", "Leitung;;;;;anna@mueller.de")
               + "Firma;Neu AG;;;;;;;;0228 555555;;;\r\n")
    preview = upload(client, changed.encode())
    assert result_per_line(preview.text) == [(2, "aktualisiert Straße, PLZ"), (3, "aktualisiert Funktion"),
                                             (4, "unverändert"), (5, "neu")]
    assert "Neu: 1 · Aktualisiert: 2 · Unverändert: 1 · Fehlerhaft: 0" in preview.text
    response = client.post(f"/addresses/import/{token_of(preview.text)}", data={"update_existing": "y"})
    assert ("Import abgeschlossen: 1 neu angelegt, 2 aktualisiert, 1 unverändert."
            in client.get(response.headers["Location"]).text)
    with app.app_context():
        assert count(app, Address) == 3
        mueller = db.session.scalar(select(Address).filter_by(name="Müller GmbH"))
        assert (mueller.street, mueller.postcode, mueller.notes) == ("Rheinallee 9", "55118", "Stammkunde")
        assert [c.role for c in mueller.contacts] == ["Leitung"]


def test_updates_can_be_declined(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    imported(client, GOOD.replace("Mainz", "Bingen").encode(), update_existing="")
    with app.app_context():
        assert db.session.scalar(select(Address.city).filter_by(name="Müller GmbH")) == "Mainz"


def test_missing_columns_keep_stored_values(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    preview = upload(client, "Name;Telefon;Ort\nMüller GmbH;06131 1234-0;Wiesbaden\n".encode())
    assert result_per_line(preview.text) == [(2, "aktualisiert Ort")]
    client.post(f"/addresses/import/{token_of(preview.text)}", data={"update_existing": "y"})
    with app.app_context():
        mueller = db.session.scalar(select(Address).filter_by(name="Müller GmbH"))
        assert (mueller.city, mueller.street, mueller.fax, mueller.country) == (
            "Wiesbaden", "Hauptstraße 1", "06131 1234-99", "DE")


def test_customer_number_recognises_a_renamed_address(client, auth, app):
    auth.login("anna")
    imported(client, "Kundennummer;Name;Ort\nK-7;Alt GmbH;Mainz\n".encode())
    preview = upload(client, "Kundennummer;Name;Ort\nK-7;Neu GmbH;Mainz\n".encode())
    assert result_per_line(preview.text) == [(2, "aktualisiert Name")]
    client.post(f"/addresses/import/{token_of(preview.text)}", data={"update_existing": "y"})
    with app.app_context():
        assert list(db.session.scalars(select(Address.name))) == ["Neu GmbH"]


def test_same_name_without_shared_number_or_email_is_a_new_address(client, auth, app):
    auth.login("anna")
    imported(client, GOOD.encode())
    preview = upload(client, "Name;Telefon\nMüller GmbH;0221 999999\n".encode())
    assert result_per_line(preview.text) == [(2, "neu")]


def test_row_matching_two_stored_addresses_is_faulty(client, auth, app):
    from telephone.addresses import book

    auth.login("anna")
    with app.test_request_context():
        for _ in range(2):  # two copies, as the old import made them
            book.save_address(None, {"kind": "company", "name": "Müller GmbH", "phone": "06131 1234-0"})
    preview = upload(client, "Name;Telefon\nMüller GmbH;06131 1234-0\n".encode())
    (line, result), = result_per_line(preview.text)
    assert result.startswith("fehlerhaft Passt zu mehreren vorhandenen Adressen")


def test_failed_import_changes_nothing(client, auth, app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from telephone.addresses import book

    auth.login("anna")
    original = book.apply_contact

    def failing(contact, data, region=None):
        original(contact, data, region)
        db.session.flush()
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(book, "apply_contact", failing)
    preview = upload(client, GOOD.encode())
    response = client.post(f"/addresses/import/{token_of(preview.text)}", data={})
    assert response.status_code == 422
    assert "Der Import ist fehlgeschlagen; es wurde nichts geändert." in response.text
    assert (count(app, Address), count(app, ContactPerson), count(app, PhoneNumber)) == (0, 0, 0)


def test_template_is_the_export_layout_with_one_example_line(client, auth, app):
    auth.login("anna")
    response = client.get("/addresses/import/vorlage.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="adressen-vorlage.csv"' in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    lines = response.data.decode("utf-8-sig").splitlines()
    assert len(lines) == 2
    assert lines[0] == client.get("/addresses/export.csv").data.decode("utf-8-sig").splitlines()[0]
    assert lines[1].startswith("Firma;10001;Muster GmbH;")
    assert 'href="/addresses/import/vorlage.csv"' in client.get("/addresses/import").text
    preview = upload(client, response.data)
    assert result_per_line(preview.text) == [(2, "neu")]
