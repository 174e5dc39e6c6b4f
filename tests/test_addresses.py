"""Address master: list, search, detail, create/edit/delete of addresses and contact persons."""
import re

import pytest
from sqlalchemy import event, select

from telephone.extensions import db
from telephone.models import Address, Call, ContactPerson, PhoneNumber
from telephone.numbers import lookup_caller

from .conftest import PASSWORD, csrf_token_from, make_user, pager_link

ADDRESS = {
    "kind": "company", "name": "Müller GmbH", "company": "", "street": "Hauptstraße 1", "postcode": "55116",
    "city": "Mainz", "country": "DE", "email": "info@mueller.de", "notes": "Zahlt pünktlich.",
    "phone": "06131 1234-0", "mobile": "", "fax": "06131 1234-99",
}


def create_address(app, **fields) -> int:
    """Create an address through the service (numbers indexed as the app does)."""
    from telephone.addresses import book

    data = {**ADDRESS, **fields}
    with app.test_request_context():
        return book.save_address(None, data).id


def add_contact(app, address_id: int, **fields) -> int:
    from telephone.addresses import book

    data = {"name": "Anna Schmidt", "role": "Einkauf", "email": "", "phone": "", "mobile": "", "fax": "", **fields}
    with app.test_request_context():
        return book.save_contact(db.session.get(Address, address_id), None, data).id


def index_rows(app, **owner) -> set[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(PhoneNumber).filter_by(**owner)).all()
        return {(row.kind, row.raw, row.e164) for row in rows}


def listed_names(html: str) -> list[str]:
    return re.findall(r'<a href="/addresses/\d+">([^<]+)</a>', html)


# --------------------------------------------------------------------------- access


