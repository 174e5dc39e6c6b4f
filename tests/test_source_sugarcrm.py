"""SugarCRM source: password login, offset paging and token renewal, faked with requests-mock."""
from __future__ import annotations

import logging

import pytest
import requests

from telephone.sync.base import REGISTRY, Record, SourceError
from telephone.sync.sources import http as http_module
from telephone.sync.sources.sugarcrm import SugarCRMSource

BASE = "https://crm.example.de"
API = f"{BASE}/rest/v11"
TOKEN_URL = f"{API}/oauth2/token"
CONTACTS = f"{API}/Contacts"
PASSWORD = "Sugar-Passw0rt!"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http_module, "sleep", waits.append)
    return waits


def tokens(n: int = 1) -> dict:
    return {"access_token": f"access-{n}", "expires_in": 3600, "token_type": "bearer", "scope": None,
            "refresh_token": f"refresh-{n}", "refresh_expires_in": 1209600, "download_token": f"dl-{n}"}


@pytest.fixture
def sugar(requests_mock):
    requests_mock.post(TOKEN_URL, json=tokens())
    return requests_mock


def source(platform="telefonie") -> SugarCRMSource:
    return SugarCRMSource(url=BASE + "/", login="telefon", password=PASSWORD, options={"platform": platform})


def contact(n: int, **extra) -> dict:
    item = {"id": f"c{n}-guid", "date_modified": "2026-01-01T10:00:00+01:00", "first_name": "Vor",
            "last_name": f"Name{n}", "salutation": "", "title": "", "phone_work": f"06131 {n}",
            "phone_mobile": "", "phone_fax": "", "email": [], "account_name": "", "_acl": {"fields": {}},
            "_module": "Contacts"}
    item.update(extra)
    return item


def offset_of(request) -> str:
    return request.qs["offset"][0]


def test_registered_with_platform_option():
    cls = REGISTRY["sugarcrm"]
    platform = next(f for f in cls.fields if f.name == "platform")
    assert cls is SugarCRMSource and platform.column is None and platform.default == "telefonie"
    assert "SuiteCRM" in cls.__doc__ + (cls.description or "")


def test_login_request_and_first_page(sugar):
    sugar.get(CONTACTS, json={"next_offset": -1, "records": [contact(1), contact(2)]})
    assert source().test_connection() == "Verbindung erfolgreich – 2 Kontakte auf der ersten Seite gelesen."
    login, listing = sugar.request_history
    assert login.method == "POST" and login.url == TOKEN_URL
    assert login.json() == {"grant_type": "password", "client_id": "sugar", "client_secret": "",
                            "username": "telefon", "password": PASSWORD, "platform": "telefonie"}
    assert login.headers["Content-Type"] == "application/json"
    assert listing.headers["OAuth-Token"] == "access-1"
    assert listing.qs["fields"] == ["first_name,last_name,salutation,title,phone_work,phone_mobile,phone_fax,"
                                    "email,account_name"]
    assert listing.qs["max_num"] == ["200"] and listing.qs["offset"] == ["0"]


def test_pages_until_next_offset_is_minus_one(sugar):
    sugar.get(CONTACTS, [
        {"json": {"next_offset": 200, "records": [contact(1)]}},
        {"json": {"next_offset": 400, "records": [contact(2)]}},
        {"json": {"next_offset": -1, "records": [contact(3)]}},
    ])
    records = list(source().fetch())
    assert [r.internal_id for r in records] == ["c1-guid", "c2-guid", "c3-guid"]
    assert [offset_of(r) for r in sugar.request_history[1:]] == ["0", "200", "400"]


def test_stops_on_empty_page(sugar):
    sugar.get(CONTACTS, [
        {"json": {"next_offset": 200, "records": [contact(1)]}},
        {"json": {"next_offset": 400, "records": []}},
    ])
    assert len(list(source().fetch())) == 1
    assert len(sugar.request_history) == 3


def test_field_mapping(sugar):
    sugar.get(CONTACTS, json={"next_offset": -1, "records": [
        contact(1, first_name="Maria", last_name="Muster", salutation="Ms.", title="Einkaufsleiterin",
                phone_work="+49 6131 100", phone_mobile="0171 100", phone_fax="06131 101",
                account_name="Muster AG", email=[
                    {"email_address": "alt@muster.de", "primary_address": False, "invalid_email": False},
                    {"email_address": "maria@muster.de", "primary_address": True, "invalid_email": False},
                    {"email_address": "kaputt@muster", "primary_address": False, "invalid_email": True},
                ]),
        {"id": "c2-guid", "last_name": "Doktor", "salutation": "Dr.", "first_name": None, "email": None},
    ]})
    maria, doktor = source().fetch()
    assert maria == Record(internal_id="c1-guid", display_name="Maria Muster", family_name="Muster",
                           given_name="Maria", honorific_prefix="", gender="female",
                           phones=[("WORK", "+49 6131 100"), ("MOBILE", "0171 100"), ("WORK_FAX", "06131 101")],
                           emails=[("WORK", "maria@muster.de"), ("WORK", "alt@muster.de")],
                           company="Muster AG", job_title="Einkaufsleiterin")
    assert doktor == Record(internal_id="c2-guid", display_name="Doktor", family_name="Doktor",
                            honorific_prefix="Dr.")


