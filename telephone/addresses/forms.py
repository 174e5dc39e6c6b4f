"""Forms of the address master: address, contact person and CSV upload."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length

from ..models import AddressKind
from .book import MAX_LENGTHS, is_valid_country, is_valid_email

NAME_REQUIRED = DataRequired(_l("Bitte einen Namen eingeben."))


def _length(field: str):
    limit = MAX_LENGTHS[field]
    return Length(max=limit, message=_l("Höchstens %(max)d Zeichen.", max=limit))


def _email(_form, field) -> None:
    if field.data and not is_valid_email(field.data.strip()):
        raise ValidationError(_l("Bitte eine gültige E-Mail-Adresse eingeben (z. B. name@firma.de)."))


def _country(_form, field) -> None:
    if field.data and not is_valid_country(field.data.strip()):
        raise ValidationError(_l("Bitte einen zweistelligen Ländercode eingeben (z. B. DE, AT, CH)."))


class PhoneFields:
    """The three numbers every address and contact person has."""

    phone = StringField(_l("Telefon"), validators=[_length("phone")])
    mobile = StringField(_l("Mobil"), validators=[_length("mobile")])
    fax = StringField(_l("Fax"), validators=[_length("fax")])


class AddressForm(PhoneFields, FlaskForm):
    kind = RadioField(_l("Typ"), choices=[(AddressKind.COMPANY.value, _l("Firma")),
                                          (AddressKind.PERSON.value, _l("Person"))],
                      default=AddressKind.COMPANY.value)
    name = StringField(_l("Name"), validators=[NAME_REQUIRED, _length("name")])
    company = StringField(_l("Firma"), validators=[_length("company")])
    street = StringField(_l("Straße"), validators=[_length("street")])
    postcode = StringField(_l("PLZ"), validators=[_length("postcode")])
    city = StringField(_l("Ort"), validators=[_length("city")])
    country = StringField(_l("Land"), validators=[_length("country"), _country])
    email = StringField(_l("E-Mail"), validators=[_length("email"), _email])
    notes = TextAreaField(_l("Notizen"))


class ContactForm(PhoneFields, FlaskForm):
    name = StringField(_l("Name"), validators=[NAME_REQUIRED, _length("name")])
    role = StringField(_l("Funktion"), validators=[_length("role")])
    email = StringField(_l("E-Mail"), validators=[_length("email"), _email])


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV-Datei"))


class ImportConfirmForm(FlaskForm):
    skip_faulty = BooleanField(_l("Fehlerhafte Zeilen überspringen"))
