"""Microsoft 365 (Microsoft Graph) as a phonebook source.

Authentication is the OAuth client-credentials flow of an app registration in
Microsoft Entra ID, done by `msal`. msal first reads the tenant's OpenID
discovery document (`GET https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration`;
no instance discovery, because login.microsoftonline.com is a host msal knows)
and then posts to the token endpoint named there. `instance_discovery=False`
switches off msal's extra alias lookup at `/common/discovery/instance`, which
msal otherwise makes when it searches its token cache (e.g. after a failed
token request) and which adds nothing for the public cloud. An unknown tenant makes that
discovery fail with HTTP 400, which msal raises as ValueError.

Two modes:
- "mailbox": the contacts in the default contacts folder of one mailbox
  (application permission Contacts.Read),
- "directory": the organisation's users and organisational contacts
  (application permissions User.Read.All and OrgContact.Read.All).
"""
from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import quote

import msal
import requests

from flask_babel import lazy_gettext as _l

from telephone import messages
from telephone.sync.base import Record, SourceError, SourceField, register
from telephone.sync.sources.http import (
    ApiSource, HttpClient, host_of, network_error, server_error, unexpected_answer,
)
from telephone.sync.sources.mapping import record, text

SYSTEM = "Microsoft 365"
LOGIN_HOST = "login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PAGE_SIZE = 100

CONTACT_FIELDS = "id,displayName,givenName,surname,title,businessPhones,mobilePhone,emailAddresses,companyName,jobTitle"
USER_FIELDS = "id,displayName,givenName,surname,businessPhones,mobilePhone,faxNumber,mail,jobTitle,companyName"
ORG_CONTACT_FIELDS = "id,displayName,givenName,surname,phones,mail,jobTitle,companyName"

# Entra ID error codes (AADSTS…) that an admin can fix, with what to do.
AADSTS_REASONS = {
    7000215: messages.gettext("Der geheime Clientschlüssel ist falsch. Bitte den Wert des Geheimnisses eintragen (nicht seine ID)."),
    7000222: messages.gettext("Der geheime Clientschlüssel ist abgelaufen. Bitte im Entra Admin Center einen neuen erstellen."),
    700016: messages.gettext("Die Anwendungs-ID (Client-ID) ist in diesem Verzeichnis nicht bekannt."),
    700023: messages.gettext("Die Anwendungs-ID (Client-ID) ist in diesem Verzeichnis nicht bekannt."),
    90002: messages.gettext("Das Verzeichnis (Tenant-ID) wurde nicht gefunden."),
    900023: messages.gettext("Die Tenant-ID ist ungültig (erwartet: GUID oder Domäne wie firma.onmicrosoft.com)."),
    7000112: messages.gettext("Die App-Registrierung ist deaktiviert."),
    90014: messages.gettext("Die Anmeldedaten sind unvollständig."),
    500011: messages.gettext("Microsoft Graph ist in diesem Verzeichnis nicht verfügbar."),
}

PERMISSION_HINT = {
    "mailbox": "Contacts.Read",
    "directory": messages.gettext("User.Read.All und OrgContact.Read.All"),
}

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")


ORG_PHONE_TYPES = {"business": "WORK", "mobile": "MOBILE", "businessFax": "WORK_FAX"}


def contact_record(item: dict) -> Record:
    """A personal contact (Outlook contacts folder) as a Record; `title` is the salutation/degree."""
    return record(
        item.get("id"), given=item.get("givenName"), family=item.get("surname"), display=item.get("displayName"),
        salutation=item.get("title"),
        phones=[*(("WORK", n) for n in item.get("businessPhones") or ()), ("MOBILE", item.get("mobilePhone"))],
        emails=[e.get("address") for e in item.get("emailAddresses") or () if isinstance(e, dict)],
        company=item.get("companyName"), job_title=item.get("jobTitle"),
    )


def user_record(item: dict) -> Record:
    """A user of the organisation's directory as a Record."""
    return record(
        item.get("id"), given=item.get("givenName"), family=item.get("surname"), display=item.get("displayName"),
        phones=[*(("WORK", n) for n in item.get("businessPhones") or ()), ("MOBILE", item.get("mobilePhone")),
                ("WORK_FAX", item.get("faxNumber"))],
        emails=[item.get("mail")], company=item.get("companyName"), job_title=item.get("jobTitle"),
    )


def org_contact_record(item: dict) -> Record:
    """An organisational contact (mail contact in the directory) as a Record."""
    return record(
        item.get("id"), given=item.get("givenName"), family=item.get("surname"), display=item.get("displayName"),
        phones=[(ORG_PHONE_TYPES[p.get("type")], p.get("number")) for p in item.get("phones") or ()
                if isinstance(p, dict) and p.get("type") in ORG_PHONE_TYPES],
        emails=[item.get("mail")], company=item.get("companyName"), job_title=item.get("jobTitle"),
    )