ROUTES = [
    ("GET", "/addresses/"), ("GET", "/addresses/new"), ("POST", "/addresses/new"),
    ("GET", "/addresses/1"), ("GET", "/addresses/1/edit"), ("POST", "/addresses/1/edit"),
    ("POST", "/addresses/1/delete"), ("GET", "/addresses/1/contacts/new"), ("POST", "/addresses/1/contacts/new"),
    ("GET", "/addresses/1/contacts/1/edit"), ("POST", "/addresses/1/contacts/1/edit"),
    ("POST", "/addresses/1/contacts/1/delete"), ("GET", "/addresses/export.csv"),
    ("GET", "/addresses/import"), ("POST", "/addresses/import"), ("POST", "/addresses/import/" + "a" * 32),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_address_route_needs_login(client, app, method, path):
    address_id = create_address(app)
    add_contact(app, address_id)
    response = client.open(path, method=method)
    assert response.status_code in (302, 401)
    if method == "GET":
        assert response.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(select(Address.name)) == "Müller GmbH"
        assert db.session.scalar(select(ContactPerson.name)) == "Anna Schmidt"


def login_with_csrf(client, app) -> None:
    make_user(app, "anna")
    token = csrf_token_from(client.get("/login").text)
    response = client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


@pytest.mark.csrf
@pytest.mark.parametrize("path", ["/addresses/new", "/addresses/1/edit", "/addresses/1/delete",
                                  "/addresses/1/contacts/new", "/addresses/1/contacts/1/edit",
                                  "/addresses/1/contacts/1/delete", "/addresses/import",
                                  "/addresses/import/" + "a" * 32])
def test_posts_without_csrf_token_are_rejected(client, app, path):
    address_id = create_address(app)
    add_contact(app, address_id)
    login_with_csrf(client, app)
    response = client.post(path, data={**ADDRESS, "name": "Geändert"})
    assert response.status_code == 400
    assert "Formular ist abgelaufen" in response.text
    with app.app_context():
        assert db.session.scalar(select(Address.name)) == "Müller GmbH"
        assert db.session.scalar(select(ContactPerson.name)) == "Anna Schmidt"


@pytest.mark.csrf
def test_post_with_csrf_token_creates_address(client, app):
    login_with_csrf(client, app)
    token = csrf_token_from(client.get("/addresses/new").text)
    response = client.post("/addresses/new", data={**ADDRESS, "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Address.name)) == "Müller GmbH"


# --------------------------------------------------------------------------- create, edit, delete


def test_create_address_indexes_numbers_and_shows_them(client, auth, app):
    auth.login("anna")
    response = client.post("/addresses/new", data=ADDRESS)
    assert response.status_code == 302
    with app.app_context():
        address = db.session.scalar(select(Address))
        assert (address.name, address.city, address.email) == ("Müller GmbH", "Mainz", "info@mueller.de")
        address_id = address.id
    assert response.headers["Location"] == f"/addresses/{address_id}"
    assert index_rows(app, address_id=address_id) == {("phone", "06131 1234-0", "+49613112340"),
                                                      ("fax", "06131 1234-99", "+496131123499")}
    page = client.get(f"/addresses/{address_id}").text
    for text in ("Müller GmbH", "Hauptstraße 1", "55116 Mainz", "info@mueller.de", "Zahlt pünktlich.",
                 'href="tel:+49613112340"', '<span class="fax-number">06131 123499</span>'):
        assert text in page
    assert 'href="tel:+496131123499"' not in page and '"number": "+496131123499"' not in page  # no dialling a fax
    assert "wurde angelegt" in page


def test_new_address_form_prefills_phone_from_query(client, auth):
    auth.login("anna")
    page = client.get("/addresses/new?phone=%2B4961319876543").text
    assert 'value="+4961319876543"' in page
    assert 'value="DE"' in page


def test_validation_keeps_input_and_answers_422(client, auth, app):
    auth.login("anna")
    response = client.post("/addresses/new", data={**ADDRESS, "name": "", "email": "keine-mail",
                                                   "city": "Wiesbaden", "country": "XY"})
    assert response.status_code == 422
    assert "Bitte einen Namen eingeben." in response.text
    assert "Bitte eine gültige E-Mail-Adresse eingeben" in response.text
    assert "zweistelligen Ländercode" in response.text
    assert 'value="Wiesbaden"' in response.text
    assert 'value="keine-mail"' in response.text
    assert 'value="06131 1234-0"' in response.text
    with app.app_context():
        assert db.session.scalar(select(Address)) is None
        assert db.session.scalar(select(PhoneNumber)) is None


@pytest.mark.parametrize("typed", ["bitte Zentrale fragen", "0221 12", "1234567"])
def test_unrecognisable_number_is_refused_next_to_the_field(client, auth, app, typed):
    auth.login("anna")
    response = client.post("/addresses/new", data={**ADDRESS, "phone": typed, "fax": ""})
    assert response.status_code == 422
    assert f"„{typed}“ ist keine gültige Rufnummer." in response.text
    assert f'value="{typed}"' in response.text and 'value="Müller GmbH"' in response.text
    with app.app_context():
        assert db.session.scalar(select(Address)) is None


def test_stored_unrecognised_number_is_marked(client, auth, app):
    address_id = create_address(app, phone="bitte Zentrale fragen", fax="")
    auth.login("anna")
    assert index_rows(app, address_id=address_id) == {("phone", "bitte Zentrale fragen", None)}
    page = client.get(f"/addresses/{address_id}").text
    assert 'class="unrecognised"' in page and "bitte Zentrale fragen ⚠" in page


def test_internal_extension_is_stored_as_typed_and_shown_as_such(client, auth, app):
    auth.login("anna")
    response = client.post("/addresses/new", data={**ADDRESS, "phone": "12345", "fax": ""})
    assert response.status_code == 302
    with app.app_context():
        address_id = db.session.scalar(select(Address.id))
    assert index_rows(app, address_id=address_id) == {("phone", "12345", None)}
    page = client.get(f"/addresses/{address_id}").text
    assert "intern 12345" in page and "+4912345" not in page and "⚠" not in page
    assert '"number": "12345"' in page  # dialled as it is


def test_edit_address_updates_and_removes_index_rows(client, auth, app):
    address_id = create_address(app)
    auth.login("anna")
    form = client.get(f"/addresses/{address_id}/edit").text
    assert 'value="Müller GmbH"' in form
    response = client.post(f"/addresses/{address_id}/edit",
                           data={**ADDRESS, "name": "Müller AG", "phone": "+49 30 1234567", "fax": "",
                                 "mobile": "0171 2345678"})
    assert response.status_code == 302
    assert index_rows(app, address_id=address_id) == {("phone", "+49 30 1234567", "+49301234567"),
                                                      ("mobile", "0171 2345678", "+491712345678")}
    with app.test_request_context():
        assert [m.name for m in lookup_caller("030 1234567").matches] == ["Müller AG"]
        assert lookup_caller("06131 1234-99").matches == []


def test_edit_validation_keeps_input(client, auth, app):
    address_id = create_address(app)
    auth.login("anna")
    response = client.post(f"/addresses/{address_id}/edit", data={**ADDRESS, "name": "  ", "city": "Bonn"})
    assert response.status_code == 422
    assert 'value="Bonn"' in response.text
    with app.app_context():
        assert db.session.get(Address, address_id).city == "Mainz"


def test_address_with_contacts_cannot_become_a_person(client, auth, app):
    address_id = create_address(app)
    add_contact(app, address_id)
    auth.login("anna")
    response = client.post(f"/addresses/{address_id}/edit", data={**ADDRESS, "kind": "person"})
    assert response.status_code == 422
    assert "bleibt eine Firma" in response.text


def test_delete_address_removes_contacts_and_index_rows(client, auth, app):
    address_id = create_address(app)
    add_contact(app, address_id, phone="0171 1111111")
    auth.login("anna")
    page = client.get(f"/addresses/{address_id}").text
    assert 'hx-confirm="Adresse „Müller GmbH“ mit allen Ansprechpartnern wirklich löschen?"' in page
    response = client.post(f"/addresses/{address_id}/delete")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Address)) is None
        assert db.session.scalar(select(ContactPerson)) is None
        assert db.session.scalar(select(PhoneNumber)) is None
    assert client.get(f"/addresses/{address_id}").status_code == 404


def test_person_address(client, auth, app):
    auth.login("anna")
    client.post("/addresses/new", data={**ADDRESS, "kind": "person", "name": "Erika Muster",
                                        "company": "Muster KG", "phone": "0611 555555-0"})
    with app.app_context():
        address = db.session.scalar(select(Address))
        assert not address.is_company
        # only a company's main number matches callers on its extensions
        assert {row.main_prefix for row in address.numbers} == {None}
        address_id = address.id
    page = client.get(f"/addresses/{address_id}").text
    assert "Muster KG" in page
    assert "Ansprechpartner hinzufügen" not in page
    assert client.get(f"/addresses/{address_id}/contacts/new").status_code == 404


def test_html_in_user_text_is_escaped(client, auth, app):
    auth.login("anna")
    refused = client.post("/addresses/new", data={**ADDRESS, "phone": "<img src=x>"})
    assert refused.status_code == 422 and "<img src=x>" not in refused.text
    client.post("/addresses/new", data={**ADDRESS, "name": "<script>alert(1)</script>", "notes": "<b>fett</b>"})
    with app.app_context():
        address_id = db.session.scalar(select(Address.id))
    add_contact(app, address_id, name="<i>Anna</i>")
    for page in (client.get(f"/addresses/{address_id}").text, client.get("/addresses/?q=script").text,
                 client.get(f"/addresses/{address_id}/edit").text):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    detail = client.get(f"/addresses/{address_id}").text
    assert "<b>fett</b>" not in detail and "&lt;b&gt;fett&lt;/b&gt;" in detail
    assert "<i>Anna</i>" not in detail and "&lt;i&gt;Anna&lt;/i&gt;" in detail


def test_missing_address_is_404(client, auth):
    auth.login("anna")
    assert client.get("/addresses/999").status_code == 404
    assert client.get("/addresses/999/edit").status_code == 404
    assert client.post("/addresses/999/delete").status_code == 404


# --------------------------------------------------------------------------- contact persons


def test_contact_person_crud_and_index(client, auth, app):
    address_id = create_address(app)
    auth.login("anna")
    response = client.post(f"/addresses/{address_id}/contacts/new",
                           data={"salutation": "Frau", "title": "Dr.", "first_name": "Anna", "last_name": "Schmidt",
                                 "role": "Einkauf", "email": "anna@mueller.de",
                                 "phone": "06131 1234-17", "mobile": "+49 (0)171 2345678", "fax": ""})
    assert response.status_code == 302
    with app.app_context():
        contact = db.session.scalar(select(ContactPerson))
        contact_id = contact.id
        assert (contact.address_id, contact.role) == (address_id, "Einkauf")
        assert (contact.salutation, contact.title, contact.first_name, contact.last_name, contact.name) == (
            "Frau", "Dr.", "Anna", "Schmidt", "Dr. Anna Schmidt")
    assert response.headers["Location"] == f"/addresses/{address_id}#contact-{contact_id}"
    assert index_rows(app, contact_person_id=contact_id) == {("phone", "06131 1234-17", "+496131123417"),
                                                             ("mobile", "+49 (0)171 2345678", "+491712345678")}
    page = client.get(f"/addresses/{address_id}").text
    assert f'id="contact-{contact_id}"' in page
    assert "Frau</span> <strong>Dr. Anna Schmidt</strong>" in page
    assert "Einkauf" in page and 'href="tel:+491712345678"' in page
    with app.test_request_context():
        match, = lookup_caller("0171 2345678").matches
        assert match.url == f"/addresses/{address_id}#contact-{contact_id}"
        assert match.name == "Dr. Anna Schmidt"
    edit_page = client.get(f"/addresses/{address_id}/contacts/{contact_id}/edit").text
    assert '<option selected value="Frau">' in edit_page and 'value="Dr."' in edit_page

    response = client.post(f"/addresses/{address_id}/contacts/{contact_id}/edit",
                           data={"first_name": "Anna", "last_name": "Schulz", "role": "Leitung", "email": "",
                                 "phone": "", "mobile": "0171 9999999", "fax": ""})
    assert response.status_code == 302
    assert index_rows(app, contact_person_id=contact_id) == {("mobile", "0171 9999999", "+491719999999")}

    response = client.post(f"/addresses/{address_id}/contacts/{contact_id}/delete")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(ContactPerson)) is None
        assert db.session.scalar(select(PhoneNumber).filter_by(contact_person_id=contact_id)) is None
        assert db.session.get(Address, address_id) is not None


