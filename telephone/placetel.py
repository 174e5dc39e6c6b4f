"""Placetel: account mapping (Xentral's format), REST client and Notify parsing."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

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


def parse_account_mapping(text: str, known_usernames: set[str]) -> list[AccountLine]:
    """Parse lines `Benutzername:SIP-UID` (e.g. `anna:777123456@fpbx.de`).

    Lines are trimmed and split at the first colon; blank lines and lines starting
    with `#` are ignored. Every faulty line is reported with its number.
    """
    accounts: list[AccountLine] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, sipuid = (part.strip() for part in line.partition(":"))
        if not colon or not username or not sipuid:
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


def tolerant_accounts(text: str) -> list[AccountLine]:
    """The lines of an account mapping that parse, skipping faulty ones.

    The settings page validates the text on save; a line that became invalid
    since (e.g. a deleted user) must not stop the webhook or the banners.
    """
    accounts = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, sipuid = (part.strip() for part in line.partition(":"))
        if colon and username and sipuid:
            accounts.append(AccountLine(number, username, sipuid))
    return accounts


def stored_accounts() -> list[AccountLine]:
    """The account mapping from the settings (tolerant of faulty lines)."""
    from . import site_settings

    return tolerant_accounts(site_settings.get("placetel.accounts"))


def accounts_by_sipuid(text: str) -> dict[str, str]:
    """SIP UID (lower case) → user name; the first line of a user wins, as in Xentral."""
    mapping: dict[str, str] = {}
    seen_users: set[str] = set()
    for account in tolerant_accounts(text):
        if account.username not in seen_users:
            seen_users.add(account.username)
            mapping.setdefault(account.sipuid.lower(), account.username)
    return mapping


def account_usernames_for(sipuid: str) -> list[str]:
    """The users mapped to a SIP account (a shared phone may have several)."""
    sipuid = (sipuid or "").strip().lower()
    return [account.username for account in stored_accounts() if account.sipuid.lower() == sipuid]


# --------------------------------------------------------------------------- Notify API (webhook)

SIGNATURE_HEADER = "X-PLACETEL-SIGNATURE"
# Placetel's bodies are a few hundred bytes; anything much larger is not a notification.
MAX_NOTIFY_BYTES = 8 * 1024
NOTIFY_EVENTS = ("IncomingCall", "OutgoingCall", "CallAccepted", "HungUp")
# Placetel documents call_id as 64 hex digits (SHA-256). We accept 8–64 hex digits so that a
# shorter id of a future or test sender still works, but nothing else: the id ends up in the
# database (64 characters at most) and in HTML element ids of the live banners.
CALL_ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8,64}$")
KNOWN_HANGUP_TYPES = ("accepted", "missed", "voicemail", "blocked", "busy", "canceled", "unavailable",
                      "congestion")
_FIELD_LIMIT = 120


def sign(raw_body: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body, as Placetel sends it in X-PLACETEL-SIGNATURE."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header: str | None, secret: str) -> bool:
    """True when `header` is the signature of `raw_body` under `secret` (constant-time compare)."""
    if not header:
        return False
    return hmac.compare_digest(sign(raw_body, secret), header.strip().lower())


class InvalidNotify(ValueError):
    """A Notify request that cannot be a Placetel event; the message is the plain-text answer."""


@dataclass(frozen=True)
class NotifyEvent:
    """One parsed Placetel Notify request."""

    event: str  # IncomingCall | OutgoingCall | CallAccepted | HungUp
    call_id: str  # lower-case hex
    from_number: str = ""  # a number, "anonymous" or a SIP id for internal calls
    to_number: str = ""
    direction: str = ""  # in | out | "" (not sent)
    peer: str = ""  # SIP account that answered (CallAccepted) or dials (OutgoingCall)
    type: str = ""  # HungUp: accepted, missed, voicemail, busy, … (unknown types are kept)
    duration: int | None = None  # HungUp: seconds

    def payload(self) -> dict:
        """The fields as stored in CallEvent.payload (Placetel's own key names)."""
        data = {"event": self.event, "call_id": self.call_id, "from": self.from_number, "to": self.to_number,
                "direction": self.direction, "peer": self.peer, "type": self.type, "duration": self.duration}
        return {key: value for key, value in data.items() if value not in ("", None)}


def _text_field(form, key: str) -> str:
    value = (form.get(key) or "").strip()
    if len(value) > _FIELD_LIMIT:
        raise InvalidNotify(f"Feld „{key}“ ist zu lang / field '{key}' is too long.")
    return value


def parse_notify(form) -> NotifyEvent:
    """Validate the form fields of a Notify request; raises InvalidNotify with a German/English reason.

    Required are `event` (one of the four documented ones) and `call_id`; `duration`
    must be a non-negative whole number when sent. Unknown HungUp types are accepted.
    """
    event = (form.get("event") or "").strip()
    if not event:
        raise InvalidNotify("Feld „event“ fehlt / field 'event' is missing.")
    if event not in NOTIFY_EVENTS:
        raise InvalidNotify(f"Unbekanntes Ereignis / unknown event: {event[:40]!r}")
    call_id = (form.get("call_id") or "").strip()
    if not call_id:
        raise InvalidNotify("Feld „call_id“ fehlt / field 'call_id' is missing.")
    if not CALL_ID_PATTERN.match(call_id):
        raise InvalidNotify("„call_id“ muss aus 8–64 Hex-Zeichen bestehen / 'call_id' must be 8–64 hex digits.")
    direction = (form.get("direction") or "").strip().lower()
    if direction not in ("", "in", "out"):
        raise InvalidNotify("„direction“ muss in oder out sein / 'direction' must be in or out.")
    duration_text = (form.get("duration") or "").strip()
    duration = None
    if duration_text:
        if not duration_text.isdigit():
            raise InvalidNotify("„duration“ ist keine ganze Zahl / 'duration' is not a whole number.")
        duration = int(duration_text)
    return NotifyEvent(
        event=event,
        call_id=call_id.lower(),
        from_number=_text_field(form, "from"),
        to_number=_text_field(form, "to"),
        direction=direction,
        peer=_text_field(form, "peer"),
        type=_text_field(form, "type").lower(),
        duration=duration,
    )


def is_sip_id(value: str) -> bool:
    """Internal calls carry SIP ids (777…@fpbx.de) instead of numbers."""
    return "@" in (value or "")
