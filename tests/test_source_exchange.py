"""Exchange Server source: the exchangelib account is replaced by a fake at the source boundary."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from exchangelib import DistributionList
from exchangelib import errors as ews
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.properties import CompleteName

from telephone.sync.base import REGISTRY, Record, SourceError
from telephone.sync.sources.exchange import CONTACT_FIELDS, ExchangeSource

PASSWORD = "Exch4nge-Geheim"


class FakeQuery:
    """Stands in for exchangelib's QuerySet: only(), page_size, slicing, iteration."""

    def __init__(self, folder):
        self.folder = folder
        self.page_size = 100
        self.stop = None

    def only(self, *fields):
        self.folder.only = fields
        return self

    def __getitem__(self, window: slice):
        self.stop = window.stop
        return self

    def __iter__(self):
        self.folder.page_sizes.append(self.page_size)
        for n, item in enumerate(self.folder.items):
            if self.stop is not None and n >= self.stop:
                return
            if isinstance(item, Exception):
                raise item
            yield item


class FakeFolder:
    def __init__(self, items=(), children=None, error=None):
        self.items = list(items)
        self.children = children or {}
        self.only = None
        self.page_sizes: list[int] = []
        self.error = error

    def __truediv__(self, name):
        if name not in self.children:
            raise ews.ErrorFolderNotFound(f"No subfolder with name {name!r}")
        return self.children[name]

    def all(self):
        if self.error:
            raise self.error
        return FakeQuery(self)


class FakeAccount:
    def __init__(self, contacts):
        self._contacts = contacts

    @property
    def contacts(self):
        if isinstance(self._contacts, Exception):
            raise self._contacts
        return self._contacts


def contact(n: int, **extra):
    values = dict(id=f"AAMkADk{n}AAA=", display_name=f"Kontakt {n}", given_name="Vor", surname=f"Name{n}",
                  complete_name=None, job_title=None, company_name=None,
                  phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=f"06131 {n}")],
                  email_addresses=None)
    values.update(extra)
    return SimpleNamespace(**values)


def source(account, **options) -> ExchangeSource:
    src = ExchangeSource(url="mail.firma.de", login="FIRMA\\telefonbuch", password=PASSWORD,
                         options={"mailbox": "zentrale@firma.de", **options})
    src._account = lambda: account  # the network boundary
    return src


def test_registered_and_points_exchange_online_to_m365():
    cls = REGISTRY["exchange"]
    assert cls is ExchangeSource and cls.label == "Exchange Server"
    assert "Exchange Online" in cls.description and "Microsoft 365" in cls.description
    assert {f.name for f in cls.fields} == {"url", "login", "password", "mailbox", "folder"}


def test_account_is_ntlm_delegate_without_autodiscover():
    src = ExchangeSource(url="https://mail.firma.de/", login="FIRMA\\telefonbuch", password=PASSWORD,
                         options={"mailbox": "zentrale@firma.de"})
    account = src._account()  # builds objects only, no request yet
    assert account.protocol.service_endpoint == "https://mail.firma.de/EWS/Exchange.asmx"
    assert account.protocol.auth_type == "NTLM"
    assert account.access_type == "delegate"
    assert account.primary_smtp_address == "zentrale@firma.de"
    assert account.protocol.credentials.username == "FIRMA\\telefonbuch"


def test_full_ews_address_is_kept_and_mailbox_defaults_to_user():
    src = ExchangeSource(url="https://ex01.firma.local/EWS/Exchange.asmx", login="tel@firma.de", password="x")
    assert src.endpoint == "https://ex01.firma.local/EWS/Exchange.asmx"
    assert src.mailbox == "tel@firma.de"


def test_reads_all_contacts_in_pages_and_skips_distribution_lists():
    folder = FakeFolder([contact(1), contact(2), DistributionList(display_name="Alle"), contact(3)])
    records = list(source(FakeAccount(folder)).fetch())
    assert [r.internal_id for r in records] == ["AAMkADk1AAA=", "AAMkADk2AAA=", "AAMkADk3AAA="]
    assert folder.only == CONTACT_FIELDS
    assert folder.page_sizes == [200]