def test_contact_validation_keeps_input(client, auth, app):
    address_id = create_address(app)
    auth.login("anna")
    response = client.post(f"/addresses/{address_id}/contacts/new",
                           data={"first_name": "Anna", "last_name": "", "role": "Einkauf", "email": "anna@",
                                 "phone": "0171 1"})
    assert response.status_code == 422
    assert "Bitte einen Nachnamen eingeben." in response.text
    assert "„0171 1“ ist keine gültige Rufnummer." in response.text
    assert "gültige E-Mail-Adresse" in response.text
    assert 'value="Einkauf"' in response.text and 'value="anna@"' in response.text
    with app.app_context():
        assert db.session.scalar(select(ContactPerson)) is None


def test_contact_of_another_address_is_404(client, auth, app):
    first = create_address(app)
    second = create_address(app, name="Schmidt KG")
    contact_id = add_contact(app, first)
    auth.login("anna")
    assert client.get(f"/addresses/{second}/contacts/{contact_id}/edit").status_code == 404
    assert client.post(f"/addresses/{second}/contacts/{contact_id}/delete").status_code == 404
    with app.app_context():
        assert db.session.get(ContactPerson, contact_id) is not None


def test_country_change_rereads_contact_numbers(client, auth, app):
    address_id = create_address(app, country="DE")
    contact_id = add_contact(app, address_id, phone="044 123 45 67")
    assert index_rows(app, contact_person_id=contact_id) == {("phone", "044 123 45 67", "+49441234567")}
    auth.login("anna")
    client.post(f"/addresses/{address_id}/edit",
                data={**ADDRESS, "country": "ch", "phone": "+49 6131 1234-0", "fax": ""})
    assert index_rows(app, contact_person_id=contact_id) == {("phone", "044 123 45 67", "+41441234567")}


