"""Forms of the phonebook: manual entries, sources (built from each type's fields), limits."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField,
                     TextAreaField, URLField)
from wtforms.validators import URL, DataRequired, InputRequired, StopValidation, Length, NumberRange, Optional, Regexp, ValidationError

from ..sync.base import Source
from . import entries, sources

GENDER_CHOICES = [("", _l("–")), ("female", _l("Frau")), ("male", _l("Herr"))]


class EntryForm(FlaskForm):
    """A manual phonebook entry; several numbers per field are separated by commas."""

    honorific_prefix = StringField(_l("Titel"), validators=[Length(max=60)])
    gender = SelectField(_l("Anrede"), choices=GENDER_CHOICES, default="")
    given_name = StringField(_l("Vorname"), validators=[Length(max=120)])
    family_name = StringField(_l("Nachname"), validators=[Length(max=120)])
    display_name = StringField(_l("Anzeigename"), validators=[Length(max=200)])
    company = StringField(_l("Firma"), validators=[Length(max=200)])
    job_title = StringField(_l("Position"), validators=[Length(max=200)])
    work_phones = StringField(_l("Telefon"))
    mobile_phones = StringField(_l("Mobil"))
    fax_phones = StringField(_l("Fax"))
    emails = StringField(_l("E-Mail"))

    def validate_display_name(self, field):
        if not (field.data or "").strip() and not (self.given_name.data or "").strip() \
                and not (self.family_name.data or "").strip():
            raise ValidationError(_l("Bitte einen Namen eingeben (Anzeigename oder Vor-/Nachname)."))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for name in entries.PHONE_FIELDS:
            errors = entries.number_errors(entries.split_values(getattr(self, name).data))
            getattr(self, name).errors = list(getattr(self, name).errors) + errors
            ok = ok and not errors
        errors = entries.email_errors(entries.split_values(self.emails.data))
        self.emails.errors = list(self.emails.errors) + errors
        return ok and not errors

    def data_for_save(self) -> entries.ManualEntryData:
        phones = [(kind, number) for name, kind in entries.PHONE_FIELDS.items()
                  for number in entries.split_values(getattr(self, name).data)]
        return entries.ManualEntryData(
            display_name=self.display_name.data or "", honorific_prefix=self.honorific_prefix.data or "",
            gender=self.gender.data or "", given_name=self.given_name.data or "",
            family_name=self.family_name.data or "", company=self.company.data or "",
            job_title=self.job_title.data or "", phones=phones, emails=entries.split_values(self.emails.data))


INTERVAL_CHOICES = [("daily", _l("täglich")), ("hourly", _l("stündlich")), ("weekly", _l("wöchentlich")),
                    ("off", _l("aus (nur von Hand)"))]
WEEKDAY_CHOICES = [(0, _l("Montag")), (1, _l("Dienstag")), (2, _l("Mittwoch")), (3, _l("Donnerstag")),
                   (4, _l("Freitag")), (5, _l("Samstag")), (6, _l("Sonntag"))]
FIELD_PREFIX = "opt_"


class SourceForm(FlaskForm):
    """The common part of a source; `source_form` adds the fields of its type."""

    type = SelectField(_l("Typ"))
    name = StringField(_l("Name"), validators=[Length(max=120)])
    description = TextAreaField(_l("Beschreibung"), validators=[Optional()])
    interval = SelectField(_l("Synchronisationsintervall"), choices=INTERVAL_CHOICES, default="daily")
    run_at = StringField(_l("Uhrzeit"), default="03:00", render_kw={"type": "time"},
                         validators=[Regexp(r"^([01]?\d|2[0-3]):[0-5]\d$", message=_l("Bitte eine Uhrzeit wie 03:00 eingeben."))])
    weekday = SelectField(_l("Wochentag"), choices=WEEKDAY_CHOICES, coerce=int, default=0)
    enabled = BooleanField(_l("Aktiv"), default=True)

    source_cls: type[Source]

    def type_fields(self) -> list:
        """The type's own fields, in the order the type declares them."""
        return [getattr(self, FIELD_PREFIX + spec.name) for spec in self.source_cls.fields]

    def clear_field(self, spec):
        return getattr(self, f"{FIELD_PREFIX}clear_{spec.name}", None)

    def type_values(self) -> dict[str, str]:
        return {spec.name: getattr(self, FIELD_PREFIX + spec.name).data or "" for spec in self.source_cls.fields}

    def cleared(self) -> set[str]:
        return {spec.name for spec in self.source_cls.fields
                if self.clear_field(spec) is not None and self.clear_field(spec).data}


