"""Salesforce as a phonebook source.

Authentication: OAuth 2.0 client-credentials flow of a connected app (or
external client app) at the org's My Domain – the username-password flow is
blocked in new orgs. The app needs "Client Credentials Flow" enabled and a
run-as user whose profile may read contacts through the API.
Contacts come from the REST query resource, up to 2,000 per page, following
`nextRecordsUrl` until `done` is true.
"""
from __future__ import annotations

from typing import Iterator
from urllib.parse import urljoin

from flask_babel import lazy_gettext as _l

from telephone import messages
from telephone.sync.base import Record, SourceError, SourceField, register
from telephone.sync.sources.http import (
    ApiSource, HttpClient, base_url, host_of, server_error, unexpected_answer,
)
from telephone.sync.sources.mapping import record, text

SYSTEM = "Salesforce"
API_VERSION = "v62.0"
QUERY = ("SELECT Id, Salutation, FirstName, LastName, Name, Title, Phone, MobilePhone, Fax, Email, Account.Name "
         "FROM Contact ORDER BY Id")

# error / error_description of the token endpoint → what the admin should do
TOKEN_ERRORS = {
    "invalid_client_id": messages.gettext("Der Consumer Key ist unbekannt. Bitte den Consumer Key der App prüfen."),
    "invalid_client": messages.gettext("Consumer Key oder Consumer Secret ist falsch."),
    "unsupported_grant_type": messages.gettext("Der Client-Credentials-Flow ist für diese App nicht aktiviert."),
}
TOKEN_DESCRIPTIONS = {
    "no client credentials user enabled": messages.gettext("In der App ist kein Ausführungsbenutzer („Run As“) für den "
                                          "Client-Credentials-Flow hinterlegt."),
    "request not supported on this domain": messages.gettext("Bitte die My-Domain-Adresse der Organisation verwenden "
                                            "(https://NAME.my.salesforce.com), nicht login.salesforce.com."),
    "app must be installed into org": messages.gettext("Die App ist in dieser Organisation nicht installiert."),
}
# errorCode of the REST API → German reason
API_ERRORS = {
    "INVALID_SESSION_ID": messages.gettext("Die Anmeldung wurde nicht angenommen (Sitzung ungültig)."),
    "API_DISABLED_FOR_ORG": messages.gettext("Der API-Zugriff ist für diese Organisation oder den Ausführungsbenutzer nicht freigeschaltet."),
    "API_CURRENTLY_DISABLED": messages.gettext("Der API-Zugriff ist für den Ausführungsbenutzer deaktiviert "
                              "(Berechtigung „API aktiviert“ fehlt)."),
    "REQUEST_LIMIT_EXCEEDED": messages.gettext("Das tägliche Limit für API-Anfragen der Organisation ist erreicht. "
                              "Bitte später erneut versuchen."),
    "INVALID_TYPE": messages.gettext("Berechtigung fehlt – der Ausführungsbenutzer darf Kontakte nicht lesen."),
    "INSUFFICIENT_ACCESS": messages.gettext("Berechtigung fehlt – der Ausführungsbenutzer darf Kontakte nicht lesen."),
    "INVALID_FIELD": messages.gettext("Berechtigung fehlt – der Ausführungsbenutzer darf nicht alle Kontaktfelder lesen "
                     "(Anrede, Name, Titel, Telefon, Mobil, Fax, E-Mail, Account-Name)."),
}


def contact_record(item: dict) -> Record:
    """A Contact row of the query result as a Record (`Title` is the job title)."""
    account = item.get("Account") if isinstance(item.get("Account"), dict) else {}
    return record(
        item.get("Id"), given=item.get("FirstName"), family=item.get("LastName"), display=item.get("Name"),
        salutation=item.get("Salutation"),
        phones=[("WORK", item.get("Phone")), ("MOBILE", item.get("MobilePhone")), ("WORK_FAX", item.get("Fax"))],
        emails=[item.get("Email")], company=account.get("Name"), job_title=item.get("Title"),
    )