# --------------------------------------------------------------------------- list and search


@pytest.fixture
def address_book(app):
    """Three addresses with numbers on the address and on a contact person."""
    mueller = create_address(app, name="Müller GmbH", company="", phone="06131 1234-0", fax="")
    add_contact(app, mueller, name="Frau Dr. Anna Schmidt", mobile="0171 2345678")
    create_address(app, kind="person", name="Erika Weber", company="Weber & Söhne", phone="030 9876543",
                   fax="", email="")
    create_address(app, name="Zebra AG", phone="+43 1 5551234", fax="")
    return mueller


def search(client, query: str) -> list[str]:
    response = client.get("/addresses/", query_string={"q": query})
    assert response.status_code == 200
    return listed_names(response.text)


def test_list_is_sorted_by_name(client, auth, address_book):
    auth.login("anna")
    # German phonebook order: companies by name, persons by surname (Erika Weber under W)
    assert search(client, "") == ["Müller GmbH", "Erika Weber", "Zebra AG"]


@pytest.mark.parametrize(("query", "expected"), [
    ("müller", ["Müller GmbH"]),
    ("MÜLLER", ["Müller GmbH"]),
    ("gmbh", ["Müller GmbH"]),
    ("söhne", ["Erika Weber"]),
    ("schmidt", ["Müller GmbH"]),
    ("Dr. Anna", ["Müller GmbH"]),  # the contact person's title and first name
    ("%", []),
    ("nichts", []),
])
def test_search_by_text(client, auth, address_book, query, expected):
    auth.login("anna")
    assert search(client, query) == expected