def test_expired_token_mid_paging_is_refreshed(requests_mock):
    requests_mock.post(TOKEN_URL, [{"json": tokens(1)}, {"json": tokens(2)}])
    requests_mock.get(CONTACTS, [
        {"json": {"next_offset": 200, "records": [contact(1)]}},
        {"status_code": 401, "json": {"error": "invalid_grant",
                                      "error_message": "The access token provided has expired."}},
        {"json": {"next_offset": -1, "records": [contact(2)]}},
    ])
    assert [r.internal_id for r in source().fetch()] == ["c1-guid", "c2-guid"]
    refresh = requests_mock.request_history[3]
    assert refresh.json() == {"grant_type": "refresh_token", "client_id": "sugar", "client_secret": "",
                              "refresh_token": "refresh-1", "platform": "telefonie"}
    retried = requests_mock.request_history[4]
    assert retried.headers["OAuth-Token"] == "access-2" and offset_of(retried) == "200"


def test_refused_refresh_falls_back_to_password_login(requests_mock):
    requests_mock.post(TOKEN_URL, [
        {"json": tokens(1)},
        {"status_code": 400, "json": {"error": "invalid_grant", "error_message": "Invalid refresh token"}},
        {"json": tokens(3)},
    ])
    requests_mock.get(CONTACTS, [
        {"status_code": 401, "json": {"error": "invalid_grant", "error_message": "expired"}},
        {"json": {"next_offset": -1, "records": [contact(1)]}},
    ])
    assert len(list(source().fetch())) == 1
    assert requests_mock.request_history[3].json()["grant_type"] == "password"
    assert requests_mock.request_history[4].headers["OAuth-Token"] == "access-3"


def test_second_401_fails_instead_of_looping(sugar):
    sugar.get(CONTACTS, status_code=401, json={"error": "invalid_grant", "error_message": "expired"})
    with pytest.raises(SourceError, match="Anmeldung wird nicht angenommen"):
        list(source().fetch())
    assert len(sugar.request_history) == 4  # login, GET, refresh, GET


def test_wrong_password(requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.post(TOKEN_URL, status_code=401, json={
        "error": "need_login", "error_message": "You must specify a valid username and password."})
    with pytest.raises(SourceError, match="Benutzername oder Passwort ist falsch") as failure:
        source().test_connection()
    assert PASSWORD not in str(failure.value) and PASSWORD not in caplog.text


def test_unregistered_platform(requests_mock):
    requests_mock.post(TOKEN_URL, status_code=400, json={
        "error": "invalid_parameter", "error_message": "The platform telefonie is not allowed."})
    with pytest.raises(SourceError, match="Plattform „telefonie“ ist in Sugar nicht freigegeben"):
        source().test_connection()


def test_missing_read_permission(sugar):
    sugar.get(CONTACTS, status_code=403, json={"error": "not_authorized",
                                               "error_message": "No access to view records for module: Contacts"})
    with pytest.raises(SourceError, match="Berechtigung fehlt"):
        source().test_connection()


def test_not_a_sugar_instance(requests_mock):
    requests_mock.post(TOKEN_URL, status_code=404, text="<html>Not Found</html>")
    with pytest.raises(SourceError, match="keine SugarCRM-REST-API"):
        source().test_connection()


def test_throttled_then_success(sugar, no_sleep):
    sugar.get(CONTACTS, [{"status_code": 429, "headers": {"Retry-After": "4"}},
                         {"json": {"next_offset": -1, "records": [contact(1)]}}])
    assert len(list(source().fetch())) == 1
    assert no_sleep == [4.0]


def test_connection_errors(requests_mock):
    requests_mock.post(TOKEN_URL, exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(SourceError, match="Zeitüberschreitung beim Verbindungsaufbau zu crm.example.de"):
        source().test_connection()
    requests_mock.post(TOKEN_URL, exc=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(SourceError, match="TLS-Fehler bei der Verbindung zu crm.example.de"):
        source().test_connection()


def test_malformed_json(sugar):
    sugar.get(CONTACTS, text="Fatal error: Allowed memory size exhausted")
    with pytest.raises(SourceError, match="Unerwartete Antwort von crm.example.de"):
        source().test_connection()


def test_failure_on_later_page_means_nothing_to_apply(sugar):
    sugar.get(CONTACTS, [{"json": {"next_offset": 200, "records": [contact(1)]}},
                         {"status_code": 500, "text": "error"}])
    applied = None
    with pytest.raises(SourceError, match="internen Fehler"):
        applied = list(source().fetch())
    assert applied is None
