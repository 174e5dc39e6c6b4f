"""Placetel: REST client (with the cached list of SIP users), Notify parsing, account look-ups."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import ClassVar, Iterator

import requests
from flask import current_app
from flask_babel import gettext as _

from . import messages, sip_accounts, site_settings
# The account mapping moved to sip_accounts (rows); these names stay importable from here.
from .sip_accounts import (  # noqa: F401
    SIPUID_PATTERN,
    AccountLine,
    AccountMappingError,
    accounts_by_sipuid,
    mapped_accounts,
    parse_account_mapping,
)

log = logging.getLogger(__name__)



def sipuid_for(username: str) -> str | None:
    """The Placetel SIP UID of `username` (assigned on the user's page), or None."""
    return sip_accounts.sipuid_for(username)


def stored_accounts() -> dict[str, str]:
    """User name → SIP UID of every user with a SIP account."""
    return sip_accounts.stored_accounts()


def account_usernames_for(sipuid: str) -> list[str]:
    """The users mapped to a SIP account (a shared phone may have several)."""
    return [user.username for user in sip_accounts.users_for_sipuid(sipuid)]


# --------------------------------------------------------------------------- Notify API (webhook)

SIGNATURE_HEADER = "X-PLACETEL-SIGNATURE"
# Placetel's bodies are a few hundred bytes; anything much larger is not a notification.
MAX_NOTIFY_BYTES = 8 * 1024
NOTIFY_EVENTS = ("IncomingCall", "OutgoingCall", "CallAccepted", "HungUp")
_EVENT_BY_LOWER = {name.lower(): name for name in NOTIFY_EVENTS}
# Placetel documents call_id as 64 hex digits (SHA-256), but other senders and Placetel's own
# history use ids like `1234567890-3`: any printable id up to the column's length is accepted.
MAX_CALL_ID_LENGTH = 128
_HEX_ID = re.compile(r"^[0-9a-fA-F]+$")
KNOWN_HANGUP_TYPES = ("accepted", "missed", "voicemail", "blocked", "busy", "canceled", "unavailable",
                      "congestion")
# Longest from/to/peer/user we store (the columns' length); longer values are refused.
_FIELD_LIMIT = 120
# HungUp types longer than the column are cut: the call is not lost over an odd type.
MAX_HANGUP_TYPE_LENGTH = 16
# A duration above this (a week) cannot be a real call; it is clamped so that the HungUp is kept.
MAX_DURATION_SECONDS = 7 * 24 * 3600
_DIGITS = re.compile(r"^[0-9]+$")
# Control characters (NUL included) cannot be stored in PostgreSQL text or shown: dropped.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# `+4930…` sent without URL encoding arrives as ` 4930…`: the space was a plus.
_UNENCODED_PLUS = re.compile(r"^ [0-9]")


def sign(raw_body: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body, as Placetel sends it in X-PLACETEL-SIGNATURE."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header: str | None, secret: str) -> bool:
    """True when `header` is the signature of `raw_body` under `secret` (constant-time compare).

    Any header text is compared as bytes, so a non-ASCII header is simply wrong, never an error.
    """
    if not header or not secret:
        return False
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(raw_body, secret).encode("ascii"), given)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic …` header, or None when it is missing or malformed."""
    scheme, _space, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip().encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def verify_basic(header: str | None, user: str, password: str) -> bool:
    """True when the Basic credentials in `header` are `user` and `password` (constant-time compare)."""
    given = basic_credentials(header)
    if given is None or not (user and password):
        return False
    same_user = hmac.compare_digest(given[0].encode("utf-8"), user.encode("utf-8"))
    same_password = hmac.compare_digest(given[1].encode("utf-8"), password.encode("utf-8"))
    return same_user and same_password


def basic_auth_configured() -> bool:
    """Whether HTTP Basic credentials for the webhook URL are configured (user and password)."""
    from . import site_settings

    return bool(site_settings.get("placetel.webhook_user")) and site_settings.is_set("placetel.webhook_password")


def notify_refusal(raw_body: bytes, signature: str | None, authorization: str | None) -> str | None:
    """Why a Notify request is refused (for the log), or None when it is authorised.

    Closed until a shared secret or Basic credentials are configured; every
    configured check must pass (with both set, Placetel sends both).
    """
    from . import site_settings
    from .crypto import SecretUnreadable

    try:
        secret = site_settings.get("placetel.shared_secret")
        basic = basic_auth_configured()
        password = site_settings.get("placetel.webhook_password") if basic else ""
    except SecretUnreadable:
        return "the stored secret cannot be decrypted (SECRET_KEY changed): enter it again"
    if not secret and not basic:
        return "webhook not configured (no shared secret, no Basic credentials)"
    if secret and not verify_signature(raw_body, signature, secret):
        return "signature " + ("wrong" if signature else "missing")
    if basic and not verify_basic(authorization, site_settings.get("placetel.webhook_user"), password):
        return "Basic credentials " + ("wrong" if authorization else "missing")
    return None


MIN_SHARED_SECRET_LENGTH = 16


@dataclass(frozen=True)
class WebhookState:
    """How the webhook is protected, for the settings page (never the secrets themselves)."""

    secret_set: bool
    short_secret: bool  # set, but shorter than MIN_SHARED_SECRET_LENGTH
    basic_user: str  # the Basic user name when user and password are both set, else ""
    basic_incomplete: bool  # a user name without password or the other way round
    min_secret_length: ClassVar[int] = MIN_SHARED_SECRET_LENGTH

    @property
    def open(self) -> bool:
        """Whether the webhook accepts events at all."""
        return self.secret_set or bool(self.basic_user)


def webhook_state() -> WebhookState:
    """The webhook's protection as configured now."""
    from . import site_settings
    from .crypto import SecretUnreadable

    try:
        secret = site_settings.get("placetel.shared_secret")
    except SecretUnreadable:
        secret = ""
    user = site_settings.get("placetel.webhook_user")
    password_set = site_settings.is_set("placetel.webhook_password")
    return WebhookState(
        secret_set=bool(secret),
        short_secret=bool(secret) and len(secret) < MIN_SHARED_SECRET_LENGTH,
        basic_user=user if password_set else "",
        basic_incomplete=bool(user) != password_set,
    )


def webhook_url(notify_url: str, user: str = "") -> str:
    """The address to enter in the Placetel portal; with Basic credentials `user:PASSWORT@host`.

    The password itself is never shown: the admin replaces the placeholder.
    """
    if not user:
        return notify_url
    scheme, separator, rest = notify_url.partition("://")
    placeholder = _("PASSWORT")
    return f"{scheme}{separator}{user}:{placeholder}@{rest}"


class InvalidNotify(ValueError):
    """A Notify request that cannot be a Placetel event; the message is the plain-text answer."""


@dataclass(frozen=True)
class NotifyEvent:
    """One parsed Placetel Notify request."""

    event: str  # IncomingCall | OutgoingCall | CallAccepted | HungUp
    call_id: str  # any printable id; hex ids in lower case
    from_number: str = ""  # a number, "anonymous" or a SIP id for internal calls
    to_number: str = ""
    direction: str = ""  # in | out | "" (not sent)
    peer: str = ""  # SIP account that answered (CallAccepted) or dials (OutgoingCall)
    type: str = ""  # HungUp: accepted, missed, voicemail, busy, … (unknown types are kept)
    duration: int | None = None  # HungUp: seconds
    user: str = ""  # CallAccepted: "voicemail" when the mailbox took the call

    def payload(self) -> dict:
        """The fields as stored in CallEvent.payload (Placetel's own key names)."""
        data = {"event": self.event, "call_id": self.call_id, "from": self.from_number, "to": self.to_number,
                "direction": self.direction, "peer": self.peer, "type": self.type, "duration": self.duration,
                "user": self.user}
        return {key: value for key, value in data.items() if value not in ("", None)}


def _clean(value: str | None) -> str:
    """A form value without control characters (NUL included) and surrounding blanks."""
    return _CONTROL_CHARACTERS.sub("", value or "").strip()


def _text_field(form, key: str) -> str:
    value = _CONTROL_CHARACTERS.sub("", form.get(key) or "")
    if _UNENCODED_PLUS.match(value):
        value = "+" + value[1:]
    value = value.strip()
    if len(value) > _FIELD_LIMIT:
        raise InvalidNotify(f"Feld „{key}“ ist zu lang / field '{key}' is too long.")
    return value


def _call_id(form) -> str:
    call_id = (form.get("call_id") or "").strip()
    if not call_id:
        raise InvalidNotify("Feld „call_id“ fehlt / field 'call_id' is missing.")
    if len(call_id) > MAX_CALL_ID_LENGTH or not call_id.isprintable():
        raise InvalidNotify(f"„call_id“ muss aus höchstens {MAX_CALL_ID_LENGTH} druckbaren Zeichen bestehen / "
                            f"'call_id' must be at most {MAX_CALL_ID_LENGTH} printable characters.")
    return call_id.lower() if _HEX_ID.match(call_id) else call_id


def _duration(form) -> int | None:
    text = _clean(form.get("duration"))
    if not text:
        return None
    if not _DIGITS.match(text):
        raise InvalidNotify("„duration“ ist keine ganze Zahl / 'duration' is not a whole number.")
    # Compare the digits' length first: int() of thousands of digits (leading zeros too) is refused.
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(MAX_DURATION_SECONDS)):
        return MAX_DURATION_SECONDS
    return min(int(significant), MAX_DURATION_SECONDS)


def parse_notify(form) -> NotifyEvent:
    """Validate the form fields of a Notify request; raises InvalidNotify with a German/English reason.

    Required are `event` (one of the four documented ones, in any case) and `call_id`
    (any printable id up to 128 characters); `duration` must be a whole number when
    sent (clamped to a week). Unknown HungUp types are accepted, extra keys ignored.
    The old format – an OutgoingCall whose `from` is the dialling SIP id, without
    `peer` – is read as `peer` = that SIP id.
    """
    event_text = _clean(form.get("event"))
    if not event_text:
        raise InvalidNotify("Feld „event“ fehlt / field 'event' is missing.")
    event = _EVENT_BY_LOWER.get(event_text.lower())
    if event is None:
        raise InvalidNotify(f"Unbekanntes Ereignis / unknown event: {event_text[:40]!r}")
    call_id = _call_id(form)
    direction = _clean(form.get("direction")).lower()
    if direction not in ("", "in", "out"):
        raise InvalidNotify("„direction“ muss in oder out sein / 'direction' must be in or out.")
    from_number = _text_field(form, "from")
    peer = _text_field(form, "peer")
    if event == "OutgoingCall" and not peer and is_sip_id(from_number):
        peer = from_number
    return NotifyEvent(
        event=event,
        call_id=call_id,
        from_number=from_number,
        to_number=_text_field(form, "to"),
        direction=direction,
        peer=peer,
        type=_clean(form.get("type")).lower()[:MAX_HANGUP_TYPE_LENGTH],
        duration=_duration(form),
        user=_clean(form.get("user")).lower()[:_FIELD_LIMIT],
    )


def is_sip_id(value: str) -> bool:
    """Internal calls carry SIP ids (777…@fpbx.de) instead of numbers."""
    return "@" in (value or "")

# --------------------------------------------------------------------------- REST API v2


class PlacetelError(Exception):
    """A Placetel request failed; `str(exc)` is a German message for the user (never the token).

    The messages are `messages.Message`s: `message_for` gives them in the reader's language.
    `admin_message`, where set, tells an administrator the concrete reason and what to do
    (users are told to contact the administration instead); see `message_for`.
    """

    admin_message: str = ""

    def message_for(self, user) -> str:
        """The message for `user` in the reader's language: the concrete advice for admins, else the general one."""
        if self.admin_message and getattr(user, "is_admin", False):
            return messages.localized(self.admin_message)
        return messages.reason(self)


class TokenMissing(PlacetelError):
    """No API token is stored; no request was sent."""

    def __init__(self):
        super().__init__(messages.gettext(
            "Es ist kein Placetel-API-Token hinterlegt. Bitte wenden Sie sich an die "
            "Administration (Einstellungen → Telefonie)."))
        self.admin_message = messages.gettext(
            "Es ist noch kein Placetel-API-Token gespeichert. Erzeugen Sie ihn im Placetel-Portal "
            "unter Administration → Einstellungen → API, tragen Sie ihn unter Einstellungen → "
            "Telefonie bei „Placetel API-Token“ ein und speichern Sie.")


class TokenRefused(PlacetelError):
    """Placetel answered 401/403: the token is invalid or lacks rights."""

    def __init__(self, status: int):
        super().__init__(messages.gettext(
            "Placetel hat den API-Token abgelehnt (ungültig oder ohne ausreichende Rechte). "
            "Bitte wenden Sie sich an die Administration."))
        self.admin_message = messages.gettext(
            "Placetel hat den gespeicherten API-Token abgelehnt: Er ist ungültig, widerrufen "
            "oder hat zu wenige Rechte. Erzeugen Sie im Placetel-Portal unter Administration → "
            "Einstellungen → API einen neuen Token und tragen Sie ihn unter Einstellungen → "
            "Telefonie ein.")
        self.status = status


class RequestRefused(PlacetelError):
    """Placetel refused the request (other 4xx); `placetel_text` is Placetel's own reason."""

    def __init__(self, status: int, placetel_text: str):
        if placetel_text:
            message = messages.gettext("Placetel hat den Auftrag abgelehnt: %(reason)s", reason=placetel_text)
        else:
            message = messages.gettext("Placetel hat den Auftrag abgelehnt (Fehler %(status)s).", status=status)
        super().__init__(message)
        self.status = status
        self.placetel_text = placetel_text


class RateLimited(PlacetelError):
    """Placetel answered 429; `retry_after` holds the seconds to wait when Placetel said so."""

    def __init__(self, retry_after: int | None):
        if retry_after is not None:
            message = messages.ngettext(
                "Placetel nimmt gerade keine weiteren Aufträge an. Bitte in %(num)d Sekunde erneut versuchen.",
                "Placetel nimmt gerade keine weiteren Aufträge an. Bitte in %(num)d Sekunden erneut versuchen.",
                retry_after)
        else:
            message = messages.gettext(
                "Placetel nimmt gerade keine weiteren Aufträge an. Bitte gleich noch einmal versuchen.")
        super().__init__(message)
        self.retry_after = retry_after


class PlacetelUnreachable(PlacetelError):
    """Timeout, connection error, 5xx or an answer that is not what the API documents."""

    def __init__(self):
        super().__init__(messages.gettext(
            "Placetel ist im Moment nicht erreichbar. Bitte versuchen Sie es in ein paar Minuten erneut."))
        self.admin_message = messages.gettext(
            "Placetel ist unter %(url)s nicht erreichbar oder antwortet nicht wie erwartet. "
            "Prüfen Sie, ob der Server ins Internet darf (Firewall, Proxy) und ob "
            "PLACETEL_API_URL stimmt; bei einer Störung bei Placetel versuchen Sie es in ein "
            "paar Minuten erneut.", url=current_app.config["PLACETEL_API_URL"])


@dataclass(frozen=True)
class SipUser:
    """A SIP account at Placetel (a phone, softphone or app)."""

    sipuid: str
    name: str
    callerid: str
    did: str = ""  # the extension (Durchwahl), when Placetel sends it
    online: bool | None = None  # registered right now; None when Placetel did not say

    @property
    def number(self) -> str:
        """The number to show for this phone: its caller id, else its extension."""
        return self.callerid or self.did

    @classmethod
    def from_api(cls, item: dict) -> SipUser:
        """One element of Placetel's `GET /sip_users` answer (unknown fields are ignored)."""
        online = item.get("online")
        return cls(str(item.get("sipuid") or "").strip(), str(item.get("name") or ""),
                   str(item.get("callerid") or ""), str(item.get("did") or ""),
                   online if isinstance(online, bool) else None)


MAX_REASON_LENGTH = 300


def _placetel_reason(response: requests.Response) -> str:
    """Placetel's `{"error": "…"}` text, else the short plain body; never trusted as markup."""
    try:
        body = response.json()
    except ValueError:
        body = response.text.strip()
    if isinstance(body, dict):
        body = body.get("error") or body.get("message") or ""
    return str(body)[:MAX_REASON_LENGTH] if body else ""


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _api_token() -> str:
    """The stored API token; raises TokenMissing when there is none."""
    token = site_settings.get("placetel.api_token").strip()
    if not token:
        raise TokenMissing()
    return token


def api_token_set() -> bool:
    """Whether an API token is stored and readable (for background jobs that need it; never raises)."""
    from .crypto import SecretUnreadable

    try:
        return bool(site_settings.get("placetel.api_token").strip())
    except SecretUnreadable:
        return False


def _request(method: str, path: str, payload: dict | None = None, params: dict | None = None) -> requests.Response:
    """Send one authorised request to the Placetel API; raise a PlacetelError unless it is 2xx."""
    token = _api_token()
    url = current_app.config["PLACETEL_API_URL"].rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = requests.request(method, url, json=payload, params=params, headers=headers,
                                    timeout=current_app.config["PLACETEL_TIMEOUT"])
    except requests.exceptions.InvalidHeader:
        # requests quotes the header value (the token) in this exception's message: drop it.
        log.warning("Placetel %s %s: the stored API token is not a valid header value", method, path)
        raise TokenRefused(0) from None
    except requests.RequestException as exc:
        log.warning("Placetel %s %s not reachable: %s", method, path, type(exc).__name__)
        raise PlacetelUnreachable() from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    log.warning("Placetel %s %s answered %s", method, path, status)
    if status in (401, 403):
        raise TokenRefused(status)
    if status == 429:
        raise RateLimited(_retry_after(response))
    if 400 <= status < 500:
        raise RequestRefused(status, _placetel_reason(response))
    raise PlacetelUnreachable()


def start_call(sipuid: str, target: str, from_name: str | None = None) -> None:
    """Click-to-dial: Placetel rings the SIP account `sipuid`, then dials `target` once it is picked up."""
    payload = {"sipuid": sipuid, "target": target}
    if from_name:
        payload["from_name"] = from_name
    _request("POST", "/calls", payload)


# Placetel pages GET /sip_users (default 25, at most 100 per page).
SIP_USERS_PER_PAGE = 100
# A hard bound, so that an API that never sends a short page cannot keep us reading forever.
MAX_SIP_USER_PAGES = 50
# How long the list (with its `online` flags) is reused for pickers and presence.
SIP_USERS_CACHE_SECONDS = 60.0


def list_page(path: str, page: int, per_page: int, params: dict | None = None) -> list:
    """One page of a paged list endpoint (`GET path?page=…&per_page=…`); raises PlacetelUnreachable
    unless the answer is a JSON array."""
    response = _request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
    try:
        body = response.json()
    except ValueError:
        log.warning("Placetel GET %s answered with invalid JSON", path)
        raise PlacetelUnreachable() from None
    if not isinstance(body, list):
        log.warning("Placetel GET %s answered with %s instead of a list", path, type(body).__name__)
        raise PlacetelUnreachable()
    return body


def _sip_users_page(page: int) -> list[dict]:
    return list_page("/sip_users", page, SIP_USERS_PER_PAGE)


def list_sip_users() -> list[SipUser]:
    """Every SIP account of the Placetel account, read page by page until a short page comes."""
    users: list[SipUser] = []
    seen: set[str] = set()
    for page in range(1, MAX_SIP_USER_PAGES + 1):
        items = _sip_users_page(page)
        for item in items:
            user = SipUser.from_api(item) if isinstance(item, dict) else None
            if user and user.sipuid and user.sipuid.lower() not in seen:
                seen.add(user.sipuid.lower())
                users.append(user)
        if len(items) < SIP_USERS_PER_PAGE:
            return users
    log.warning("Placetel GET /sip_users: stopped after %s pages", MAX_SIP_USER_PAGES)
    return users


class _SipUserCache:
    """Process-local cache of the SIP users (or of the error that fetching them gave), per app."""

    def __init__(self):
        self.lock = threading.Lock()
        self.key: str | None = None
        self.expires = 0.0
        self.value: list[SipUser] | PlacetelError | None = None


def _cache() -> _SipUserCache:
    return current_app.extensions.setdefault("placetel_sip_users", _SipUserCache())


def _cache_key(token: str) -> str:
    # A new token or API URL must not be answered from what the old one fetched.
    return hashlib.sha256(f"{current_app.config['PLACETEL_API_URL']}\n{token}".encode()).hexdigest()


def sip_users(fetch: bool = True, fresh: bool = False) -> list[SipUser] | None:
    """The SIP users, from a cache of SIP_USERS_CACHE_SECONDS; raises PlacetelError (also a cached one).

    `fetch=False` never contacts Placetel and returns None when nothing fresh is
    cached (for code that must not wait on the network); `fresh=True` skips the cache.
    """
    token = _api_token()
    cache, key = _cache(), _cache_key(token)
    with cache.lock:
        hit = cache.key == key and cache.expires > time.monotonic() and not fresh
        value = cache.value if hit else None
    if value is None:
        if not fetch:
            return None
        try:
            value = list_sip_users()
        except PlacetelError as exc:
            value = exc
        with cache.lock:
            cache.key, cache.expires, cache.value = key, time.monotonic() + SIP_USERS_CACHE_SECONDS, value
    if isinstance(value, PlacetelError):
        raise value
    return value


def sip_users_by_uid(fetch: bool = True) -> dict[str, SipUser] | None:
    """SIP UID (lower case) → SipUser from the cache, or None when unknown (no token, unreachable)."""
    try:
        users = sip_users(fetch=fetch)
    except PlacetelError:
        return None
    return None if users is None else {user.sipuid.lower(): user for user in users}


@dataclass
class ConnectionReport:
    """Result of "Verbindung testen": Placetel's SIP accounts and mapped UIDs unknown to Placetel."""

    sip_users: list[SipUser]
    unknown_mappings: list[tuple[str, str]]  # (user name, SIP UID) mapped but not at Placetel


def check_connection() -> ConnectionReport:
    """Fetch all SIP accounts afresh (refreshing the cache) and compare them with the assigned ones."""
    users = sip_users(fresh=True)
    known = {user.sipuid.lower() for user in users}
    unknown = [(name, uid) for name, uid in stored_accounts().items() if uid.lower() not in known]
    return ConnectionReport(users, unknown)


# --------------------------------------------------------------------------- contacts (Placetel's phonebook)


def create_contact(payload: dict) -> str:
    """`POST /contacts`; returns the new contact's id."""
    response = _request("POST", "/contacts", payload)
    try:
        body = response.json()
    except ValueError:
        body = None
    contact_id = body.get("id") if isinstance(body, dict) else None
    if contact_id in (None, ""):
        log.warning("Placetel POST /contacts answered without a contact id")
        raise PlacetelUnreachable()
    return str(contact_id)


def update_contact(contact_id: str, payload: dict) -> None:
    """`PUT /contacts/{id}` with the complete payload."""
    _request("PUT", f"/contacts/{contact_id}", payload)


def delete_contact(contact_id: str) -> None:
    """`DELETE /contacts/{id}`; a contact that is already gone counts as deleted."""
    try:
        _request("DELETE", f"/contacts/{contact_id}")
    except RequestRefused as exc:
        if exc.status != 404:
            raise
