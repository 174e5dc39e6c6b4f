"""SugarCRM as a phonebook source (REST API v11).

Login with the OAuth 2.0 password grant of Sugar's built-in client "sugar"
(empty client secret). Sugar ends an earlier session of the same user on the
same *platform*, so the source logs in on a platform of its own (default
"telefonie"); since Sugar 8 an admin registers custom platforms under
Administration → "Configure API Platforms".

Contacts are read with `GET /rest/v11/Contacts` in pages of 200, following
`next_offset` until it is -1 (the source also stops on an empty page). An
access token that expires during the pages is refreshed with the refresh token
(or, if that fails, by a new password login) once per request.

Note: SuiteCRM is not SugarCRM – its API (`/Api/V8`) differs and is not
supported by this source.
"""
from __future__ import annotations

from typing import Iterator

from flask_babel import lazy_gettext as _l

from telephone import messages
from telephone.sync.base import Record, SourceError, SourceField, register
from telephone.sync.sources.http import ApiSource, HttpClient, base_url, host_of, server_error, unexpected_answer
from telephone.sync.sources.mapping import record, text

SYSTEM = "SugarCRM"
PAGE_SIZE = 200
CONTACT_FIELDS = "first_name,last_name,salutation,title,phone_work,phone_mobile,phone_fax,email,account_name"
DEFAULT_PLATFORM = "telefonie"


def contact_record(item: dict) -> Record:
    """A Sugar Contacts record as a Record (`title` is the job title, `salutation` the form of address)."""
    addresses = [e for e in item.get("email") or () if isinstance(e, dict) and not e.get("invalid_email")]
    addresses.sort(key=lambda e: not e.get("primary_address"))
    return record(
        item.get("id"), given=item.get("first_name"), family=item.get("last_name"), salutation=item.get("salutation"),
        phones=[("WORK", item.get("phone_work")), ("MOBILE", item.get("phone_mobile")),
                ("WORK_FAX", item.get("phone_fax"))],
        emails=[e.get("email_address") for e in addresses],
        company=item.get("account_name"), job_title=item.get("title"),
    )


class _Session:
    """The OAuth tokens of one run, with login and refresh."""

    def __init__(self, source: "SugarCRMSource", client: HttpClient, api: str):
        self.source = source
        self.client = client
        self.api = api
        self.access_token = ""
        self.refresh_token = ""

    def _token_request(self, grant: dict) -> dict | None:
        body = {"client_id": "sugar", "client_secret": "", "platform": self.source.platform, **grant}
        response = self.client.request("POST", f"{self.api}/oauth2/token", json=body,
                                       headers={"Accept": "application/json"})
        if response.status_code == 200:
            data = self.client.json(response)
            if isinstance(data, dict) and data.get("access_token"):
                return data
            raise unexpected_answer(SYSTEM, host_of(self.api), messages.gettext("kein Zugriffstoken"))
        if response.status_code in (400, 401, 403):
            return None if grant["grant_type"] == "refresh_token" else self._login_error(response)
        if response.status_code == 404:
            raise SourceError(messages.gettext("%(system)s: Unter dieser Adresse gibt es keine "
                                               "SugarCRM-REST-API (/rest/v11). Bitte die Adresse der "
                                               "Sugar-Instanz prüfen. SuiteCRM wird nicht unterstützt.",
                                               system=SYSTEM))
        raise server_error(SYSTEM, response)

    def _login_error(self, response) -> None:
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        message = text(data.get("error_message")).lower()
        if "platform" in message:
            raise SourceError(
                messages.gettext("%(system)s: Die Plattform „%(platform)s“ ist in Sugar nicht freigegeben. "
                                 "Bitte unter Administration → „Configure API Platforms“ eintragen oder eine "
                                 "freigegebene Plattform wählen.", system=SYSTEM, platform=self.source.platform))
        if "lock" in message or "too many" in message:
            raise SourceError(messages.gettext("%(system)s: Der Benutzer ist nach zu vielen Fehlversuchen "
                                               "gesperrt.", system=SYSTEM))
        raise SourceError(messages.gettext("%(system)s: Anmeldung abgelehnt – Benutzername oder Passwort ist "
                                           "falsch.", system=SYSTEM))

    def login(self) -> None:
        """Password login."""
        data = self._token_request({"grant_type": "password", "username": text(self.source.login),
                                    "password": self.source.password})
        self.access_token, self.refresh_token = data["access_token"], text(data.get("refresh_token"))

    def renew(self) -> None:
        """New tokens after expiry: refresh grant first, password login if that is refused."""
        data = self._token_request({"grant_type": "refresh_token", "refresh_token": self.refresh_token}) \
            if self.refresh_token else None
        if data is None:
            self.login()
        else:
            self.access_token, self.refresh_token = data["access_token"], text(data.get("refresh_token"))

    def get(self, path: str, params: dict):
        """GET with the OAuth-Token header; one renewal on HTTP 401."""
        for attempt in (1, 2):
            response = self.client.request("GET", f"{self.api}/{path}", params=params,
                                           headers={"OAuth-Token": self.access_token, "Accept": "application/json"})
            if response.status_code != 401:
                break
            if attempt == 1:
                self.renew()
        if response.status_code == 401:
            raise SourceError(messages.gettext("%(system)s: Die Anmeldung wird nicht angenommen (HTTP 401). "
                                               "Bitte Benutzer, Passwort und Plattform prüfen.", system=SYSTEM))
        if response.status_code == 403:
            raise SourceError(messages.gettext("%(system)s: Berechtigung fehlt – der Benutzer darf das Modul "
                                               "Kontakte nicht lesen. Bitte seine Rolle in Sugar prüfen.",
                                               system=SYSTEM))
        if response.status_code == 404:
            raise SourceError(messages.gettext("%(system)s: Unter dieser Adresse gibt es keine "
                                               "SugarCRM-REST-API (/rest/v11). SuiteCRM wird nicht "
                                               "unterstützt.", system=SYSTEM))
        if response.status_code != 200:
            raise server_error(SYSTEM, response)
        return self.client.json(response)