def test_field_mapping():
    full = contact(
        1, display_name="Herr Dr. Paul Kunde", given_name="Paul", surname="Kunde",
        complete_name=CompleteName(title="Herr Dr.", first_name="Paul", last_name="Kunde"),
        job_title="Leiter IT", company_name="Kunde KG",
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+49 6131 1"),
                       PhoneNumber(label="HomePhone", phone_number="+49 6131 9"),
                       PhoneNumber(label="BusinessPhone2", phone_number="+49 6131 2"),
                       PhoneNumber(label="MobilePhone", phone_number="+49 171 1"),
                       PhoneNumber(label="BusinessFax", phone_number="+49 6131 3")],
        email_addresses=[EmailAddress(label="EmailAddress2", email="p2@kunde.de"),
                         EmailAddress(label="EmailAddress1", email="paul@kunde.de")],
    )
    sparse = contact(2, display_name=None, given_name=None, surname="Nur", phone_numbers=None)
    first, second = source(FakeAccount(FakeFolder([full, sparse]))).fetch()
    assert first == Record(
        internal_id="AAMkADk1AAA=", display_name="Herr Dr. Paul Kunde", family_name="Kunde", given_name="Paul",
        honorific_prefix="Dr.", gender="male",
        phones=[("WORK", "+49 6131 1"), ("WORK", "+49 6131 2"), ("MOBILE", "+49 171 1"), ("WORK_FAX", "+49 6131 3")],
        emails=[("WORK", "paul@kunde.de"), ("WORK", "p2@kunde.de")], company="Kunde KG", job_title="Leiter IT",
    )
    assert second == Record(internal_id="AAMkADk2AAA=", display_name="Nur", family_name="Nur")


def test_subfolder():
    firma = FakeFolder([contact(7)])
    account = FakeAccount(FakeFolder([contact(1)], children={"Firma": firma}))
    assert [r.internal_id for r in source(account, folder="Firma").fetch()] == ["AAMkADk7AAA="]
    with pytest.raises(SourceError, match="Ordner „Lieferanten“ nicht gefunden"):
        list(source(account, folder="Lieferanten").fetch())


def test_connection_reads_one_page():
    folder = FakeFolder([contact(n) for n in range(250)])
    assert source(FakeAccount(folder)).test_connection() == \
        "Verbindung erfolgreich – 200 Kontakte auf der ersten Seite gelesen."


@pytest.mark.parametrize("error, reason", [
    (ews.UnauthorizedError("Invalid credentials for https://mail.firma.de/EWS/Exchange.asmx"),
     "Anmeldung abgelehnt"),
    (ews.ErrorNonExistentMailbox("No mailbox with such guid"), "Postfach „zentrale@firma.de“ nicht gefunden"),
    (ews.ErrorAccessDenied("Access is denied."), "Berechtigung fehlt"),
    (ews.ErrorTimeoutExpired("Reraised from ConnectionError(HTTPSConnectionPool(host='mail.firma.de', port=443): "
                             "Max retries exceeded (Caused by NameResolutionError(...)))"),
     r"Server nicht gefunden \(mail.firma.de\)"),
    (ews.ErrorTimeoutExpired("Reraised from ConnectTimeout(... Connection to mail.firma.de timed out.)"),
     "Zeitüberschreitung"),
    (ews.TransportError("HTTPSConnectionPool(host='mail.firma.de', port=443): Max retries exceeded "
                        "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED]')))"),
     "TLS-Fehler"),
    (ews.MalformedResponseError("Unknown XML response"), "Unerwartete Antwort von mail.firma.de"),
    (ews.ErrorServerBusy("The server cannot service this request right now."), "ausgelastet"),
])
def test_errors_are_translated(error, reason, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError, match=reason) as failure:
        source(FakeAccount(error)).test_connection()
    assert PASSWORD not in str(failure.value) and PASSWORD not in caplog.text


def test_error_after_first_items_means_nothing_to_apply():
    folder = FakeFolder([contact(1), contact(2), ews.ErrorTimeoutExpired("Reraised from ConnectionError(reset)")])
    applied = None
    with pytest.raises(SourceError, match="Keine Verbindung zu mail.firma.de"):
        applied = list(source(FakeAccount(folder)).fetch())
    assert applied is None


def test_user_without_mailbox_must_name_it():
    src = ExchangeSource(url="mail.firma.de", login="FIRMA\\tel", password="x")
    with pytest.raises(SourceError, match="Bitte das Postfach"):
        src.test_connection()
