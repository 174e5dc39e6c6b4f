from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..auth.forms import LANGUAGE_CHOICES
from ..sip_accounts import MAX_NUMBER_NAME, SIPUID_PATTERN


class TelephonyForm(FlaskForm):
    # Secrets are write-only: empty means "keep the stored value".
    api_token = PasswordField(_l("Placetel API-Token"))
    clear_api_token = BooleanField(_l("API-Token löschen"))
    shared_secret = PasswordField(_l("Shared Secret der Notify-API"))
    clear_shared_secret = BooleanField(_l("Shared Secret löschen"))
    webhook_user = StringField(_l("Benutzername für den Webhook (HTTP Basic)"), validators=[Length(max=64)])
    webhook_password = PasswordField(_l("Passwort für den Webhook (HTTP Basic)"))
    clear_webhook_password = BooleanField(_l("Webhook-Passwort löschen"))
    lookup_token = PasswordField(_l("API-Token für die Nummernsuche anderer Programme"))
    clear_lookup_token = BooleanField(_l("API-Token der Nummernsuche löschen"))
    default_region = StringField(_l("Land für Nummern ohne Vorwahl"), validators=[Length(max=2)])
    routing = RadioField(
        _l("Anruf-Benachrichtigungen"),
        choices=[("all", _l("an alle Benutzer")), ("affected", _l("nur an Betroffene"))],
        default="all",
    )
    expire_minutes = IntegerField(
        _l("Anrufe ohne Ende-Meldung schließen nach (Minuten)"),
        validators=[DataRequired(_l("Bitte eine Zahl eingeben.")), NumberRange(min=1, max=1440)],
        default=2,
    )


USERNAME_RULE = Regexp(r"^[A-Za-z0-9._@-]+$", message=_l("Nur Buchstaben, Ziffern und . _ @ -"))


class UserForm(FlaskForm):
    username = StringField(_l("Benutzername"), validators=[DataRequired(_l("Bitte Benutzernamen eingeben.")),
                                                            Length(max=64), USERNAME_RULE])
    display_name = StringField(_l("Anzeigename"), validators=[Length(max=120)])
    admin = BooleanField(_l("Administrator"))
    active = BooleanField(_l("Aktiv"), default=True)
    locale = SelectField(_l("Sprache"), choices=LANGUAGE_CHOICES, default="de")
    password = PasswordField(_l("Passwort (leer lassen: Einmal-Passwort erzeugen)"),
                             validators=[Optional(), Length(min=8, message=_l("Mindestens 8 Zeichen."))])


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SipAccountForm(FlaskForm):
    """The user's phone: picked from Placetel's SIP users, or typed when the list is missing."""

    sipuid = StringField(_l("SIP-UID"), filters=[_strip], validators=[
        Optional(), Length(max=120, message=_l("Bitte höchstens %(max)d Zeichen.")),
        Regexp(SIPUID_PATTERN, message=_l("Das ist keine gültige SIP-UID (z. B. 777123456@fpbx.de).")),
    ])


class NumberAssignmentForm(FlaskForm):
    """One of the office's numbers that rings this user, with its name ("Zentrale")."""

    number = StringField(_l("Rufnummer"), filters=[_strip],
                         validators=[DataRequired(_l("Bitte eine Rufnummer eingeben.")), Length(max=64)],
                         render_kw={"list": "office-numbers", "inputmode": "tel", "autocomplete": "off"})
    name = StringField(_l("Name der Rufnummer"), filters=[_strip], validators=[
        Length(max=MAX_NUMBER_NAME, message=_l("Bitte höchstens %(max)d Zeichen."))])
