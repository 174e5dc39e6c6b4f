"""Forms of Call Control: a routing rule, a block list entry, the rule test."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField, widgets)
from wtforms.validators import DataRequired, Length, Optional

CALLER_CHOICES = [("any", _l("jeder Anrufer")), ("known", _l("bekannter Anrufer (Adresse, Ansprechpartner, Telefonbuch)")),
                  ("unknown", _l("unbekannter Anrufer")), ("anonymous", _l("Nummer unterdrückt")),
                  ("managed", _l("Adresse mit Kundenbetreuer"))]
HOLIDAY_CHOICES = [("any", _l("egal")), ("only", _l("nur an Feiertagen")), ("not", _l("nicht an Feiertagen"))]
ACTION_CHOICES = [("account_manager", _l("an den Kundenbetreuer weiterleiten (danach an die Ziele)")),
                  ("forward", _l("an Benutzer oder Nummern weiterleiten")), ("voicemail", _l("Mailbox")),
                  ("group", _l("Placetel-Gruppe")), ("routing_plan", _l("Placetel-Routingplan")),
                  ("prompt", _l("Ansage abspielen, dann auflegen")), ("reject", _l("abweisen (besetzt)")),
                  ("hangup", _l("auflegen"))]
WEEKDAY_CHOICES = [("0", _l("Mo")), ("1", _l("Di")), ("2", _l("Mi")), ("3", _l("Do")), ("4", _l("Fr")),
                   ("5", _l("Sa")), ("6", _l("So"))]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class RuleForm(FlaskForm):
    name = StringField(_l("Name der Regel"), validators=[DataRequired(_l("Bitte einen Namen eingeben.")),
                                                         Length(max=120)])
    enabled = BooleanField(_l("aktiv"), default=True)
    caller = SelectField(_l("Anrufer"), choices=CALLER_CHOICES, default="any")
    tag = StringField(_l("Adressgruppe"), validators=[Length(max=60)])
    dialled = StringField(_l("Gewählte Rufnummer (unsere)"), validators=[Length(max=40)])
    weekdays = CheckboxesField(_l("Wochentage"), choices=WEEKDAY_CHOICES)
    time_from = StringField(_l("von (Uhrzeit)"), validators=[Length(max=5)])
    time_to = StringField(_l("bis (Uhrzeit)"), validators=[Length(max=5)])
    holidays = SelectField(_l("Feiertage"), choices=HOLIDAY_CHOICES, default="any")
    date_from = DateField(_l("Zeitraum von (z. B. Betriebsferien)"), validators=[Optional()])
    date_to = DateField(_l("Zeitraum bis"), validators=[Optional()])
    action = SelectField(_l("Aktion"), choices=ACTION_CHOICES, default="forward")
    targets = TextAreaField(_l("Ziele"), validators=[Length(max=2000)])
    object_id = StringField(_l("Placetel-ID (Gruppe, Routingplan, Ansage)"), validators=[Length(max=20)])
    ringtime = IntegerField(_l("Klingeldauer (Sekunden)"), default=20,
                            validators=[DataRequired(_l("Bitte eine Zahl eingeben."))])
    voicemail_after = BooleanField(_l("Mailbox, wenn niemand abnimmt"))


class BlockForm(FlaskForm):
    number = StringField(_l("Rufnummer oder Anfang mit *"), validators=[DataRequired(_l("Bitte eine Rufnummer eingeben.")),
                                                                       Length(max=40)])
    reason = StringField(_l("Grund"), validators=[Length(max=200)])


class RuleTestForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    number = StringField(_l("Anrufer"), validators=[Length(max=40)])
    to = StringField(_l("Gewählte Rufnummer"), validators=[Length(max=40)])
    at = StringField(_l("Zeitpunkt (TT.MM.JJJJ HH:MM, leer = jetzt)"), validators=[Length(max=20)])
