"""GET /api/v1/lookup: who does a number belong to, for a session or an API token."""
import pytest

from telephone import numbers, site_settings
from telephone.extensions import db
from telephone.models import Address, AddressKind, ContactPerson, PhonebookEntry

API_TOKEN = "lookup-token-0123456789abcdef"


@pytest.fixture
def directory(app):
    """Two contacts share the switchboard number; a phonebook entry has a mobile."""
    with app.test_request_context():
        company = Address(name="Müller GmbH", kind=AddressKind.COMPANY.value)
        anna = ContactPerson(name="Anna Schmidt", address=company)
        bernd = ContactPerson(name="Bernd Schulz", address=company)
        entry = PhonebookEntry(display_name="Klaus Hausmeister", company="Facility GmbH")
        db.session.add_all([company, anna, bernd, entry])
        numbers.index_numbers(company, [("phone", "0221 1234-0")])
        numbers.index_numbers(anna, [("phone", "0221 555000")])
        numbers.index_numbers(bernd, [("phone", "+49 221 555000")])
        numbers.index_numbers(entry, [("mobile", "0171 5551234")])
        site_settings.set_value("api.token", API_TOKEN)
        db.session.commit()
        return {"company": company.id, "anna": anna.id, "bernd": bernd.id, "entry": entry.id}


def test_lookup_with_session_returns_every_match(client, auth, directory):
    auth.login("anna")
    response = client.get("/api/v1/lookup?number=0221%20555000")
    assert response.status_code == 200
    body = response.json
    assert body["number"] == "+49221555000"
    assert sorted(body["matches"], key=lambda m: m["name"]) == [
        {"kind": "contact", "name": "Anna Schmidt", "company": "Müller GmbH",
         "url": f"/addresses/{directory['company']}#contact-{directory['anna']}"},
        {"kind": "contact", "name": "Bernd Schulz", "company": "Müller GmbH",
         "url": f"/addresses/{directory['company']}#contact-{directory['bernd']}"},
    ]


def test_lookup_with_bearer_token(client, directory):
    response = client.get("/api/v1/lookup", query_string={"number": "+49 171 5551234"},
                          headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 200
    assert response.json == {"number": "+491715551234", "matches": [
        {"kind": "phonebook", "name": "Klaus Hausmeister", "company": "Facility GmbH",
         "url": f"/phonebook/{directory['entry']}"}]}


def test_lookup_finds_company_for_an_extension(client, directory):
    response = client.get("/api/v1/lookup?number=022112347", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert [m["name"] for m in response.json["matches"]] == ["Müller GmbH"]


def test_lookup_unknown_number_has_no_matches(client, directory):
    response = client.get("/api/v1/lookup?number=089 999999", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 200
    assert response.json == {"number": "+4989999999", "matches": []}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer falsch-falsch-falsch-falsch"},
    {"Authorization": f"Basic {API_TOKEN}"},
    {"Authorization": "Bearer "},
])
def test_lookup_without_valid_auth_is_401_json(client, directory, headers):
    response = client.get("/api/v1/lookup?number=0221555000", headers=headers)
    assert response.status_code == 401
    assert response.is_json and "API-Token" in response.json["error"]
    assert "Anna" not in response.text


@pytest.mark.parametrize("presented", ["", "irgendwas-irgendwas-irgendwas"])
def test_lookup_without_stored_token_refuses_every_token(client, presented):
    response = client.get("/api/v1/lookup?number=0221555000", headers={"Authorization": f"Bearer {presented}"})
    assert response.status_code == 401


@pytest.mark.parametrize("query, message", [
    ("", "Parameter „number“"),
    ("?number=", "Parameter „number“"),
    ("?number=hallo", "„hallo“ ist keine gültige Rufnummer."),
])
def test_lookup_bad_number_is_400_json(client, directory, query, message):
    response = client.get(f"/api/v1/lookup{query}", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 400
    assert response.is_json and message in response.json["error"]
