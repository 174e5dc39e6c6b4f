"""Salesforce source: client-credentials token and query paging, faked with requests-mock."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from telephone.sync.base import REGISTRY, Record, SourceError
from telephone.sync.sources import http as http_module
from telephone.sync.sources.salesforce import QUERY, SalesforceSource

DOMAIN = "https://acme.my.salesforce.com"
KEY = "3MVG9consumer.key"
SECRET = "consumer-SECRET-0815"
TOKEN = "00D5g000004XXXX!AQ4AQ.access.token"
QUERY_URL = f"{DOMAIN}/services/data/v62.0/query"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http_module, "sleep", waits.append)
    return waits


@pytest.fixture
def org(requests_mock):
    requests_mock.post(f"{DOMAIN}/services/oauth2/token", json={
        "access_token": TOKEN, "signature": "sig=", "scope": "api", "instance_url": DOMAIN,
        "id": "https://login.salesforce.com/id/00D5g000004XXXX/0055g00000AAAAA", "token_type": "Bearer",
        "issued_at": "1767225600000",
    })
    return requests_mock


def source(url=DOMAIN) -> SalesforceSource:
    return SalesforceSource(url=url, login=KEY, password=SECRET)


def row(n: int, **extra) -> dict:
    item = {"attributes": {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/003{n:015d}"},
            "Id": f"003{n:015d}", "Salutation": None, "FirstName": "Vor", "LastName": f"Name{n}",
            "Name": f"Vor Name{n}", "Title": None, "Phone": f"+49 30 {n}", "MobilePhone": None, "Fax": None,
            "Email": None, "Account": None}
    item.update(extra)
    return item


def page(records, next_url=None) -> dict:
    result = {"totalSize": 5, "done": next_url is None, "records": records}
    if next_url:
        result["nextRecordsUrl"] = next_url
    return result


def test_registered_with_fields():
    cls = REGISTRY["salesforce"]
    assert cls is SalesforceSource
    assert {f.name: f.column for f in cls.fields} == {"url": "url", "consumer_key": "login",
                                                      "consumer_secret": "password"}


def test_token_request_and_query(org):
    org.get(QUERY_URL, json=page([row(1)]))
    assert source().test_connection() == "Verbindung erfolgreich – 1 Kontakt auf der ersten Seite gelesen."
    token_call, query_call = org.request_history
    assert token_call.method == "POST" and token_call.url == f"{DOMAIN}/services/oauth2/token"
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_call.text) == {"grant_type": ["client_credentials"], "client_id": [KEY],
                                         "client_secret": [SECRET]}
    assert query_call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert parse_qs(urlparse(query_call.url).query)["q"] == [QUERY]


def test_url_without_scheme_and_trailing_slash(org):
    org.get(QUERY_URL, json=page([]))
    assert "0 Kontakte" in source(url="acme.my.salesforce.com/").test_connection()


def test_follows_next_records_url_until_done(org):
    org.get(QUERY_URL, json=page([row(1), row(2)], "/services/data/v62.0/query/01gRO0000016PIAYA2-2000"))
    org.get(f"{QUERY_URL}/01gRO0000016PIAYA2-2000",
            json=page([row(3)], "/services/data/v62.0/query/01gRO0000016PIAYA2-4000"))
    org.get(f"{QUERY_URL}/01gRO0000016PIAYA2-4000", json=page([row(4), row(5)]))
    records = list(source().fetch())
    assert [r.family_name for r in records] == ["Name1", "Name2", "Name3", "Name4", "Name5"]


def test_field_mapping(org):
    org.get(QUERY_URL, json=page([
        row(1, Salutation="Mr.", FirstName="John", LastName="Smith", Name="John Smith", Title="CFO",
            Phone="(0)6131 123", MobilePhone="+49 171 1", Fax="06131 124", Email="john@acme.com",
            Account={"attributes": {"type": "Account"}, "Name": "Acme Ltd"}),
        row(2, Salutation="Prof.", FirstName=None, LastName="Weber", Name=None, Phone=None),
        row(3, Salutation="Ms.", FirstName="Eva"),
    ]))
    john, weber, eva = source().fetch()
    assert john == Record(internal_id="003000000000000001", display_name="John Smith", family_name="Smith",
                          given_name="John", honorific_prefix="", gender="male",
                          phones=[("WORK", "(0)6131 123"), ("MOBILE", "+49 171 1"), ("WORK_FAX", "06131 124")],
                          emails=[("WORK", "john@acme.com")], company="Acme Ltd", job_title="CFO")
    assert (weber.display_name, weber.honorific_prefix, weber.gender, weber.phones) == ("Weber", "Prof.", "", [])
    assert eva.gender == "female"


@pytest.mark.parametrize("answer, reason", [
    ({"error": "invalid_client_id", "error_description": "client identifier invalid"}, "Consumer Key ist unbekannt"),
    ({"error": "invalid_client", "error_description": "invalid client credentials"},
     "Consumer Key oder Consumer Secret ist falsch"),
    ({"error": "invalid_grant", "error_description": "no client credentials user enabled"}, "Ausführungsbenutzer"),
    ({"error": "invalid_grant", "error_description": "request not supported on this domain"}, "My-Domain-Adresse"),
])
def test_token_errors(requests_mock, answer, reason, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.post(f"{DOMAIN}/services/oauth2/token", status_code=400, json=answer)
    with pytest.raises(SourceError, match=reason) as failure:
        list(source().fetch())
    assert SECRET not in str(failure.value) and SECRET not in caplog.text


@pytest.mark.parametrize("status, code, reason", [
    (403, "API_DISABLED_FOR_ORG", "API-Zugriff ist für diese Organisation"),
    (403, "REQUEST_LIMIT_EXCEEDED", "Limit"),
    (400, "INVALID_TYPE", "Berechtigung fehlt"),
    (401, "INVALID_SESSION_ID", "nicht angenommen"),
])
def test_query_errors(org, status, code, reason):
    org.get(QUERY_URL, status_code=status, json=[{"message": "irrelevant", "errorCode": code}])
    with pytest.raises(SourceError, match=reason) as failure:
        source().test_connection()
    assert TOKEN not in str(failure.value)


def test_throttled_then_success(org, no_sleep):
    org.get(QUERY_URL, [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"json": page([row(1)])}])
    assert len(list(source().fetch())) == 1
    assert no_sleep == [3.0]


def test_network_errors(requests_mock):
    requests_mock.post(f"{DOMAIN}/services/oauth2/token", exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(SourceError, match="Keine Verbindung zu acme.my.salesforce.com"):
        source().test_connection()
    requests_mock.post(f"{DOMAIN}/services/oauth2/token", exc=requests.exceptions.ReadTimeout)
    with pytest.raises(SourceError, match="nicht rechtzeitig geantwortet"):
        source().test_connection()


def test_malformed_json(org):
    org.get(QUERY_URL, text="{not json")
    with pytest.raises(SourceError, match="Unerwartete Antwort.*kein gültiges JSON"):
        list(source().fetch())


def test_failure_on_second_page_yields_nothing_to_apply(org):
    org.get(QUERY_URL, json=page([row(1)], "/services/data/v62.0/query/01g-2000"))
    org.get(f"{QUERY_URL}/01g-2000", exc=requests.exceptions.ConnectTimeout)
    applied = None
    with pytest.raises(SourceError, match="Zeitüberschreitung"):
        applied = list(source().fetch())
    assert applied is None
