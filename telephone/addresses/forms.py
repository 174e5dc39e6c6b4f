"""Forms of the address master: address, contact person and CSV upload."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length

from sqlalchemy import select

from .. import numbers, placetel
from ..extensions import db
from ..models import AddressKind, User
from .book import MAX_LENGTHS, is_valid_country, is_valid_email, number_region

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


def _phone_number(form, field) -> None:
    """A phone number `phonenumbers` finds valid (read in the form's region) or an internal extension."""
    if field.data and not numbers.parse(field.data, form.number_region()).recognised:
        # gettext, not lazy_gettext: a lazy string counts as safe HTML and the typed text would not be escaped
        raise ValidationError(_("„%(number)s“ ist keine gültige Rufnummer. Bitte mit Vorwahl eingeben "
                                 "(z. B. 06131 1234-0) oder als interne Durchwahl (bis 6 Ziffern).",
                                 number=field.data.strip()))


class PhoneFields:
    """The three numbers every address and contact person has; each must be recognisable."""

    phone = StringField(_l("Telefon"), validators=[_length("phone"), _phone_number])
    mobile = StringField(_l("Mobil"), validators=[_length("mobile"), _phone_number])
    fax = StringField(_l("Fax"), validators=[_length("fax"), _phone_number])
    # The region national numbers are read in (a contact's company's country); set by the view.
    region: str | None = None

    def number_region(self) -> str:
        return self.region or numbers.default_region()


class AddressForm(PhoneFields, FlaskForm):
    kind = RadioField(_l("Typ"), choices=[(AddressKind.COMPANY.value, _l("Firma")),
                                          (AddressKind.PERSON.value, _l("Person"))],
                      default=AddressKind.COMPANY.value)
    customer_number = StringField(_l("Kundennummer"), validators=[_length("customer_number")])
    name = StringField(_l("Name"), validators=[NAME_REQUIRED, _length("name")])
    company = StringField(_l("Firma"), validators=[_length("company")])
    street = StringField(_l("Straße"), validators=[_length("street")])
    postcode = StringField(_l("PLZ"), validators=[_length("postcode")])
    city = StringField(_l("Ort"), validators=[_length("city")])
    country = StringField(_l("Land"), validators=[_length("country"), _country])
    email = StringField(_l("E-Mail"), validators=[_length("email"), _email])
    notes = TextAreaField(_l("Notizen"))
    # Call Control: who takes this customer's calls first, and the groups rules can ask for
    account_manager_id = SelectField(_l("Kundenbetreuer"), coerce=int, default=0)
    tags = StringField(_l("Gruppen"), validators=[Length(max=200, message=_l("Höchstens %(max)d Zeichen.", max=200))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = db.session.scalars(select(User).where(User.active).order_by(User.display_name, User.username))
        self.account_manager_id.choices = [(0, _l("— niemand —"))] + [(user.id, user.label) for user in users]
        if self.account_manager_id.data is None:
            self.account_manager_id.data = 0

    def validate_account_manager_id(self, field) -> None:
        """Call Control forwards to the account manager's phone: a colleague without one cannot be chosen."""
        if not field.data:
            return
        user = db.session.get(User, field.data)
        if user is None or not user.active:
            raise ValidationError(_l("Diesen Benutzer gibt es nicht mehr."))
        if not placetel.sipuid_for(user.username):
            raise ValidationError(_l("%(name)s hat kein Telefon (SIP-Konto) zugeordnet. Bitte zuerst unter "
                                     "Einstellungen → Telefonie zuordnen.", name=user.label))

    def number_region(self) -> str:
        """Numbers without country code are read in the country typed into the form."""
        country = (self.country.data or "").strip()
        return number_region(country, numbers.default_region())


SALUTATION_CHOICES = [("", "–"), ("Herr", _l("Herr")), ("Frau", _l("Frau"))]


class ContactForm(PhoneFields, FlaskForm):
    salutation = SelectField(_l("Anrede"), choices=SALUTATION_CHOICES, default="", validate_choice=False,
                             validators=[_length("salutation")])
    title = StringField(_l("Titel"), validators=[_length("title")])
    first_name = StringField(_l("Vorname"), validators=[_length("first_name")])
    last_name = StringField(_l("Nachname"), validators=[DataRequired(_l("Bitte einen Nachnamen eingeben.")),
                                                        _length("last_name")])
    role = StringField(_l("Funktion"), validators=[_length("role")])
    email = StringField(_l("E-Mail"), validators=[_length("email"), _email])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An Anrede from an import ("Mr.") stays selectable, so saving the form keeps it.
        if self.salutation.data and self.salutation.data not in dict(SALUTATION_CHOICES):
            self.salutation.choices = [*SALUTATION_CHOICES, (self.salutation.data, self.salutation.data)]


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV-Datei"))


class ImportConfirmForm(FlaskForm):
    skip_faulty = BooleanField(_l("Fehlerhafte Zeilen überspringen"))
    update_existing = BooleanField(_l("Vorhandene Adressen aktualisieren"), default=True)
