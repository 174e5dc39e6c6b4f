"""Language, time zone and the formatting helpers templates use (German by default)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_app_context, has_request_context, session
from flask_babel import format_datetime, format_decimal, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from . import messages, numbers


def select_locale() -> str:
    """The user's chosen language, else the one chosen on the login page, else German.

    Outside a request (CLI, scheduler, background threads) German, the default.
    """
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        return current_user.locale
    lang = session.get("lang")
    return lang if lang in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def office_zone() -> ZoneInfo:
    """The office's time zone (BABEL_DEFAULT_TIMEZONE): its days, hours and file dates."""
    return ZoneInfo(select_timezone())


def office_today() -> date:
    """Today in the office (the server's own date may be another: UTC, an hour behind Berlin)."""
    return datetime.now(office_zone()).date()


def as_aware(value: datetime) -> datetime:
    """Stored times are naive UTC; Babel needs to know that to convert them."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def datetime_filter(value: datetime | None, fmt: str = "short") -> str:
    return format_datetime(as_aware(value), fmt) if value else ""


def duration_filter(seconds: int | None) -> str:
    """Call duration as m:ss (h:mm:ss past an hour)."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _translations():
    """The translations of the current locale, looked up once per request and locale.

    Flask-Babel looks them up again for every string (domain, locale, its text as
    the cache key): a list page translates some 300 strings. A forced locale
    (`force_locale`, e.g. banners rendered per language) is another locale object
    and gets its own lookup.
    """
    return _kept()[0]


def _kept() -> tuple:
    """(translations, the template messages translated so far) of the request's current locale."""
    if not has_app_context():
        return get_translations(), {}
    locale = get_locale()
    kept = g.get("_translations")
    if kept is None or kept[0] is not locale:
        kept = g._translations = (locale, get_translations(), {})
    return kept[1:]


@pass_context
def _template_gettext(context, string: str, **variables):
    """Jinja's new-style gettext (`_()` in templates): the translation as markup where the template
    escapes, always %-formatted. A message without variables is kept per request and locale: a list
    page asks for the same few dozen labels some 300 times."""
    translations, messages_kept = _kept()
    autoescape = context.eval_ctx.autoescape
    if variables:
        text = translations.ugettext(string)
        return (Markup(text) if autoescape else text) % variables
    message = messages_kept.get((string, autoescape))
    if message is None:
        text = translations.ugettext(string)
        message = messages_kept[string, autoescape] = (Markup(text) if autoescape else text) % {}
    return message


def _install_gettext(app: Flask) -> None:
    """Flask-Babel's template gettext, with the translations found once per request (`_translations`)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda string: _translations().ugettext(string),
        ngettext=lambda singular, plural, count: _translations().ungettext(singular, plural, count),
        pgettext=lambda context, string: _translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, count: _translations().unpgettext(context, singular, plural,
                                                                                      count),
        newstyle=True,
    )
    app.jinja_env.globals["gettext"] = _template_gettext  # `_()`; replaces the wrapped gettext above


def register_template_helpers(app: Flask) -> None:
    _install_gettext(app)
    app.add_template_filter(datetime_filter, "datetime")
    app.add_template_filter(duration_filter, "duration")
    app.add_template_filter(format_decimal, "decimal")
    app.add_template_filter(messages.localized, "localized")
    app.add_template_filter(messages.problem_text, "problem_text")
    app.add_template_global(get_locale, "get_locale")
    app.add_template_global(numbers.display, "phone_display")
    app.add_template_global(numbers.to_e164, "to_e164")
    # --- numbers as the pages show them (addresses helper) ---
    app.add_template_global(numbers.shown, "phone_number")

    def colleague_name(sipuid: str) -> str:
        from .journal import colleague_label

        return colleague_label(sipuid)

    app.add_template_global(colleague_name, "colleague_name")

    def dialled_label(number: str) -> str:
        from .sip_accounts import dialled_label as label

        return label(number)

    app.add_template_global(dialled_label, "dialled_label")
