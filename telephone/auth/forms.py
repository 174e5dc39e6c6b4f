from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

LANGUAGE_CHOICES = [("de", "Deutsch"), ("en", "English")]


class LoginForm(FlaskForm):
    username = StringField(_l("Benutzername"), validators=[DataRequired(_l("Bitte Benutzernamen eingeben."))],
                           render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Passwort"), validators=[DataRequired(_l("Bitte Passwort eingeben."))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Angemeldet bleiben"))


class NewPasswordMixin:
    new_password = PasswordField(
        _l("Neues Passwort"),
        validators=[Optional(), Length(min=8, message=_l("Mindestens 8 Zeichen."))],
        render_kw={"autocomplete": "new-password"},
    )
    new_password_repeat = PasswordField(
        _l("Neues Passwort wiederholen"),
        validators=[EqualTo("new_password", message=_l("Die Passwörter stimmen nicht überein."))],
        render_kw={"autocomplete": "new-password"},
    )


class AccountForm(NewPasswordMixin, FlaskForm):
    display_name = StringField(_l("Anzeigename"), validators=[Length(max=120)])
    call_notifications = BooleanField(_l("Telefon-Benachrichtigungen"))
    desktop_notifications = BooleanField(_l("Desktop-Benachrichtigung bei eingehenden Anrufen"))
    ring_sound = BooleanField(_l("Leiser Klingelton bei eingehenden Anrufen"))
    locale = SelectField(_l("Sprache"), choices=LANGUAGE_CHOICES)
    current_password = PasswordField(_l("Aktuelles Passwort (nur zum Ändern des Passworts)"),
                                     render_kw={"autocomplete": "current-password"})
