"""Placetel: account mapping (Xentral's format), REST client and Notify parsing."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import ClassVar, Iterator

import requests
from flask import current_app
from flask_babel import gettext as _

log = logging.getLogger(__name__)

SIPUID_PATTERN = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class AccountLine:
    line: int
    username: str
    sipuid: str


class AccountMappingError(ValueError):
    """The account mapping text has faulty lines; `problems` holds one message per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _mapping_lines(text: str | None) -> Iterator[tuple[int, str, str]]:
    """(line number, user name, SIP UID) of every line that is neither blank nor a comment.

    A line without a colon yields empty parts.
    """
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, sipuid = (part.strip() for part in line.partition(":"))
        yield (number, username, sipuid) if colon else (number, "", "")


def mapped_accounts(text: str | None) -> dict[str, str]:
    """User name → SIP UID from a stored mapping, skipping faulty lines instead of failing.

    The first valid line for a user wins, as in `parse_account_mapping`. Used at
    run time, where a mapping saved before a user was renamed must not break dialling.
    """
    accounts: dict[str, str] = {}
    for _number, username, sipuid in _mapping_lines(text):
        if username and SIPUID_PATTERN.match(sipuid) and username not in accounts:
            accounts[username] = sipuid
    return accounts


def sipuid_for(username: str) -> str | None:
    """The Placetel SIP UID mapped to `username` in the `placetel.accounts` setting, or None."""
    return stored_accounts().get(username)


def parse_account_mapping(text: str, known_usernames: set[str]) -> list[AccountLine]:
    """Parse lines `Benutzername:SIP-UID` (e.g. `anna:777123456@fpbx.de`).

    Lines are trimmed and split at the first colon; blank lines and lines starting
    with `#` are ignored. Every faulty line is reported with its number.
    """
    accounts: list[AccountLine] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, username, sipuid in _mapping_lines(text):
        if not username or not sipuid:
            problems.append(f"Zeile {number}: Format ist „Benutzername:SIP-UID“ (z. B. anna:777123456@fpbx.de).")
            continue
        if username not in known_usernames:
            problems.append(f"Zeile {number}: Benutzer „{username}“ gibt es nicht.")
        if not SIPUID_PATTERN.match(sipuid):
            problems.append(f"Zeile {number}: „{sipuid}“ ist keine gültige SIP-UID (z. B. 777123456@fpbx.de).")
        if username in first_line_of:
            problems.append(
                f"Zeile {number}: Benutzer „{username}“ ist schon in Zeile {first_line_of[username]} zugeordnet."
            )
        else:
            first_line_of[username] = number
        accounts.append(AccountLine(number, username, sipuid))
    if problems:
        raise AccountMappingError(problems)
    return accounts


def stored_accounts() -> dict[str, str]:
    """User name → SIP UID from the `placetel.accounts` setting (faulty lines skipped)."""
    from . import site_settings

    return mapped_accounts(site_settings.get("placetel.accounts"))


def accounts_by_sipuid(text: str) -> dict[str, str]:
    """SIP UID (lower case) → user name; for a shared phone the first user wins, as in Xentral."""
    mapping: dict[str, str] = {}
    for username, sipuid in mapped_accounts(text).items():
        mapping.setdefault(sipuid.lower(), username)
    return mapping


def account_usernames_for(sipuid: str) -> list[str]:
    """The users mapped to a SIP account (a shared phone may have several)."""
    sipuid = (sipuid or "").strip().lower()
    return [username for username, mapped in stored_accounts().items() if mapped.lower() == sipuid]


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
    """A Placetel request failed; `str(exc)` is a German message for the user (never the token)."""


class TokenMissing(PlacetelError):
    """No API token is stored; no request was sent."""

    def __init__(self):
        super().__init__(_("Es ist kein Placetel-API-Token hinterlegt. Bitte wenden Sie sich an die "
                           "Administration (Einstellungen → Telefonie)."))


class TokenRefused(PlacetelError):
    """Placetel answered 401/403: the token is invalid or lacks rights."""

    def __init__(self, status: int):
        super().__init__(_("Placetel hat den API-Token abgelehnt (ungültig oder ohne ausreichende Rechte). "
                           "Bitte den Token in den Einstellungen → Telefonie prüfen."))
        self.status = status


class RequestRefused(PlacetelError):
    """Placetel refused the request (other 4xx); `placetel_text` is Placetel's own reason."""

    def __init__(self, status: int, placetel_text: str):
        if placetel_text:
            message = _("Placetel hat den Auftrag abgelehnt: %(reason)s", reason=placetel_text)
        else:
            message = _("Placetel hat den Auftrag abgelehnt (Fehler %(status)s).", status=status)
        super().__init__(message)
        self.status = status
        self.placetel_text = placetel_text


class RateLimited(PlacetelError):
    """Placetel answered 429; `retry_after` holds the seconds to wait when Placetel said so."""

    def __init__(self, retry_after: int | None):
        if retry_after is not None:
            message = _("Placetel nimmt gerade keine weiteren Aufträge an. Bitte in %(seconds)s Sekunden "
                        "erneut versuchen.", seconds=retry_after)
        else:
            message = _("Placetel nimmt gerade keine weiteren Aufträge an. Bitte gleich noch einmal versuchen.")
        super().__init__(message)
        self.retry_after = retry_after


class PlacetelUnreachable(PlacetelError):
    """Timeout, connection error, 5xx or an answer that is not what the API documents."""

    def __init__(self):
        super().__init__(_("Placetel ist im Moment nicht erreichbar. Bitte versuchen Sie es in ein paar "
                           "Minuten erneut."))


@dataclass(frozen=True)
class SipUser:
    """A SIP account at Placetel (a phone, softphone or app)."""

    sipuid: str
    name: str
    callerid: str


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


def _request(method: str, path: str, payload: dict | None = None) -> requests.Response:
    """Send one authorised request to the Placetel API; raise a PlacetelError unless it is 2xx."""
    from . import site_settings

    token = site_settings.get("placetel.api_token").strip()
    if not token:
        raise TokenMissing()
    url = current_app.config["PLACETEL_API_URL"].rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = requests.request(method, url, json=payload, headers=headers,
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


def list_sip_users() -> list[SipUser]:
    """The SIP accounts of the Placetel account (for the connection test and the account mapping)."""
    response = _request("GET", "/sip_users")
    try:
        body = response.json()
    except ValueError:
        log.warning("Placetel GET /sip_users answered with invalid JSON")
        raise PlacetelUnreachable() from None
    if not isinstance(body, list):
        log.warning("Placetel GET /sip_users answered with %s instead of a list", type(body).__name__)
        raise PlacetelUnreachable()
    return [
        SipUser(str(item.get("sipuid") or ""), str(item.get("name") or ""), str(item.get("callerid") or ""))
        for item in body
        if isinstance(item, dict) and item.get("sipuid")
    ]


@dataclass
class ConnectionReport:
    """Result of "Verbindung testen": Placetel's SIP accounts and mapped UIDs unknown to Placetel."""

    sip_users: list[SipUser]
    unknown_mappings: list[tuple[str, str]]  # (user name, SIP UID) mapped but not at Placetel


def check_connection() -> ConnectionReport:
    """Fetch the SIP accounts and compare them with the account mapping; raises PlacetelError."""
    from . import site_settings

    sip_users = list_sip_users()
    known = {user.sipuid.lower() for user in sip_users}
    mapping = stored_accounts()
    unknown = [(name, uid) for name, uid in mapping.items() if uid.lower() not in known]
    return ConnectionReport(sip_users, unknown)