@register
class SalesforceSource(ApiSource):
    """The contacts of a Salesforce org, read through the REST API."""

    type = "salesforce"
    label = _l("Salesforce")
    system = SYSTEM
    description = (
        _l("Liest alle Kontakte (Contact) einer Salesforce-Organisation. Dafür wird in Salesforce eine "
           "verbundene App mit aktiviertem Client-Credentials-Flow und einem Ausführungsbenutzer angelegt, "
           "der Kontakte über die API lesen darf.")
    )
    fields = (
        SourceField("url", _l("My-Domain-Adresse"), kind="url", column="url",
                    help=_l("Die Adresse Ihrer Organisation, z. B. https://firma.my.salesforce.com "
                            "(Setup → „Meine Domäne“).")),
        SourceField("consumer_key", _l("Consumer Key"), column="login",
                    help=_l("Aus der verbundenen App: „Consumer-Schlüssel und -Geheimnis verwalten“.")),
        SourceField("consumer_secret", _l("Consumer Secret"), kind="password", column="password",
                    help=_l("Das zugehörige Consumer-Geheimnis der verbundenen App.")),
    )

    def _authenticate(self, client: HttpClient) -> tuple[str, str]:
        """(access token, instance URL) from the client-credentials flow."""
        domain = base_url(self.url, SYSTEM, messages.gettext("My-Domain-Adresse"))
        if not text(self.login) or not self.password:
            raise SourceError(messages.gettext("%(system)s: Bitte Consumer Key und Consumer Secret angeben.",
                                               system=SYSTEM))
        response = client.request("POST", f"{domain}/services/oauth2/token", data={
            "grant_type": "client_credentials",
            "client_id": text(self.login),
            "client_secret": self.password,
        }, headers={"Accept": "application/json"})
        if response.status_code in (400, 401, 403):
            raise self._token_error(response)
        if response.status_code != 200:
            raise server_error(SYSTEM, response)
        data = client.json(response)
        token = data.get("access_token") if isinstance(data, dict) else None
        instance = text(data.get("instance_url")) if isinstance(data, dict) else ""
        if not token or not instance.startswith("https://"):
            raise unexpected_answer(SYSTEM, host_of(domain), messages.gettext("kein Zugriffstoken"))
        return token, instance.rstrip("/")

    @staticmethod
    def _token_error(response) -> SourceError:
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        error, description = text(data.get("error")), text(data.get("error_description"))
        for phrase, reason in TOKEN_DESCRIPTIONS.items():
            if phrase in description.lower():
                return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – %(reason)s",
                                                    system=SYSTEM, reason=reason))
        if error in TOKEN_ERRORS:
            return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – %(reason)s",
                                                system=SYSTEM, reason=TOKEN_ERRORS[error]))
        if error:
            return SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt (%(error)s). Bitte Adresse, "
                                                "Consumer Key und Consumer Secret prüfen.",
                                                system=SYSTEM, error=error))
        return unexpected_answer(SYSTEM, host_of(response.url or ""), f"HTTP {response.status_code}")

    @staticmethod
    def _api_error(response) -> SourceError:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            code = text(data[0].get("errorCode"))
            if code in API_ERRORS:
                return SourceError(messages.gettext("%(system)s: %(reason)s", system=SYSTEM, reason=API_ERRORS[code]))
            if code:
                return SourceError(messages.gettext("%(system)s: Die Abfrage der Kontakte wurde abgelehnt "
                                                    "(%(code)s).", system=SYSTEM, code=code))
        if response.status_code in (401, 403):
            return SourceError(messages.gettext("%(system)s: Berechtigung fehlt – der Ausführungsbenutzer "
                                                "darf Kontakte nicht über die API lesen.", system=SYSTEM))
        return server_error(SYSTEM, response)

    def _pages(self, client: HttpClient) -> Iterator[list[Record]]:
        token, instance = self._authenticate(client)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        url, params = f"{instance}/services/data/{API_VERSION}/query", {"q": QUERY}
        while True:
            response = client.request("GET", url, params=params, headers=headers)
            if response.status_code != 200:
                raise self._api_error(response)
            data = client.json(response)
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise unexpected_answer(SYSTEM, host_of(instance), messages.gettext("Liste „records“ fehlt"))
            yield [contact_record(item) for item in data["records"] if isinstance(item, dict)]
            if data.get("done", True) or not data.get("nextRecordsUrl"):
                return
            url, params = urljoin(instance + "/", data["nextRecordsUrl"]), None
            if host_of(url) != host_of(instance):
                raise unexpected_answer(SYSTEM, host_of(url), messages.gettext("Folgeseite auf fremdem Server"))