@register
class SugarCRMSource(ApiSource):
    """The contacts of a SugarCRM instance (not SuiteCRM)."""

    type = "sugarcrm"
    label = _l("SugarCRM")
    system = SYSTEM
    description = (
        _l("Liest alle Kontakte einer SugarCRM-Instanz über die REST-API (v11). "
           "Der Benutzer braucht Leserechte auf das Modul Kontakte. SuiteCRM wird nicht unterstützt.")
    )
    fields = (
        SourceField("url", _l("Adresse der Sugar-Instanz"), kind="url", column="url",
                    help=_l("Die Adresse, unter der Sugar im Browser geöffnet wird, z. B. https://firma.sugarondemand.com.")),
        SourceField("login", _l("Benutzername"), column="login",
                    help=_l("Am besten ein eigener Benutzer nur für das Telefonbuch mit Leserecht auf Kontakte.")),
        SourceField("password", _l("Passwort"), kind="password", column="password"),
        SourceField("platform", _l("Plattform"), default=DEFAULT_PLATFORM, required=False,
                    help=_l("Sugar beendet eine frühere Sitzung desselben Benutzers auf derselben Plattform. "
                            "Eine eigene Plattform (z. B. „telefonie“) verhindert, dass die Synchronisierung "
                            "andere Sitzungen abmeldet; ab Sugar 8 muss sie unter Administration → "
                            "„Configure API Platforms“ eingetragen sein.")),
    )

    @property
    def platform(self) -> str:
        return text(self.options.get("platform")) or DEFAULT_PLATFORM

    def _pages(self, client: HttpClient) -> Iterator[list[Record]]:
        api = base_url(self.url, SYSTEM, messages.gettext("Adresse der Sugar-Instanz")) + "/rest/v11"
        if not text(self.login) or not self.password:
            raise SourceError(messages.gettext("%(system)s: Bitte Benutzername und Passwort angeben.",
                                               system=SYSTEM))
        session = _Session(self, client, api)
        session.login()
        offset = 0
        while True:
            data = session.get("Contacts", {"fields": CONTACT_FIELDS, "max_num": PAGE_SIZE, "offset": offset,
                                            "order_by": "date_entered:asc"})
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise unexpected_answer(SYSTEM, host_of(api), messages.gettext("Liste „records“ fehlt"))
            records = [item for item in data["records"] if isinstance(item, dict)]
            if records:
                yield [contact_record(item) for item in records]
            next_offset = data.get("next_offset", -1)
            if not records or not isinstance(next_offset, int) or next_offset <= offset:
                return  # -1 ends the list; anything not moving forward would loop
            offset = next_offset