@register
class Microsoft365Source(ApiSource):
    """Contacts of one mailbox or the whole directory, read through Microsoft Graph."""

    type = "m365"
    label = _l("Microsoft 365")
    system = SYSTEM
    description = (
        _l("Liest Kontakte über Microsoft Graph. Dafür wird im Microsoft Entra Admin Center eine "
           "App-Registrierung mit geheimem Clientschlüssel angelegt und ihr die Anwendungsberechtigung "
           "Contacts.Read (Kontakte eines Postfachs) bzw. User.Read.All und OrgContact.Read.All "
           "(Verzeichnis der Organisation) mit Administratorzustimmung erteilt. "
           "Auch für Exchange Online ist diese Schnittstelle zu verwenden.")
    )
    fields = (
        SourceField("tenant_id", _l("Verzeichnis-ID (Tenant-ID)"),
                    help=_l("In der App-Registrierung unter „Übersicht“: Verzeichnis-ID (Mandanten-ID), "
                            "eine GUID oder die Domäne wie firma.onmicrosoft.com.")),
        SourceField("client_id", _l("Anwendungs-ID (Client-ID)"), column="login",
                    help=_l("In der App-Registrierung unter „Übersicht“: Anwendungs-ID (Client-ID).")),
        SourceField("client_secret", _l("Geheimer Clientschlüssel"), kind="password", column="password",
                    help=_l("Unter „Zertifikate & Geheimnisse“: der Wert des Geheimnisses (nicht die Geheimnis-ID). "
                            "Er läuft ab – rechtzeitig einen neuen eintragen.")),
        SourceField("mode", _l("Was wird gelesen?"), kind="select", default="mailbox",
                    choices=(("mailbox", _l("Kontakte eines Postfachs")),
                             ("directory", _l("Verzeichnis der Organisation (Benutzer und Kontakte)"))),
                    help=_l("Postfach: der Ordner „Kontakte“ eines Postfachs (Berechtigung Contacts.Read). "
                            "Verzeichnis: alle Benutzer und Organisationskontakte "
                            "(Berechtigungen User.Read.All und OrgContact.Read.All).")),
        SourceField("mailbox", _l("Postfach (Benutzerprinzipalname)"), kind="email", required=False,
                    help=_l("Nur für „Kontakte eines Postfachs“: z. B. telefonbuch@firma.de.")),
    )

    # ------------------------------------------------------------------ settings

    @property
    def tenant(self) -> str:
        return text(self.options.get("tenant_id"))

    @property
    def mode(self) -> str:
        return self.options.get("mode") or "mailbox"

    @property
    def mailbox(self) -> str:
        return text(self.options.get("mailbox"))

    def _check_settings(self) -> None:
        if not self.tenant or not _TENANT.match(self.tenant):
            raise SourceError(messages.gettext("%(system)s: Bitte eine gültige Verzeichnis-ID (Tenant-ID) "
                                               "angeben.", system=SYSTEM))
        if not text(self.login):
            raise SourceError(messages.gettext("%(system)s: Bitte die Anwendungs-ID (Client-ID) angeben.",
                                               system=SYSTEM))
        if not self.password:
            raise SourceError(messages.gettext("%(system)s: Bitte den geheimen Clientschlüssel angeben.",
                                               system=SYSTEM))
        if self.mode not in PERMISSION_HINT:
            raise SourceError(messages.gettext("%(system)s: Unbekannte Auswahl „%(mode)s“ bei „Was wird "
                                               "gelesen?“.", system=SYSTEM, mode=self.mode))
        if self.mode == "mailbox" and "@" not in self.mailbox:
            raise SourceError(messages.gettext("%(system)s: Bitte das Postfach angeben, dessen Kontakte "
                                               "gelesen werden (z. B. telefonbuch@firma.de).", system=SYSTEM))

    # ------------------------------------------------------------------ token

    def _acquire_token(self) -> str:
        """An app-only access token for Microsoft Graph, or SourceError with the reason."""
        try:
            app = msal.ConfidentialClientApplication(
                text(self.login),
                authority=f"https://{LOGIN_HOST}/{self.tenant}",
                client_credential=self.password,
                timeout=self.timeout,
                # The authority is the public cloud; skip msal's alias lookup at
                # /common/discovery/instance (the tenant's OpenID discovery still runs).
                instance_discovery=False,
            )
            result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except requests.exceptions.RequestException as exc:
            raise network_error(exc, LOGIN_HOST, SYSTEM) from None
        except ValueError as exc:
            # msal raises ValueError when the tenant's OpenID discovery fails (HTTP 4xx)
            # or its answer is not JSON.
            if "authority" in str(exc).lower() or "tenant" in str(exc).lower():
                raise SourceError(messages.gettext("%(system)s: Das Verzeichnis (Tenant-ID „%(tenant)s“) "
                                                   "wurde nicht gefunden. Bitte die Verzeichnis-ID prüfen.",
                                                   system=SYSTEM, tenant=self.tenant)) from None
            raise unexpected_answer(SYSTEM, LOGIN_HOST) from None
        if not isinstance(result, dict):
            raise unexpected_answer(SYSTEM, LOGIN_HOST)
        token = result.get("access_token")
        if token:
            return token
        raise self._token_error(result)

    @staticmethod
    def _token_error(result: dict) -> SourceError:
        codes = [c for c in result.get("error_codes") or () if isinstance(c, int)]
        if not codes:
            match = re.search(r"AADSTS(\d+)", text(result.get("error_description")))
            codes = [int(match.group(1))] if match else []
        for code in codes:
            if code in AADSTS_REASONS:
                return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – %(reason)s (AADSTS%(code)s)",
                                                    system=SYSTEM, reason=AADSTS_REASONS[code], code=code))
        error = text(result.get("error"))
        if error == "invalid_client":
            return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – Anwendungs-ID oder "
                                                "geheimer Clientschlüssel ist falsch.", system=SYSTEM))
        suffix = f" (AADSTS{codes[0]})" if codes else (f" ({error})" if error else "")
        return SourceError(messages.gettext("%(system)s: Anmeldung bei Microsoft abgelehnt%(suffix)s. Bitte "
                                            "Tenant-ID, Client-ID und geheimen Clientschlüssel prüfen.",
                                            system=SYSTEM, suffix=suffix))

    # ------------------------------------------------------------------ Graph

    def _graph_pages(self, client: HttpClient, token: str, url: str) -> Iterator[list[dict]]:
        """Yield the `value` list of every page, following `@odata.nextLink`."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        while url:
            if host_of(url) != "graph.microsoft.com":
                raise unexpected_answer(SYSTEM, host_of(url),
                                        messages.gettext("Folgeseite außerhalb von Microsoft Graph"))
            response = client.request("GET", url, headers=headers)
            if response.status_code in (401, 403):
                raise SourceError(
                    messages.gettext("%(system)s: Berechtigung fehlt – die App braucht die "
                                     "Anwendungsberechtigung %(mode)s mit Administratorzustimmung "
                                     "(Contacts.Read bzw. User.Read.All/OrgContact.Read.All).",
                                     system=SYSTEM, mode=PERMISSION_HINT[self.mode])
                )
            if response.status_code == 404 and self.mode == "mailbox":
                raise SourceError(messages.gettext("%(system)s: Postfach „%(mailbox)s“ nicht gefunden oder "
                                                   "ohne Exchange-Online-Lizenz. Bitte den "
                                                   "Benutzerprinzipalnamen prüfen.",
                                                   system=SYSTEM, mailbox=self.mailbox))
            if response.status_code != 200:
                raise server_error(SYSTEM, response)
            data = client.json(response)
            if not isinstance(data, dict) or not isinstance(data.get("value"), list):
                raise unexpected_answer(SYSTEM, "graph.microsoft.com", messages.gettext("Liste „value“ fehlt"))
            yield [item for item in data["value"] if isinstance(item, dict)]
            url = data.get("@odata.nextLink")

    def _collections(self):
        """(first page URL, mapping function) for each list the mode reads."""
        if self.mode == "mailbox":
            upn = quote(self.mailbox, safe="@")
            return [(f"{GRAPH}/users/{upn}/contacts?$select={CONTACT_FIELDS}&$top={PAGE_SIZE}", contact_record)]
        return [
            (f"{GRAPH}/users?$select={USER_FIELDS}&$top={PAGE_SIZE}", user_record),
            (f"{GRAPH}/contacts?$select={ORG_CONTACT_FIELDS}&$top={PAGE_SIZE}", org_contact_record),
        ]

    def _pages(self, client: HttpClient) -> Iterator[list[Record]]:
        """Get a token, then yield every page of every list the mode reads."""
        self._check_settings()
        token = self._acquire_token()
        for url, to_record in self._collections():
            for page in self._graph_pages(client, token, url):
                yield [to_record(item) for item in page]

    def _reads_users(self) -> bool:
        return self.mode != "mailbox"
