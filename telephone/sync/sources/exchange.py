"""Exchange Server (on premises) as a phonebook source, through Exchange Web Services.

`exchangelib` talks EWS with NTLM to the given endpoint (no autodiscover) and
reads the contacts folder of one mailbox with delegate access. Exchange Online
switched EWS off (blocked since 2026-10-01): Exchange Online customers use the
Microsoft 365 source instead.

The network boundary is `ExchangeSource._account()`: it builds the exchangelib
Account; tests replace it with a fake account that has the same attributes.
"""
from __future__ import annotations

import logging
from typing import Iterable
from urllib.parse import urlparse

import requests
from exchangelib import errors as ews

from flask_babel import lazy_gettext as _l

from telephone import messages
from telephone.sync.base import Record, Source, SourceError, SourceField, register
from telephone.sync.sources.http import base_url, first_page_read, host_of, network_error
from telephone.sync.sources.mapping import record, text

log = logging.getLogger(__name__)

SYSTEM = "Exchange"
PAGE_SIZE = 200
EWS_PATH = "/EWS/Exchange.asmx"
CONTACT_FIELDS = ("id", "display_name", "given_name", "surname", "complete_name", "job_title", "company_name",
                  "phone_numbers", "email_addresses")
PHONE_LABELS = {
    "BusinessPhone": "WORK",
    "BusinessPhone2": "WORK",
    "CompanyMainPhone": "WORK",
    "MobilePhone": "MOBILE",
    "BusinessFax": "WORK_FAX",
}
DEFAULT_FOLDER_NAMES = {"", "contacts", "kontakte"}


def contact_record(item) -> Record:
    """An exchangelib Contact as a Record (business, mobile and fax numbers; home numbers stay private)."""
    emails = sorted(getattr(item, "email_addresses", None) or (), key=lambda e: text(e.label))
    return record(
        item.id, given=item.given_name, family=item.surname, display=item.display_name,
        salutation=getattr(getattr(item, "complete_name", None), "title", None),
        phones=[(PHONE_LABELS[p.label], p.phone_number) for p in getattr(item, "phone_numbers", None) or ()
                if p.label in PHONE_LABELS],
        emails=[e.email for e in emails], company=item.company_name, job_title=item.job_title,
    )


def _connection_reason(message: str, host: str) -> SourceError:
    lowered = message.lower()
    if any(marker in lowered for marker in ("nameresolution", "name or service not known", "getaddrinfo",
                                            "temporary failure in name resolution", "nodename nor servname")):
        return SourceError(messages.gettext("%(system)s: Server nicht gefunden (%(host)s). Bitte die Adresse "
                                            "prüfen.", system=SYSTEM, host=host))
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return SourceError(messages.gettext("%(system)s: TLS-Fehler bei der Verbindung zu %(host)s – das "
                                            "Zertifikat des Servers ist ungültig, abgelaufen oder nicht "
                                            "vertrauenswürdig.", system=SYSTEM, host=host))
    if "timeout" in lowered or "timed out" in lowered:
        return SourceError(messages.gettext("%(system)s: Zeitüberschreitung bei der Verbindung zu %(host)s.",
                                            system=SYSTEM, host=host))
    return SourceError(messages.gettext("%(system)s: Keine Verbindung zu %(host)s möglich (Verbindung "
                                        "abgelehnt oder abgebrochen).", system=SYSTEM, host=host))


