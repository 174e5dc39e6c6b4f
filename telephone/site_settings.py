"""Admin settings stored in the `setting` table: typed keys, validation, encrypted secrets.

The settings page and `flask settings set KEY VALUE` both go through `set_value`,
so the same validation applies to both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import phonenumbers
from flask import g, has_request_context
from sqlalchemy import select

from . import crypto
from .extensions import db
from .models import Setting, User


class InvalidSetting(ValueError):
    """A value was refused; the message says why, in German."""


def _validate_accounts(value: str) -> str:
    from .placetel import AccountMappingError, parse_account_mapping

    usernames = set(db.session.scalars(select(User.username)))
    try:
        parse_account_mapping(value, usernames)
    except AccountMappingError as exc:
        raise InvalidSetting(str(exc)) from exc
    return value.strip()


def _validate_region(value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidSetting(f"„{value}“ ist kein Ländercode (z. B. DE, AT, CH).")
    return region


def _choice(*allowed: str) -> Callable[[str], str]:
    def validate(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise InvalidSetting(f"Erlaubt sind: {', '.join(allowed)}.")
        return value
    return validate


def _positive_int(value: str) -> str:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidSetting(f"„{value}“ ist keine ganze Zahl.") from None
    if number < 1:
        raise InvalidSetting("Der Wert muss mindestens 1 sein.")
    return str(number)


def _validate_number_assignments(value: str) -> str:
    from .banners import parse_number_assignments

    try:
        parse_number_assignments(value, set(db.session.scalars(select(User.username))))
    except ValueError as exc:
        raise InvalidSetting(str(exc)) from exc
    return value.strip()

MIN_API_TOKEN_LENGTH = 16


def _validate_api_token(value: str) -> str:
    token = value.strip()
    if token and (len(token) < MIN_API_TOKEN_LENGTH or any(char.isspace() for char in token)):
        raise InvalidSetting(f"Der API-Token braucht mindestens {MIN_API_TOKEN_LENGTH} Zeichen ohne Leerzeichen.")
    return token


def _validate_webhook_user(value: str) -> str:
    user = value.strip()
    if user and not re.fullmatch(r"[A-Za-z0-9._~-]{1,64}", user):
        raise InvalidSetting("Der Benutzername für den Webhook darf nur Buchstaben, Ziffern und . _ ~ - "
                             "enthalten (höchstens 64 Zeichen), denn er steht in der Webhook-Adresse.")
    return user


def _validate_webhook_password(value: str) -> str:
    password = value.strip()
    if any(char.isspace() or not char.isprintable() for char in password):
        raise InvalidSetting("Das Passwort für den Webhook darf keine Leer- oder Steuerzeichen enthalten.")
    return password


def _text(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class SettingSpec:
    default: str
    validate: Callable[[str], str] = _text
    secret: bool = False


SPECS: dict[str, SettingSpec] = {
    "placetel.api_token": SettingSpec("", secret=True),
    "placetel.shared_secret": SettingSpec("", secret=True),
    "placetel.accounts": SettingSpec("", _validate_accounts),
    # HTTP Basic credentials in the webhook URL: Placetel's alternative to the shared secret
    "placetel.webhook_user": SettingSpec("", _validate_webhook_user),
    "placetel.webhook_password": SettingSpec("", _validate_webhook_password, secret=True),
    # Bearer token for other programs using GET /api/v1/lookup
    "api.token": SettingSpec("", _validate_api_token, secret=True),
    "numbers.default_region": SettingSpec("", _validate_region),
    # Who sees call banners: "all" users (Xentral's behaviour) or only "affected" ones
    "calls.routing": SettingSpec("all", _choice("all", "affected")),
    # Lines `number:user1,user2`: who is concerned by calls to a dialled number
    "calls.number_assignments": SettingSpec("", _validate_number_assignments),
    # Calls without an end event are closed after this many minutes
    "calls.expire_minutes": SettingSpec("10", _positive_int),
    "phonebook.max_per_upload": SettingSpec("5000", _positive_int),
    "phonebook.max_total": SettingSpec("10000", _positive_int),
}


def spec(key: str) -> SettingSpec:
    try:
        return SPECS[key]
    except KeyError:
        raise InvalidSetting(f"Unbekannte Einstellung „{key}“. Bekannt sind: {', '.join(sorted(SPECS))}.") from None


def _stored() -> dict[str, str]:
    """Every stored setting (secrets still encrypted), read in one query.

    Within a request the result is kept: templates format every number with the
    region setting, and the webhook reads several settings at once.
    """
    if has_request_context() and "_site_settings" in g:
        return g._site_settings
    with db.session.no_autoflush:  # reading settings must not flush half-built objects
        values = dict(db.session.execute(select(Setting.key, Setting.value)).tuples().all())
    if has_request_context():
        g._site_settings = values
    return values


def get(key: str) -> str:
    """The value of a setting (decrypted for secrets), or its default."""
    item = spec(key)
    stored = _stored().get(key, "")
    if stored == "":
        return item.default
    return crypto.decrypt(stored) if item.secret else stored


def get_int(key: str) -> int:
    return int(get(key))


def is_set(key: str) -> bool:
    """Whether a (secret) setting has a value, without decrypting it."""
    return _stored().get(key, "") != ""


def set_value(key: str, value: str) -> None:
    """Validate and store a setting (encrypting secrets); raises InvalidSetting. Caller commits."""
    item = spec(key)
    value = item.validate(value or "")
    g.pop("_site_settings", None)
    stored = crypto.encrypt(value) if item.secret else value
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=stored))
    else:
        row.value = stored
