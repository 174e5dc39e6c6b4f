"""The API sources through the sync engine: a good run fills the phonebook, a failing one changes nothing."""
from __future__ import annotations

import pytest
import requests
from exchangelib import errors as ews

from telephone import crypto
from telephone.extensions import db
from telephone.models import SyncRun, SyncSource
from telephone.sync import engine
from telephone.sync.sources import http as http_module
from telephone.sync.sources.exchange import ExchangeSource

from .phonebook_helpers import entries
from .test_source_exchange import FakeAccount, FakeFolder
from .test_source_exchange import contact as ews_contact
from .test_source_m365 import CONTACTS as GRAPH_CONTACTS
from .test_source_m365 import DISCOVERY, TOKEN_URL, openid_configuration, token_answer
from .test_source_m365 import contact as graph_contact
from .test_source_salesforce import DOMAIN, QUERY_URL, page, row
from .test_source_sugarcrm import CONTACTS as SUGAR_CONTACTS
from .test_source_sugarcrm import TOKEN_URL as SUGAR_TOKEN_URL
from .test_source_sugarcrm import contact as sugar_contact
from .test_source_sugarcrm import tokens


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(http_module, "sleep", lambda seconds: None)


def add(app, type_, url="", login="", password="", **options) -> int:
    with app.app_context():
        source = SyncSource(type=type_, name=type_, url=url, login=login,
                            password_encrypted=crypto.encrypt(password), options=options)
        db.session.add(source)
        db.session.commit()
        return source.id


def run(app, source_id):
    with app.app_context():
        outcome = engine.sync_source(source_id, "manual")
        messages = db.session.get(SyncRun, outcome.run_id).messages
        db.session.remove()
        return outcome, messages


def assert_good_then_failing_run_keeps_phonebook(app, source_id, break_second_page, reason, secret):
    first, _ = run(app, source_id)
    assert first.ok, first.problems
    before = entries(app, source_id)
    assert len(before) == 2
    break_second_page()
    failed, messages = run(app, source_id)
    assert not failed.ok
    assert reason in messages[0]["text"] and secret not in messages[0]["text"]
    assert entries(app, source_id) == before


def test_m365_through_engine(app, requests_mock):
    requests_mock.get(DISCOVERY, json=openid_configuration())
    requests_mock.post(TOKEN_URL, json=token_answer())
    source_id = add(app, "m365", login="client-id", password="m365-secret", tenant_id="contoso.onmicrosoft.com",
                    mode="mailbox", mailbox="telefonbuch@contoso.de")
    requests_mock.get(GRAPH_CONTACTS, json={"value": [graph_contact(1)], "@odata.nextLink": f"{GRAPH_CONTACTS}?p=2"})
    requests_mock.get(f"{GRAPH_CONTACTS}?p=2", json={"value": [graph_contact(2)]}, complete_qs=True)

    def fail():
        requests_mock.get(f"{GRAPH_CONTACTS}?p=2", status_code=403, json={"error": {"code": "ErrorAccessDenied"}},
                          complete_qs=True)
    assert_good_then_failing_run_keeps_phonebook(app, source_id, fail, "Berechtigung fehlt", "m365-secret")


def test_salesforce_through_engine(app, requests_mock):
    requests_mock.post(f"{DOMAIN}/services/oauth2/token", json={"access_token": "tok", "instance_url": DOMAIN})
    source_id = add(app, "salesforce", url=DOMAIN, login="key", password="sf-secret")
    requests_mock.get(QUERY_URL, json=page([row(1)], "/services/data/v62.0/query/01g-2000"))
    requests_mock.get(f"{QUERY_URL}/01g-2000", json=page([row(2)]))

    def fail():
        requests_mock.get(f"{QUERY_URL}/01g-2000", exc=requests.exceptions.ConnectTimeout)
    assert_good_then_failing_run_keeps_phonebook(app, source_id, fail, "Zeitüberschreitung", "sf-secret")


def test_sugarcrm_through_engine(app, requests_mock):
    requests_mock.post(SUGAR_TOKEN_URL, json=tokens())
    source_id = add(app, "sugarcrm", url="https://crm.example.de", login="telefon", password="sugar-secret")
    requests_mock.get(SUGAR_CONTACTS, [{"json": {"next_offset": 200, "records": [sugar_contact(1)]}},
                                       {"json": {"next_offset": -1, "records": [sugar_contact(2)]}},
                                       {"json": {"next_offset": 200, "records": [sugar_contact(1)]}},
                                       {"text": "not json"}])
    assert_good_then_failing_run_keeps_phonebook(app, source_id, lambda: None, "Unerwartete Antwort", "sugar-secret")


def test_exchange_through_engine(app, monkeypatch):
    folder = FakeFolder([ews_contact(1), ews_contact(2)])
    monkeypatch.setattr(ExchangeSource, "_account", lambda self: FakeAccount(folder))
    source_id = add(app, "exchange", url="mail.firma.de", login="FIRMA\\tel", password="ews-secret",
                    mailbox="zentrale@firma.de")

    def fail():
        folder.items.insert(1, ews.ErrorTimeoutExpired("Reraised from ConnectionError(reset)"))
    assert_good_then_failing_run_keeps_phonebook(app, source_id, fail, "Keine Verbindung", "ews-secret")
