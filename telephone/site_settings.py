"""Admin settings stored in the `setting` table: typed keys, validation, encrypted secrets.

The settings page and `flask settings set KEY VALUE` both go through `set_value`,
so the same validation applies to both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import phonenumbers
from flask import current_app, g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import select

from . import crypto
from .extensions import db
from .models import Setting


class InvalidSetting(ValueError):
    """A value was refused; the message says why, in German."""


def _validate_region(value: str) -> str:
    region = value.strip().upper()
    if region and region not in phonenumbers.SUPPORTED_REGIONS:  # empty: back to the default
        raise InvalidSetting(_("„%(value)s“ ist kein Ländercode (z. B. DE, AT, CH).", value=value))
    return region


def _choice(*allowed: str) -> Callable[[str], str]:
    def validate(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise InvalidSetting(_("Erlaubt sind: %(allowed)s.", allowed=", ".join(allowed)))
        return value
    return validate


def _positive_int(value: str) -> str:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidSetting(_("„%(value)s“ ist keine ganze Zahl.", value=value)) from None
    if number < 1:
        raise InvalidSetting(_("Der Wert muss mindestens 1 sein."))
    return str(number)


def _percent(value: str) -> str:
    try:
        number = int(value.strip().rstrip("%").strip())
    except ValueError:
        raise InvalidSetting(_("„%(value)s“ ist keine ganze Zahl.", value=value)) from None
    if not 0 <= number <= 100:
        raise InvalidSetting(_("Der Wert muss zwischen 0 und 100 (Prozent) liegen."))
    return str(number)



MIN_API_TOKEN_LENGTH = 16


def _validate_api_token(value: str) -> str:
    token = value.strip()
    if token and (len(token) < MIN_API_TOKEN_LENGTH or any(char.isspace() for char in token)):
        raise InvalidSetting(_("Der API-Token braucht mindestens %(min)s Zeichen ohne Leerzeichen.",
                               min=MIN_API_TOKEN_LENGTH))
    return token


def _validate_webhook_user(value: str) -> str:
    user = value.strip()
    if user and not re.fullmatch(r"[A-Za-z0-9._~-]{1,64}", user):
        raise InvalidSetting(_("Der Benutzername für den Webhook darf nur Buchstaben, Ziffern und . _ ~ - "
                               "enthalten (höchstens 64 Zeichen), denn er steht in der Webhook-Adresse."))
    return user


def _validate_webhook_password(value: str) -> str:
    password = value.strip()
    if any(char.isspace() or not char.isprintable() for char in password):
        raise InvalidSetting(_("Das Passwort für den Webhook darf keine Leer- oder Steuerzeichen enthalten."))
    return password


def _text(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class SettingSpec:
    default: str
    validate: Callable[[str], str] = _text
    secret: bool = False
    # Settings kept as rows by a domain module: `load` renders them as text, `store` replaces them.
    load: Callable[[], str] | None = None
    store: Callable[[str], None] | None = None
    # A setting whose default comes from the configuration (environment) names its config key.
    config_default: str = ""

    def effective_default(self) -> str:
        """The value in force while nothing is stored."""
        if self.config_default:
            return str(current_app.config.get(self.config_default) or self.default)
        return self.default


SPECS: dict[str, SettingSpec] = {
    "placetel.api_token": SettingSpec("", secret=True),
    "placetel.shared_secret": SettingSpec("", secret=True),
    # HTTP Basic credentials in the webhook URL: Placetel's alternative to the shared secret
    "placetel.webhook_user": SettingSpec("", _validate_webhook_user),
    "placetel.webhook_password": SettingSpec("", _validate_webhook_password, secret=True),
    # Bearer token for other programs using GET /api/v1/lookup
    "api.token": SettingSpec("", _validate_api_token, secret=True),
    "numbers.default_region": SettingSpec("DE", _validate_region, config_default="TELEPHONE_DEFAULT_REGION"),
    # Who sees call banners: "all" users (Xentral's behaviour) or only "affected" ones
    "calls.routing": SettingSpec("all", _choice("all", "affected")),
    # Ringing calls without an end event are closed after this many minutes
    "calls.expire_minutes": SettingSpec("2", _positive_int),
    "phonebook.max_per_upload": SettingSpec("5000", _positive_int),
    "phonebook.max_total": SettingSpec("10000", _positive_int),
    # Secret in the URLs of the desk-phone directories and the caller-name lookup (deskphones.py)
    "phones.directory_token": SettingSpec("", secret=True),
    # What the directories contain: the company "phonebook", or "all" (also addresses, contact persons)
    "phones.directory_scope": SettingSpec("phonebook", _choice("phonebook", "all")),
    # "1": push the phonebook to Placetel's contacts after every phonebook sync
    "placetel.push_contacts": SettingSpec("0", _choice("0", "1")),
    # Call Control: the German state whose public holidays count ("" = nationwide ones only)
    "routing.holiday_state": SettingSpec("", _choice("", "BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI",
                                                     "NW", "RP", "SH", "SL", "SN", "ST", "TH")),
    # "1": 24 and 31 December count as holidays (most offices close)
    "routing.christmas_eve_closed": SettingSpec("1", _choice("0", "1")),
    # A sync deleting more than this share (percent) of a source's entries needs an admin's confirmation
    "phonebook.max_delete_share": SettingSpec("20", _percent),
    # Longest time (seconds) a source's download may take in total, however slowly the server sends
    "phonebook.download_deadline": SettingSpec("120", _positive_int),
}


def register_row_setting(key: str, validate: Callable[[str], str], load: Callable[[], str],
                         store: Callable[[str], None]) -> None:
    """Let a domain module keep a setting as rows, e.g. `placetel.accounts` (sip_accounts.py).

    `get` then returns `load()`, `set_value` validates and calls `store(value)`; this
    module stays free of domain imports (the domain module registers at its import).
    """
    SPECS[key] = SettingSpec("", validate, load=load, store=store)


def spec(key: str) -> SettingSpec:
    try:
        return SPECS[key]
    except KeyError:
        raise InvalidSetting(_("Unbekannte Einstellung „%(key)s“. Bekannt sind: %(known)s.", key=key,
                               known=", ".join(sorted(SPECS)))) from None


# Core columns: the rows need no ORM loading (a third of the read's time on the caller-name lookup)
_ALL_SETTINGS = select(Setting.__table__.c.key, Setting.__table__.c.value)


def _stored() -> dict[str, str]:
    """Every stored setting (secrets still encrypted), read in one query.

    Within a request the result is kept: templates format every number with the
    region setting, and the webhook reads several settings at once.
    """
    if has_request_context() and "_site_settings" in g:
        return g._site_settings
    # Never flushes half-built objects; through the session, so that a request whose first statement
    # this is gets it retried on a new connection when the pooled one was dead (database.py)
    with db.session.no_autoflush:
        values = dict(db.session.execute(_ALL_SETTINGS).tuples().all())
    if has_request_context():
        g._site_settings = values
    return values


def get(key: str) -> str:
    """The value of a setting (decrypted for secrets), or its effective default."""
    item = spec(key)
    if item.load is not None:
        return item.load()
    stored = _stored().get(key, "")
    if stored == "":
        return item.effective_default()
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
    if item.store is not None:
        item.store(value)
        return
    g.pop("_site_settings", None)
    stored = crypto.encrypt(value) if item.secret else value
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=stored))
    else:
        row.value = stored


def save_all(values: dict[str, str]) -> None:
    """Validate and store several settings at once and commit; on a refusal nothing is stored (InvalidSetting)."""
    try:
        for key, value in values.items():
            set_value(key, value)
    except InvalidSetting:
        db.session.rollback()
        raise
    db.session.commit()