@register
class ExchangeSource(Source):
    """The contacts folder of one mailbox on an Exchange Server in the office's own network."""

    type = "exchange"
    label = _l("Exchange Server")
    description = (
        _l("Für einen eigenen Exchange Server (on premises): liest den Kontakte-Ordner eines Postfachs über "
           "Exchange Web Services (EWS) mit NTLM-Anmeldung. Exchange Online bietet EWS nicht mehr an "
           "(seit 1. Oktober 2026 gesperrt) – für Exchange Online bitte die Schnittstelle „Microsoft 365“ verwenden.")
    )
    fields = (
        SourceField("url", _l("Server"), kind="url", column="url",
                    help=_l("EWS-Adresse wie https://mail.firma.de/EWS/Exchange.asmx oder nur der Servername "
                            "(mail.firma.de). Der Server braucht ein gültiges TLS-Zertifikat.")),
        SourceField("login", _l("Benutzer"), column="login",
                    help=_l("Windows-Anmeldename wie FIRMA\\telefonbuch oder telefonbuch@firma.de.")),
        SourceField("password", _l("Passwort"), kind="password", column="password"),
        SourceField("mailbox", _l("Postfach"), kind="email", required=False,
                    help=_l("Primäre SMTP-Adresse des Postfachs, dessen Kontakte gelesen werden. Leer = das Postfach "
                            "des Benutzers (dann muss der Benutzer als E-Mail-Adresse angegeben sein). Für ein "
                            "fremdes Postfach braucht der Benutzer Lesezugriff auf dessen Kontakte-Ordner.")),
        SourceField("folder", _l("Ordner"), required=False, default="",
                    help=_l("Leer = der Ordner „Kontakte“. Sonst ein Unterordner davon, z. B. „Firma“ "
                            "oder „Firma/Lieferanten“.")),
    )

    # ------------------------------------------------------------------ settings

    @property
    def endpoint(self) -> str:
        url = base_url(self.url, SYSTEM, messages.gettext("Serveradresse"))
        return url if urlparse(url).path not in ("", "/") else url + EWS_PATH

    @property
    def mailbox(self) -> str:
        mailbox = text(self.options.get("mailbox"))
        if mailbox:
            return mailbox
        return text(self.login) if "@" in text(self.login) and "\\" not in text(self.login) else ""

    @property
    def folder_path(self) -> list[str]:
        folder = text(self.options.get("folder")).strip("/")
        if folder.lower() in DEFAULT_FOLDER_NAMES:
            return []
        return [part.strip() for part in folder.split("/") if part.strip()]

    def _check_settings(self) -> None:
        self.endpoint  # noqa: B018 - validates the address
        if not text(self.login) or not self.password:
            raise SourceError(messages.gettext("%(system)s: Bitte Benutzer und Passwort angeben.",
                                               system=SYSTEM))
        if "@" not in self.mailbox:
            raise SourceError(messages.gettext("%(system)s: Bitte das Postfach als E-Mail-Adresse angeben "
                                               "(oder den Benutzer als E-Mail-Adresse).", system=SYSTEM))

    # ------------------------------------------------------------------ exchangelib boundary

    def _account(self):
        """The exchangelib Account for the mailbox (NTLM, delegate access, no autodiscover)."""
        from exchangelib import DELEGATE, NTLM, Account, Configuration, Credentials, FailFast

        config = Configuration(
            service_endpoint=self.endpoint,
            credentials=Credentials(text(self.login), self.password),
            auth_type=NTLM,
            retry_policy=FailFast(),
        )
        return Account(primary_smtp_address=self.mailbox, config=config, autodiscover=False, access_type=DELEGATE)

    def _folder(self, account):
        folder = account.contacts
        for part in self.folder_path:
            folder = folder / part
        return folder

    def _items(self, limit: int | None = None):
        from exchangelib import DistributionList

        account = self._account()
        query = self._folder(account).all().only(*CONTACT_FIELDS)
        query.page_size = PAGE_SIZE
        if limit:
            query = query[:limit]
        for item in query:
            if not isinstance(item, (DistributionList, Exception)):
                yield item
            elif isinstance(item, Exception):
                raise item

    def _translate(self, exc: Exception) -> SourceError:
        """A German SourceError for an exchangelib or network failure (never with the raw message)."""
        host = host_of(self.endpoint)
        log.info("Exchange source failed with %s", type(exc).__name__)
        if isinstance(exc, ews.UnauthorizedError):
            return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – Benutzer oder Passwort "
                                                "ist falsch, das Konto ist gesperrt oder NTLM ist am Server "
                                                "nicht erlaubt.", system=SYSTEM))
        if isinstance(exc, (ews.ErrorNonExistentMailbox, ews.ErrorInvalidSmtpAddress)):
            return SourceError(messages.gettext("%(system)s: Postfach „%(mailbox)s“ nicht gefunden.",
                                                system=SYSTEM, mailbox=self.mailbox))
        if isinstance(exc, ews.ErrorFolderNotFound):
            return SourceError(messages.gettext("%(system)s: Ordner „%(folder)s“ nicht gefunden.", system=SYSTEM,
                                                folder="/".join(self.folder_path) or messages.gettext("Kontakte")))
        if isinstance(exc, (ews.ErrorAccessDenied, ews.ErrorMailboxLogonFailed, ews.ErrorImpersonateUserDenied,
                            ews.ErrorImpersonationDenied)):
            return SourceError(messages.gettext("%(system)s: Berechtigung fehlt – der Benutzer darf die "
                                                "Kontakte des Postfachs „%(mailbox)s“ nicht lesen "
                                                "(Ordnerberechtigung oder Vollzugriff nötig).",
                                                system=SYSTEM, mailbox=self.mailbox))
        if isinstance(exc, (ews.RateLimitError, ews.ErrorServerBusy)):
            return SourceError(messages.gettext("%(system)s: Der Server ist ausgelastet und bremst die "
                                                "Abfragen. Bitte später erneut versuchen.", system=SYSTEM))
        if isinstance(exc, ews.RedirectError):
            return SourceError(messages.gettext("%(system)s: Der Server leitet die Anfrage um. Bitte die "
                                                "vollständige EWS-Adresse angeben "
                                                "(https://%(host)s%(ews_path)s).",
                                                system=SYSTEM, host=host, ews_path=EWS_PATH))
        if isinstance(exc, ews.ErrorTimeoutExpired):
            return _connection_reason(str(exc), host)  # exchangelib re-raises network errors as this
        if isinstance(exc, (ews.MalformedResponseError, ews.CASError, ews.SOAPError)):
            return SourceError(messages.gettext("%(system)s: Unerwartete Antwort von %(host)s. Ist die "
                                                "Adresse der EWS-Endpunkt (https://%(host)s%(ews_path)s)?",
                                                system=SYSTEM, host=host, ews_path=EWS_PATH))
        if isinstance(exc, requests.exceptions.RequestException):
            return network_error(exc, host, SYSTEM)
        if isinstance(exc, (ews.TransportError, ConnectionError, OSError)):
            return _connection_reason(str(exc), host)
        if isinstance(exc, ews.EWSError):
            return SourceError(messages.gettext("%(system)s: Der Server meldet einen Fehler (%(error)s).",
                                                system=SYSTEM, error=type(exc).__name__))
        return SourceError(messages.gettext("%(system)s: Unerwarteter Fehler beim Lesen der Kontakte "
                                            "(%(error)s).", system=SYSTEM, error=type(exc).__name__))

    # ------------------------------------------------------------------ Source

    def fetch(self) -> Iterable[Record]:
        """Yield every contact of the folder (distribution lists are skipped)."""
        self._check_settings()
        try:
            for item in self._items():
                yield contact_record(item)
        except (ews.EWSError, requests.exceptions.RequestException, OSError, ValueError) as exc:
            raise self._translate(exc) from None

    def test_connection(self) -> str:
        """Log in and read one page of contacts."""
        self._check_settings()
        try:
            count = sum(1 for _ in self._items(limit=PAGE_SIZE))
        except (ews.EWSError, requests.exceptions.RequestException, OSError, ValueError) as exc:
            raise self._translate(exc) from None
        return first_page_read(count)
