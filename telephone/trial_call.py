"""The admin's test call: a signed IncomingCall → CallAccepted → HungUp through the real webhook.

The events are posted from a background thread through the app's own WSGI
stack (Flask's test client), so signature check, storage and publishing run
exactly as for Placetel, with pauses in between so that the admin watches the
banner change. No network round trip: it works behind any proxy or TLS set-up.
"""
from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Flask, url_for
from flask_babel import gettext as _

from . import numbers, sip_accounts, site_settings
from .models import User
from .placetel import SIGNATURE_HEADER, basic_auth_configured, sign

log = logging.getLogger(__name__)

PAUSE_SECONDS = 2.0


class TrialCallError(ValueError):
    """The test call cannot be sent; the message says why, in German."""


def sipuid_for_trial_call(user: User) -> str | None:
    """The admin's own SIP account, else the first one assigned."""
    accounts = sip_accounts.stored_accounts()
    return accounts.get(user.username) or next(iter(accounts.values()), None)


def trial_call_bodies(call_id: str, number: str, sipuid: str, duration: int) -> list[bytes]:
    """Form bodies shaped like Placetel's (keys in alphabetical order) for one answered call."""
    events = [
        {"call_id": call_id, "direction": "in", "event": "IncomingCall", "from": number},
        {"call_id": call_id, "direction": "in", "event": "CallAccepted", "from": number, "peer": sipuid},
        {"call_id": call_id, "direction": "in", "duration": str(duration), "event": "HungUp", "from": number,
         "type": "accepted"},
    ]
    return [urlencode(sorted(fields.items())).encode() for fields in events]


def start_trial_call(app: Flask, number: str, user: User, pause: float | None = None) -> str:
    """Validate, then send the test call in the background; returns its call_id."""
    if not numbers.to_e164(number):
        raise TrialCallError(_("Bitte eine gültige Rufnummer eingeben, z. B. 0221 999000."))
    sipuid = sipuid_for_trial_call(user)
    if sipuid is None:
        raise TrialCallError(_("Es ist noch kein Telefon zugeordnet: bitte zuerst bei einem Benutzer einen "
                               "SIP-Account wählen (Einstellungen → Benutzer)."))
    pause = PAUSE_SECONDS if pause is None else pause
    call_id = secrets.token_hex(32)
    bodies = trial_call_bodies(call_id, number.strip(), sipuid, duration=max(1, round(pause)))
    credentials = _webhook_credentials()
    if not credentials.secret and not credentials.basic:
        raise TrialCallError(_("Der Webhook ist noch geschlossen: bitte zuerst ein Shared Secret oder Benutzername "
                               "und Passwort für den Webhook setzen."))
    notify_url = url_for("calls.notify")
    _spawn(lambda: _post_events(app, notify_url, bodies, credentials, pause))
    return call_id


@dataclass(frozen=True)
class WebhookCredentials:
    """What Placetel would send along: the shared secret and/or HTTP Basic credentials."""

    secret: str = ""
    basic: tuple[str, str] | None = None

    def headers(self, body: bytes) -> dict[str, str]:
        """The request headers of one Notify body."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        if self.basic:
            token = base64.b64encode(":".join(self.basic).encode("utf-8")).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers


def _webhook_credentials() -> WebhookCredentials:
    """Whichever of shared secret and Basic credentials is configured (both when both are)."""
    basic = None
    if basic_auth_configured():
        basic = (site_settings.get("placetel.webhook_user"), site_settings.get("placetel.webhook_password"))
    return WebhookCredentials(site_settings.get("placetel.shared_secret"), basic)


def _spawn(target) -> None:
    threading.Thread(target=target, name="test-call", daemon=True).start()


def _post_events(app: Flask, notify_url: str, bodies: list[bytes], credentials: WebhookCredentials,
                 pause: float) -> None:
    client = app.test_client()
    for index, body in enumerate(bodies):
        if index:
            time.sleep(pause)
        response = client.post(notify_url, data=body, headers=credentials.headers(body))
        if response.status_code != 200:
            log.warning("test call refused by the webhook (%s): %s", response.status_code, response.text)
            return