def web_address(form, field) -> None:
    """Only http:// and https:// addresses (no file://, gopher://, …); stops the other checks."""
    if field.data and not sources.is_web_address(field.data):
        raise StopValidation(_l("Nur Adressen mit http:// oder https:// sind erlaubt."))


def source_form(source_cls: type[Source], type_choices: list[tuple[str, str]], secrets_set: set[str], **kwargs):
    """A SourceForm with the fields of `source_cls` (password fields write-only)."""

    class TypedSourceForm(SourceForm):
        pass

    for spec in source_cls.fields:
        required = [DataRequired(_l("Bitte „%(label)s“ ausfüllen.", label=spec.label))]
        if spec.kind == "password":
            # Empty means "keep the stored value"; required only while nothing is stored.
            validators = required if spec.required and spec.name not in secrets_set else [Optional()]
            field = PasswordField(spec.label, validators=validators, description=spec.help)
            if not spec.required:
                setattr(TypedSourceForm, f"{FIELD_PREFIX}clear_{spec.name}",
                        BooleanField(_l("%(label)s löschen", label=spec.label)))
        else:
            validators = required if spec.required else [Optional()]
            if spec.kind == "select":
                field = SelectField(spec.label, choices=list(spec.choices), default=spec.default,
                                    validators=validators, description=spec.help)
            elif spec.kind == "url":
                field = URLField(spec.label, default=spec.default, description=spec.help, validators=validators + [
                    web_address,
                    URL(require_tld=False, message=_l("Bitte eine vollständige Adresse mit https:// eingeben."))])
            elif spec.kind == "email":
                field = EmailField(spec.label, default=spec.default, validators=validators, description=spec.help)
            else:
                field = StringField(spec.label, default=spec.default, validators=validators, description=spec.help)
        setattr(TypedSourceForm, FIELD_PREFIX + spec.name, field)
    form = TypedSourceForm(**kwargs)
    form.source_cls = source_cls
    form.type.choices = type_choices
    return form


class LimitsForm(FlaskForm):
    max_per_upload = IntegerField(_l("Höchstens Datensätze je Synchronisation"),
                                  validators=[DataRequired(_l("Bitte eine Zahl eingeben.")), NumberRange(min=1)])
    max_total = IntegerField(_l("Höchstens synchronisierte Einträge insgesamt"),
                             validators=[DataRequired(_l("Bitte eine Zahl eingeben.")), NumberRange(min=1)])
    max_delete_share = IntegerField(
        _l("Höchstens löschen ohne Bestätigung (Prozent der Einträge einer Schnittstelle)"),
        validators=[InputRequired(_l("Bitte eine Zahl eingeben.")),
                    NumberRange(min=0, max=100, message=_l("Bitte eine Zahl von 0 bis 100 eingeben."))])
    download_deadline = IntegerField(
        _l("Höchstdauer eines Abrufs (Sekunden)"),
        validators=[DataRequired(_l("Bitte eine Zahl eingeben.")),
                    NumberRange(min=1, max=3600, message=_l("Bitte eine Zahl von 1 bis 3600 eingeben."))])

    SETTINGS = {"max_per_upload": "phonebook.max_per_upload", "max_total": "phonebook.max_total",
                "max_delete_share": "phonebook.max_delete_share", "download_deadline": "phonebook.download_deadline"}


class UploadForm(FlaskForm):
    file = FileField(_l("CSV-Datei"))
    allow_empty = BooleanField(_l("Leere Quelle zulassen (löscht alle Einträge dieser Schnittstelle)"))
    # Sent by the confirmation button after a sync was stopped for deleting too many entries
    allow_mass_delete = BooleanField(_l("Löschen vieler Einträge erlauben"))
