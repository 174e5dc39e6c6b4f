"""CSV import (preview, all-or-nothing, skipping faulty rows, encodings) and export of addresses."""
import io
import os
import re
import time

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
    rows = re.findall(r'<tr id="import-line-(\d+)"[^>]*>\s*<td>\d+</td>\s*<td>(.*?)</td>', html, re.S)
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