@pytest.mark.parametrize("query", ["06131 12340", "+49 6131 12340", "0049 6131 12340", "+49 (0)6131 1234-0",
                                   "+4961311234"])
def test_search_by_address_number_in_any_notation(client, auth, address_book, query):
    auth.login("anna")
    assert search(client, query) == ["Müller GmbH"]


@pytest.mark.parametrize("query", ["0171 2345678", "+491712345678", "0049 171 2345678", "+49 (0)171 2345678"])
def test_search_by_contact_number(client, auth, address_book, query):
    auth.login("anna")
    assert search(client, query) == ["Müller GmbH"]


def test_search_by_foreign_number(client, auth, address_book):
    auth.login("anna")
    assert search(client, "0043 1 5551234") == ["Zebra AG"]


def test_search_as_you_type_returns_the_list_fragment(client, auth, address_book):
    auth.login("anna")
    page = client.get("/addresses/").text
    assert 'hx-trigger="input changed delay:250ms, search"' in page
    assert 'hx-push-url="true"' in page
    response = client.get("/addresses/?q=zebra", headers={"HX-Request": "true", "HX-Target": "address-list"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="address-list">')
    assert "<html" not in response.text
    assert listed_names(response.text) == ["Zebra AG"]


def test_empty_search_offers_to_create_with_number(client, auth, address_book):
    auth.login("anna")
    page = client.get("/addresses/?q=0611 777777").text
    assert "Keine Adresse gefunden" in page
    assert "/addresses/new?phone=0611+777777" in page


def test_pagination(client, auth, app):
    app.config["PAGE_SIZE"] = 2
    for name in ("Anton", "Berta", "Cäsar", "Dora", "Emil"):
        create_address(app, name=name, phone="", fax="", city="")
    auth.login("anna")
    first = client.get("/addresses/").text
    assert listed_names(first) == ["Anton", "Berta"]
    assert "5 Treffer" in first
    assert pager_link(first, "prev") is None and pager_link(first, "first") is None
    second = client.get(pager_link(first, "next")).text
    assert listed_names(second) == ["Cäsar", "Dora"]
    third = client.get(pager_link(second, "next")).text
    assert listed_names(third) == ["Emil"] and pager_link(third, "next") is None
    assert listed_names(client.get(pager_link(third, "prev")).text) == ["Cäsar", "Dora"]
    assert listed_names(client.get(pager_link(third, "first")).text) == ["Anton", "Berta"]
    assert listed_names(client.get(pager_link(first, "last")).text) == ["Dora", "Emil"]
    assert listed_names(client.get("/addresses/?page=3").text) == ["Anton", "Berta"]  # old links: page one
    searched = client.get("/addresses/?q=a").text  # Anton Berta Cäsar Dora
    assert "4 Treffer für „a“" in searched
    assert "q=a" in pager_link(searched, "next") and "q=a" in pager_link(searched, "last")
    assert listed_names(client.get(pager_link(searched, "next")).text) == ["Cäsar", "Dora"]


def test_pager_links_of_the_search_fragment_keep_the_query(client, auth, app):
    """Typing in the search field replaces the list; its pager pages through the same search."""
    app.config["PAGE_SIZE"] = 2
    for name in ("Anton", "Berta", "Cäsar", "Dora"):
        create_address(app, name=name, phone="", fax="")
    auth.login("anna")
    fragment = client.get("/addresses/?q=o", headers={"HX-Request": "true", "HX-Target": "address-list"}).text
    assert "<html" not in fragment and listed_names(fragment) == ["Anton", "Dora"]
    assert pager_link(fragment, "next") is None  # one page: no pager
    fragment = client.get("/addresses/?q=a", headers={"HX-Request": "true", "HX-Target": "address-list"}).text
    assert listed_names(client.get(pager_link(fragment, "next")).text) == ["Cäsar", "Dora"]


def test_a_search_reads_the_contact_persons_of_its_hits_in_one_query(client, auth, app):
    """The list says which contact person a hit was found by: one query for the page's persons, not one
    per address (25 at a full page)."""
    with app.app_context():
        for index in range(12):
            company = Address(name=f"Jäger Bau {index:02d}", kind="company")
            db.session.add_all([company, ContactPerson(name=f"Eva Roth {index}", address=company),
                                ContactPerson(name=f"Olaf Kern {index}", address=company)])
        db.session.commit()
        engine = db.engine
    auth.login("anna")
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fragment = client.get("/addresses/?q=Roth", headers={"HX-Request": "true", "HX-Target": "address-list"}).text
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert "12 Treffer" in fragment and fragment.count("gefunden bei Eva Roth") == 12
    assert sum("FROM contact_person" in statement for statement in statements) == 1


def test_a_changed_cursor_shows_the_first_page(client, auth, app):
    app.config["PAGE_SIZE"] = 2
    for name in ("Anton", "Berta", "Cäsar"):
        create_address(app, name=name, phone="", fax="")
    auth.login("anna")
    cursor = pager_link(client.get("/addresses/").text, "next").split("after=")[1]
    for bad in (cursor[:-2] + "xx", "garbage", "", "%00", cursor + "." + cursor):
        response = client.get("/addresses/", query_string={"after": bad})
        assert response.status_code == 200 and listed_names(response.text) == ["Anton", "Berta"]
        assert listed_names(client.get("/addresses/", query_string={"before": bad}).text) == ["Anton", "Berta"]
    assert listed_names(client.get("/addresses/", query_string={"after": cursor}).text) == ["Cäsar"]
    # on another list (other sort keys) it is no cursor: the journal compares no time with a name
    with app.app_context():
        db.session.add(Call(call_id="c1", from_number="0221 555", status="ended"))
        db.session.commit()
    journal = client.get("/calls/", query_string={"after": cursor})
    assert journal.status_code == 200 and "0221 555" in journal.text


def test_list_shows_numbers_with_phone_macro(client, auth, address_book):
    auth.login("anna")
    page = client.get("/addresses/").text
    assert 'href="tel:+49613112340"' in page
    assert 'href="tel:+4315551234"' in page


def test_customer_number_is_saved_and_must_be_unique(client, auth, app):
    auth.login("anna")
    assert client.post("/addresses/new", data={**ADDRESS, "customer_number": "K-1"}).status_code == 302
    response = client.post("/addresses/new", data={**ADDRESS, "name": "Zweite GmbH", "customer_number": "K-1"})
    assert response.status_code == 422
    assert "Diese Kundennummer hat schon „Müller GmbH“." in response.text and 'value="Zweite GmbH"' in response.text
    with app.app_context():
        address_id = db.session.scalar(select(Address.id))
    assert "Kundennummer K-1" in client.get(f"/addresses/{address_id}").text
    assert client.post(f"/addresses/{address_id}/edit", data={**ADDRESS, "customer_number": "K-1"}).status_code == 302


def test_imported_salutation_outside_the_choices_survives_editing(client, auth, app):
    address_id = create_address(app)
    contact_id = add_contact(app, address_id, name="Mr. John Smith")
    auth.login("anna")
    page = client.get(f"/addresses/{address_id}/contacts/{contact_id}/edit").text
    assert '<option selected value="Mr.">' in page
    client.post(f"/addresses/{address_id}/contacts/{contact_id}/edit",
                data={"salutation": "Mr.", "first_name": "John", "last_name": "Smith"})
    with app.app_context():
        contact = db.session.get(ContactPerson, contact_id)
        assert (contact.salutation, contact.name) == ("Mr.", "John Smith")


@pytest.mark.parametrize("name, parts", [
    ("Herr Dr. Hans Müller", ("Herr", "Dr.", "Hans", "Müller")),
    ("Müller, Hans", ("", "", "Hans", "Müller")),
    ("Frau Prof. Dr. Eva von der Heide", ("Frau", "Prof. Dr.", "Eva", "von der Heide")),
    ("Schmidt", ("", "", "", "Schmidt")),
    ("Dr. med. Klaus Peter Weber", ("", "Dr. med.", "Klaus Peter", "Weber")),
])
def test_names_written_in_one_field_are_split_sensibly(name, parts):
    from telephone.addresses.book import split_name

    split = split_name(name)
    assert (split.salutation, split.title, split.first_name, split.last_name) == parts
