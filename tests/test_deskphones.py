"""The company phonebook on desk phones: each vendor's format, the token, the caller-name lookup."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from telephone import device_access, site_settings
from telephone.extensions import db
from telephone.models import Address
from telephone.numbers import index_numbers
from telephone.phonebook.entries import ManualEntryData, save_manual

from .conftest import make_user

COMPANY = "Müller & Söhne GmbH"


@pytest.fixture
def phonebook(app):
    """Three entries: a person with three numbers and umlauts, a foreign number, a company only."""
    with app.app_context():
        save_manual(None, ManualEntryData(
            honorific_prefix="Dr.", given_name="Jürgen", family_name="Weiß", company=COMPANY,
            job_title="Einkauf", emails=["j.weiss@mueller.example"],
            phones=[("WORK", "0221 1234567"), ("MOBILE", "0171 2345678"), ("WORK_FAX", "0221 1234568")]))
        save_manual(None, ManualEntryData(given_name="Ayşe", family_name="Öztürk",
                                          phones=[("WORK", "+43 1 2345678")]))
        save_manual(None, ManualEntryData(display_name="Bäckerei <Zentrale>", company="Bäckerei <Zentrale>",
                                          phones=[("WORK", "06131 9876543")]))
        db.session.commit()
        token = device_access.current_token()
    return token


def fetch(client, token, file_name, **params):
    return client.get(f"/directory/{file_name}", query_string={"token": token, **params})


def xml_of(response):
    assert response.status_code == 200, response.text
    assert response.content_type == "application/xml; charset=utf-8"
    assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.data)


def test_numbers_without_e164_are_dialled_as_typed_and_other_countries_with_the_prefix(app, client, phonebook):
    """The database writes the dialled notation (DialPlan.dialled); a number it cannot parse keeps its
    digits, and another home country gets its own prefixes."""
    with app.app_context():
        save_manual(None, ManualEntryData(display_name="Pforte", phones=[("WORK", "Durchwahl 12")]))
        db.session.commit()
    entries = {entry.findtext("Name"): [tel.text for tel in entry.findall("Telephone")]
               for entry in xml_of(fetch(client, phonebook, "yealink.xml")).findall("DirectoryEntry")}
    assert entries["Pforte"] == ["12"] and entries["Öztürk, Ayşe"] == ["004312345678"]
    with app.app_context():
        site_settings.set_value("numbers.default_region", "AT")
        db.session.commit()
    entries = {entry.findtext("Name"): [tel.text for tel in entry.findall("Telephone")]
               for entry in xml_of(fetch(client, phonebook, "yealink.xml")).findall("DirectoryEntry")}
    assert entries["Öztürk, Ayşe"] == ["012345678"]  # Vienna, dialled from Austria
    assert entries["Bäckerei <Zentrale>"] == ["00496131 9876543".replace(" ", "")]


def test_yealink_directory_lists_names_and_numbers_as_the_phone_dials_them(client, phonebook):
    root = xml_of(fetch(client, phonebook, "yealink.xml"))
    assert root.tag == "YealinkIPPhoneDirectory"
    entries = [(entry.findtext("Name"), [(tel.get("label"), tel.text) for tel in entry.findall("Telephone")])
               for entry in root.findall("DirectoryEntry")]
    # German phonebook order (Ä with A, Ö with O), "Nachname, Vorname (Firma)", no fax, national notation at home
    assert entries == [
        ("Bäckerei <Zentrale>", [("Büro", "061319876543")]),
        ("Öztürk, Ayşe", [("Büro", "004312345678")]),
        ("Weiß, Jürgen (Müller & Söhne GmbH)", [("Büro", "02211234567"), ("Mobil", "01712345678")]),
    ]


def test_yealink_type_ahead_search_folds_umlauts_and_finds_digits(client, phonebook):
    names = lambda response: [e.findtext("Name") for e in xml_of(response).findall("DirectoryEntry")]  # noqa: E731
    assert names(fetch(client, phonebook, "yealink.xml", q="weiss")) == ["Weiß, Jürgen (Müller & Söhne GmbH)"]
    assert names(fetch(client, phonebook, "yealink.xml", q="oztu")) == ["Öztürk, Ayşe"]
    assert names(fetch(client, phonebook, "yealink.xml", q="Oeztuerk")) == ["Öztürk, Ayşe"]  # as everywhere
    assert names(fetch(client, phonebook, "yealink.xml", q="0171 234")) == ["Weiß, Jürgen (Müller & Söhne GmbH)"]
    assert names(fetch(client, phonebook, "yealink.xml", q="niemand")) == []


def test_snom_directory_has_one_entry_per_number(client, phonebook):
    root = xml_of(fetch(client, phonebook, "snom.xml"))
    assert root.tag == "SnomIPPhoneDirectory"
    assert root.findtext("Title") == "Firmentelefonbuch"
    entries = [(entry.findtext("Name"), entry.findtext("Telephone")) for entry in root.findall("DirectoryEntry")]
    assert entries == [
        ("Bäckerei <Zentrale>", "061319876543"),
        ("Öztürk, Ayşe", "004312345678"),
        ("Weiß, Jürgen (Müller & Söhne GmbH) – Büro", "02211234567"),
        ("Weiß, Jürgen (Müller & Söhne GmbH) – Mobil", "01712345678"),
    ]


def test_grandstream_phonebook_has_typed_phones(client, phonebook):
    root = xml_of(fetch(client, phonebook, "grandstream.xml"))
    assert root.tag == "AddressBook"
    contacts = root.findall("Contact")
    assert len(contacts) == 3
    weiss = contacts[2]
    assert (weiss.findtext("LastName"), weiss.findtext("FirstName"), weiss.findtext("Company")) == (
        "Weiß", "Jürgen", COMPANY)
    phones = [(phone.get("type"), phone.findtext("phonenumber"), phone.findtext("accountindex"))
              for phone in weiss.findall("Phone")]
    assert phones == [("Work", "02211234567", "1"), ("Cell", "01712345678", "1")]
    bakery = contacts[0]
    assert bakery.findtext("LastName") == "Bäckerei <Zentrale>"


def test_fritzbox_phonebook_keeps_every_number_with_its_type(client, phonebook):
    root = xml_of(fetch(client, phonebook, "fritzbox.xml"))
    assert root.tag == "phonebooks"
    book = root.find("phonebook")
    assert book.get("name") == "Firmentelefonbuch"
    weiss = book.findall("contact")[2]
    assert weiss.findtext("category") == "0"
    assert weiss.findtext("person/realName") == "Weiß, Jürgen (Müller & Söhne GmbH)"
    numbers = [(n.get("type"), n.get("prio"), n.get("id"), n.text) for n in weiss.findall("telephony/number")]
    assert numbers == [("work", "1", "0", "02211234567"), ("mobile", "0", "1", "01712345678"),
                       ("fax_work", "0", "2", "02211234568")]
    assert weiss.find("telephony").get("nid") == "3"
    assert weiss.findtext("services/email") == "j.weiss@mueller.example"
    assert [contact.findtext("uniqueid") for contact in book.findall("contact")] == ["1", "2", "3"]


def unfolded_vcard_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def test_vcard_export_is_vcard_3_with_escaped_values(client, app, phonebook):
    with app.app_context():
        save_manual(None, ManualEntryData(given_name="Lena", family_name="Groß", company="Schmidt, Meier; Partner",
                                          phones=[("MOBILE", "0160 1111111")]))
        db.session.commit()
    response = fetch(client, phonebook, "phonebook.vcf")
    assert response.status_code == 200
    assert response.content_type == "text/vcard; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = unfolded_vcard_lines(response.data)
    assert lines.count("BEGIN:VCARD") == 4 and lines.count("END:VCARD") == 4
    assert lines.count("VERSION:3.0") == 4
    card = lines[lines.index("FN:Dr. Jürgen Weiß") - 3: lines.index("FN:Dr. Jürgen Weiß") + 9]
    assert "N:Weiß;Jürgen;;Dr.;" in card
    assert "ORG:Müller & Söhne GmbH" in card
    assert "TITLE:Einkauf" in card
    assert "TEL;TYPE=WORK,VOICE:+492211234567" in card
    assert "TEL;TYPE=CELL,VOICE:+491712345678" in card
    assert "TEL;TYPE=WORK,FAX:+492211234568" in card
    assert "EMAIL;TYPE=INTERNET,WORK:j.weiss@mueller.example" in card
    assert "ORG:Schmidt\\, Meier\\; Partner" in lines


def test_long_vcard_lines_are_folded_at_75_octets_between_characters(client, app, phonebook):
    with app.app_context():
        save_manual(None, ManualEntryData(given_name="Ümit", family_name="Ä" * 60, company="Ö" * 50,
                                          phones=[("WORK", "0221 7654321")]))
        db.session.commit()
    data = fetch(client, phonebook, "phonebook.vcf").data
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert "ORG:" + "Ö" * 50 in unfolded_vcard_lines(data)


def test_wrong_or_missing_token_is_404_and_logged(client, phonebook, caplog):
    caplog.set_level(logging.WARNING, logger="telephone.device_access")
    for file_name in ("yealink.xml", "snom.xml", "grandstream.xml", "fritzbox.xml", "phonebook.vcf"):
        assert fetch(client, "falsch", file_name).status_code == 404
        assert client.get(f"/directory/{file_name}").status_code == 404
        assert fetch(client, phonebook, file_name).status_code == 200
    assert fetch(client, phonebook, "other.xml").status_code == 404
    assert "wrong or missing directory token from 127.0.0.1" in caplog.text
    assert phonebook not in caplog.text


def test_directories_are_closed_until_a_token_exists(client):
    assert client.get("/directory/yealink.xml", query_string={"token": ""}).status_code == 404
    assert client.get("/api/v1/cid", query_string={"token": "", "number": "0221"}).status_code == 404


def test_scope_all_adds_addresses_and_contact_persons(client, app, phonebook):
    with app.app_context():
        address = Address(kind="company", name="Kunde AG", city="Köln")
        db.session.add(address)
        db.session.flush()
        index_numbers(address, [("phone", "0221 5550000")])
        db.session.commit()
    names = lambda: [e.findtext("Name") for e in xml_of(fetch(client, phonebook, "yealink.xml")).findall("DirectoryEntry")]  # noqa: E731
    assert "Kunde AG" not in names()
    with app.app_context():
        site_settings.set_value("phones.directory_scope", "all")
        db.session.commit()
    assert "Kunde AG" in names()


def test_scope_all_lists_everyone_in_the_order_of_the_apps_own_lists(client, app, phonebook):
    """Persons by surname (a person address "Dr. Thomas Groß" under G), companies by name, Ä with A."""
    with app.app_context():
        person = Address(kind="person", name="Dr. Thomas Groß", city="Köln")
        company = Address(kind="company", name="Ärztehaus Nord", city="Köln")
        electrician = Address(kind="company", name="Elektro Fischer GmbH", city="Köln")
        db.session.add_all([person, company, electrician])
        db.session.flush()
        index_numbers(person, [("phone", "0221 5550001")])
        index_numbers(company, [("phone", "0221 5550002")])
        index_numbers(electrician, [("phone", "0221 5550003")])
        site_settings.set_value("phones.directory_scope", "all")
        db.session.commit()
    names = [e.findtext("Name") for e in xml_of(fetch(client, phonebook, "yealink.xml")).findall("DirectoryEntry")]
    assert names == ["Ärztehaus Nord", "Bäckerei <Zentrale>", "Elektro Fischer GmbH", "Dr. Thomas Groß",
                     "Öztürk, Ayşe", "Weiß, Jürgen (Müller & Söhne GmbH)"]


def test_caller_name_lookup_answers_plain_text(client, phonebook):
    def cid(number, token=phonebook):
        return client.get("/api/v1/cid", query_string={"number": number, "token": token})

    known = cid("+4917123 45678")
    assert known.status_code == 200
    assert known.content_type == "text/plain; charset=utf-8"
    assert known.text == "Jürgen Weiß (Müller & Söhne GmbH)"
    assert cid("0221 1234567").text == "Jürgen Weiß (Müller & Söhne GmbH)"
    unknown = cid("030 999999")
    assert (unknown.status_code, unknown.text) == (200, "")
    assert cid("anonymous").text == ""
    assert cid("").text == ""
    assert cid("0221 1234567", token="falsch").status_code == 404


def test_directory_token_cli_creates_once_and_keeps_it(runner, app):
    first = runner.invoke(args=["phonebook", "directory-token"])
    assert first.exit_code == 0
    token = first.output.strip().splitlines()[-1]
    assert len(token) >= 24
    assert runner.invoke(args=["phonebook", "directory-token"]).output.strip().splitlines()[-1] == token
    with app.app_context():
        assert site_settings.get("phones.directory_token") == token


def test_devices_page_shows_urls_last_access_and_renews_the_token(client, auth, app, phonebook):
    make_user(app, "ben")
    auth.login("ben")
    assert client.get("/settings/devices").status_code == 403
    auth.logout()
    auth.login("admin", admin=True)
    page = client.get("/settings/devices").text
    assert "<h1>Telefone & Geräte</h1>" in page
    assert f"/directory/yealink.xml?token={phonebook}" in page
    assert "noch nie abgerufen" in page
    fetch(client, phonebook, "snom.xml")
    page = client.get("/settings/devices").text
    assert page.count("noch nie abgerufen") == 4
    assert "zuletzt abgerufen" in page and "127.0.0.1" in page

    response = client.post("/settings/devices/token", follow_redirects=True)
    assert "Neuer Token erzeugt" in response.text
    with app.app_context():
        renewed = site_settings.get("phones.directory_token")
    assert renewed != phonebook
    assert fetch(client, phonebook, "yealink.xml").status_code == 404
    assert fetch(client, renewed, "yealink.xml").status_code == 200


@pytest.fixture(autouse=True)
def _fresh_access_throttle():
    from telephone import deskphones

    device_access._last_recorded.clear()
    deskphones._rendered.clear()
    yield
    device_access._last_recorded.clear()
    deskphones._rendered.clear()


def test_directory_is_rendered_again_only_when_the_phonebook_changes(client, app, phonebook, monkeypatch):
    from telephone import deskphones
    from telephone.models import PhonebookEntry

    loads = []
    original = deskphones.directory_contacts
    monkeypatch.setattr(deskphones, "directory_contacts", lambda *a, **k: loads.append(1) or original(*a, **k))
    deskphones._rendered.clear()
    first = fetch(client, phonebook, "yealink.xml").data
    assert fetch(client, phonebook, "yealink.xml").data == first
    assert len(loads) == 1
    with app.app_context():
        entry = db.session.scalar(db.select(PhonebookEntry).filter_by(family_name="Öztürk"))
        save_manual(entry, ManualEntryData(given_name="Ayşe", family_name="Öztürk-Yılmaz",
                                           phones=[("WORK", "+43 1 2345678")]))
        db.session.commit()
    changed = fetch(client, phonebook, "yealink.xml").data
    assert "Öztürk-Yılmaz, Ayşe".encode() in changed and len(loads) == 2
    fetch(client, phonebook, "yealink.xml", q="weiss")  # type-ahead answers are not kept
    fetch(client, phonebook, "yealink.xml", q="weiss")
    assert len(loads) == 4


def test_kept_directory_follows_deleted_and_replaced_entries(client, app, phonebook):
    """A deleted entry leaves the kept directory at once, also when a new one takes its place and number."""
    from telephone.models import PhonebookEntry
    from telephone.phonebook.entries import delete_manual

    names = lambda: [e.findtext("Name") for e in xml_of(fetch(client, phonebook, "yealink.xml")).findall("DirectoryEntry")]  # noqa: E731
    assert "Öztürk, Ayşe" in names()
    with app.app_context():
        delete_manual(db.session.scalar(db.select(PhonebookEntry).filter_by(family_name="Öztürk")))
        db.session.commit()
    assert "Öztürk, Ayşe" not in names()
    with app.app_context():
        delete_manual(db.session.scalar(db.select(PhonebookEntry).filter_by(family_name="Weiß")))
        save_manual(None, ManualEntryData(given_name="Jana", family_name="Neu", phones=[
            ("WORK", "0221 1234567"), ("MOBILE", "0171 2345678"), ("WORK_FAX", "0221 1234568")]))
        db.session.commit()
    assert names() == ["Bäckerei <Zentrale>", "Neu, Jana"]


def test_markup_and_control_characters_in_names_give_well_formed_xml(client, app, phonebook):
    with app.app_context():
        save_manual(None, ManualEntryData(display_name='Evil "<x>" & \x01Co', company='A&B "Quote"',
                                          phones=[("WORK", "0221 3333333")]))
        db.session.commit()
    for file_name in ("yealink.xml", "snom.xml", "grandstream.xml", "fritzbox.xml"):
        root = xml_of(fetch(client, phonebook, file_name))
        assert 'Evil "<x>" & Co' in ET.tostring(root, encoding="unicode").replace("&lt;", "<").replace(
            "&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')


def test_grandstream_server_path_carries_the_token(client, auth, phonebook):
    """Grandstream phones fetch `<server path>/phonebook.xml`: a path with the token in it must serve."""
    root = xml_of(client.get(f"/directory/grandstream/{phonebook}/phonebook.xml"))
    assert root.tag == "AddressBook" and len(root.findall("Contact")) == 3
    assert client.get("/directory/grandstream/falsch/phonebook.xml").status_code == 404
    auth.login("admin", admin=True)
    assert f"localhost/directory/grandstream/{phonebook}" in client.get("/settings/devices").text
