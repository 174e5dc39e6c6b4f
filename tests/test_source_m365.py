"""Microsoft 365 source: msal token flow and Graph paging, faked with requests-mock."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
import requests
import urllib3

from telephone.sync.base import REGISTRY, Record, SourceError
from telephone.sync.sources import http as http_module
from telephone.sync.sources.m365 import Microsoft365Source

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~client~VALUE"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graph-token"
LOGIN = f"https://login.microsoftonline.com/{TENANT}"
DISCOVERY = f"{LOGIN}/v2.0/.well-known/openid-configuration"
TOKEN_URL = f"{LOGIN}/oauth2/v2.0/token"
GRAPH = "https://graph.microsoft.com/v1.0"
CONTACTS = f"{GRAPH}/users/telefonbuch@contoso.de/contacts"


def openid_configuration() -> dict:
    return {
        "token_endpoint": TOKEN_URL,
        "authorization_endpoint": f"{LOGIN}/oauth2/v2.0/authorize",
        "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "tenant_region_scope": "EU",
    }


def token_answer() -> dict:
    return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": TOKEN}


def source(mode="mailbox", **options) -> Microsoft365Source:
    opts = {"tenant_id": TENANT, "mode": mode, "mailbox": "telefonbuch@contoso.de", **options}
    return Microsoft365Source(login=CLIENT_ID, password=SECRET, options=opts)


@pytest.fixture
def entra(requests_mock):
    requests_mock.get(DISCOVERY, json=openid_configuration())
    requests_mock.post(TOKEN_URL, json=token_answer())
    return requests_mock


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http_module, "sleep", waits.append)
    return waits


def contact(n: int, **extra) -> dict:
    item = {
        "@odata.etag": 'W/"EQAAABYAAAA"',
        "id": f"AAMkAGI2THVSAAA{n}=",
        "displayName": f"Kontakt {n}",
        "givenName": "Vorname",
        "surname": f"Nachname{n}",
        "title": None,
        "businessPhones": [f"+49 6131 1234{n}"],
        "mobilePhone": None,
        "emailAddresses": [],
        "companyName": None,
        "jobTitle": None,
    }
    item.update(extra)
    return item


def assert_clean(message: str, caplog=None):
    assert SECRET not in message and TOKEN not in message
    if caplog is not None:
        assert SECRET not in caplog.text and TOKEN not in caplog.text


def test_registered_with_german_form_fields():
    cls = REGISTRY["m365"]
    assert cls is Microsoft365Source and cls.label == "Microsoft 365"
    columns = {f.name: f.column for f in cls.fields}
    assert columns["client_secret"] == "password"
    assert next(f for f in cls.fields if f.name == "mode").kind == "select"


def test_token_request_is_client_credentials_at_tenant(entra):
    entra.get(CONTACTS, json={"value": []})
    assert list(source().fetch()) == []
    discovery, token_call, graph_call = entra.request_history
    assert discovery.method == "GET" and discovery.url == DISCOVERY
    assert token_call.method == "POST" and token_call.url == TOKEN_URL
    body = parse_qs(token_call.text)
    assert body["grant_type"] == ["client_credentials"]
    assert body["client_id"] == [CLIENT_ID]
    assert body["client_secret"] == [SECRET]
    assert body["scope"] == ["https://graph.microsoft.com/.default"]
    assert graph_call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert graph_call.qs["$top"] == ["100"]
    assert "businessphones" in graph_call.qs["$select"][0]


def test_mailbox_contacts_over_three_pages(entra):
    page2 = f"{CONTACTS}?$skip=100"
    page3 = f"{CONTACTS}?$skip=200"
    entra.get(CONTACTS, [
        {"json": {"value": [contact(1), contact(2)], "@odata.nextLink": page2}},
    ])
    entra.get(page2, json={"value": [contact(3)], "@odata.nextLink": page3}, complete_qs=True)
    entra.get(page3, json={"value": [contact(4)]}, complete_qs=True)
    records = list(source().fetch())
    assert [r.internal_id for r in records] == [f"AAMkAGI2THVSAAA{n}=" for n in (1, 2, 3, 4)]


def test_contact_mapping_full_and_sparse(entra):
    full = contact(
        1, title="Frau Dr.", givenName="Anna", surname="Schmidt", displayName="Dr. Anna Schmidt",
        businessPhones=["+49 6131 123456", "06131 654321"], mobilePhone="0171 2345678",
        homePhones=["06131 999"],
        emailAddresses=[{"name": "Anna", "address": "anna@kunde.de"}, {"name": "x", "address": ""}],
        companyName="Kunde GmbH", jobTitle="Einkauf",
    )
    sparse = {"id": "AAMkSPARSE=", "displayName": None, "givenName": "Bernd", "surname": "Berg"}
    entra.get(CONTACTS, json={"value": [full, sparse]})
    first, second = source().fetch()
    assert first == Record(
        internal_id="AAMkAGI2THVSAAA1=", display_name="Dr. Anna Schmidt", family_name="Schmidt",
        given_name="Anna", honorific_prefix="Dr.", gender="female",
        phones=[("WORK", "+49 6131 123456"), ("WORK", "06131 654321"), ("MOBILE", "0171 2345678")],
        emails=[("WORK", "anna@kunde.de")], company="Kunde GmbH", job_title="Einkauf",
    )
    assert second == Record(internal_id="AAMkSPARSE=", display_name="Bernd Berg", family_name="Berg",
                            given_name="Bernd")


def test_directory_reads_users_and_org_contacts(entra):
    entra.get(f"{GRAPH}/users", json={"value": [{
        "id": "u-1", "displayName": "Chef, Carl", "givenName": "Carl", "surname": "Chef",
        "businessPhones": ["+49 6131 100"], "mobilePhone": "+49 171 100", "faxNumber": "+49 6131 199",
        "mail": "carl@contoso.de", "jobTitle": "Geschäftsführer", "companyName": None,
    }]})
    entra.get(f"{GRAPH}/contacts", json={"value": [{
        "id": "oc-1", "displayName": "Lieferant Lars", "givenName": None, "surname": None, "mail": None,
        "phones": [{"type": "business", "number": "+49 30 1"}, {"type": "businessFax", "number": "+49 30 2"},
                   {"type": "mobile", "number": None}, {"type": "home", "number": "+49 30 3"}],
        "companyName": "Lieferant AG", "jobTitle": None,
    }]})
    users, org_contact = source(mode="directory").fetch()
    assert users.phones == [("WORK", "+49 6131 100"), ("MOBILE", "+49 171 100"), ("WORK_FAX", "+49 6131 199")]
    assert users.emails == [("WORK", "carl@contoso.de")] and users.job_title == "Geschäftsführer"
    assert org_contact.internal_id == "oc-1" and org_contact.company == "Lieferant AG"
    assert org_contact.phones == [("WORK", "+49 30 1"), ("WORK_FAX", "+49 30 2")]
    assert org_contact.emails == []


@pytest.mark.parametrize("codes, reason", [
    ([7000215], "geheime Clientschlüssel ist falsch"),
    ([7000222], "abgelaufen"),
    ([700016], "Anwendungs-ID (Client-ID) ist in diesem Verzeichnis nicht bekannt"),
])
def test_token_failure_is_translated(requests_mock, codes, reason, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.get(DISCOVERY, json=openid_configuration())
    requests_mock.post(TOKEN_URL, status_code=401, json={
        "error": "invalid_client",
        "error_description": f"AADSTS{codes[0]}: Invalid client secret provided. Trace ID: x",
        "error_codes": codes, "timestamp": "2026-01-01 10:00:00Z", "trace_id": "x", "correlation_id": "y",
    })
    with pytest.raises(SourceError) as failure:
        source().test_connection()
    assert reason in str(failure.value)
    assert_clean(str(failure.value), caplog)


def test_unknown_tenant(requests_mock):
    requests_mock.get(DISCOVERY, status_code=400, json={
        "error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.",
        "error_codes": [90002],
    })
    with pytest.raises(SourceError, match="Tenant-ID „contoso.onmicrosoft.com“.*nicht gefunden"):
        source().test_connection()


def test_missing_permission(entra, caplog):
    caplog.set_level(logging.DEBUG)
    entra.get(CONTACTS, status_code=403, json={"error": {"code": "ErrorAccessDenied",
                                                          "message": "Access is denied."}})
    with pytest.raises(SourceError, match="Berechtigung fehlt.*Contacts.Read") as failure:
        list(source().fetch())
    assert_clean(str(failure.value), caplog)


def test_directory_permission_names_directory_rights(entra):
    entra.get(f"{GRAPH}/users", status_code=403, json={"error": {"code": "Authorization_RequestDenied",
                                                                 "message": "Insufficient privileges"}})
    with pytest.raises(SourceError, match="User.Read.All und OrgContact.Read.All"):
        source(mode="directory").test_connection()


def test_unknown_mailbox(entra):
    entra.get(CONTACTS, status_code=404, json={"error": {"code": "ErrorInvalidUser",
                                                          "message": "The requested user is invalid."}})
    with pytest.raises(SourceError, match="Postfach „telefonbuch@contoso.de“ nicht gefunden"):
        source().test_connection()


def test_throttling_waits_retry_after_then_succeeds(entra, no_sleep):
    entra.get(CONTACTS, [
        {"status_code": 429, "headers": {"Retry-After": "7"},
         "json": {"error": {"code": "TooManyRequests", "message": "Too many requests"}}},
        {"json": {"value": [contact(1)]}},
    ])
    assert source().test_connection() == "Verbindung erfolgreich – 1 Kontakt auf der ersten Seite gelesen."
    assert no_sleep == [7.0]


def test_throttling_gives_up_after_bounded_attempts(entra, no_sleep):
    entra.get(CONTACTS, status_code=429, headers={"Retry-After": "2"})
    with pytest.raises(SourceError, match="bremst"):
        list(source().fetch())
    assert no_sleep == [2.0, 2.0, 2.0]


def test_host_not_found_while_getting_token(requests_mock):
    resolution = urllib3.exceptions.NameResolutionError(
        "login.microsoftonline.com", None, OSError("Name or service not known"))
    requests_mock.get(DISCOVERY, exc=requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, DISCOVERY, resolution)))
    with pytest.raises(SourceError, match=r"Server nicht gefunden \(login.microsoftonline.com\)"):
        source().test_connection()


def test_timeout_and_tls_error_on_graph(entra):
    entra.get(CONTACTS, exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(SourceError, match="Zeitüberschreitung beim Verbindungsaufbau zu graph.microsoft.com"):
        source().test_connection()
    entra.get(CONTACTS, exc=requests.exceptions.SSLError)
    with pytest.raises(SourceError, match="TLS-Fehler"):
        source().test_connection()


def test_malformed_json(entra):
    entra.get(CONTACTS, text="<html>Proxy login</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(SourceError, match="Unerwartete Antwort von graph.microsoft.com"):
        source().test_connection()


def test_failure_on_a_later_page_raises_before_anything_is_applied(entra):
    """The engine applies only a complete list; a failing page must surface as SourceError."""
    entra.get(CONTACTS, json={"value": [contact(1)], "@odata.nextLink": f"{CONTACTS}?$skip=1"})
    entra.get(f"{CONTACTS}?$skip=1", status_code=503, complete_qs=True)
    applied = collect_or_nothing(source())
    assert applied is None


def test_missing_mailbox_setting():
    with pytest.raises(SourceError, match="Bitte das Postfach angeben"):
        source(mailbox="").test_connection()


def collect_or_nothing(src):
    """What a sync would apply: the full list, or nothing when the source fails."""
    try:
        return list(src.fetch())
    except SourceError:
        return None
