"""Forms of the call journal and the phone notes."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional


class JournalFilterForm(FlaskForm):
    """The journal's filters (GET, no CSRF: they change nothing)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Suche"), validators=[Optional(), Length(max=100)],
                    render_kw={"placeholder": _l("Nummer oder Name")})
    direction = SelectField(_l("Richtung"), choices=[("", _l("alle")), ("in", _l("eingehend")),
                                                      ("out", _l("ausgehend"))], default="")
    date_from = DateField(_l("von"), validators=[Optional()])
    date_to = DateField(_l("bis"), validators=[Optional()])
    mine = BooleanField(_l("nur meine"))
    missed = BooleanField(_l("nur verpasste"))


class PhoneNoteForm(FlaskForm):
    subject = StringField(_l("Betreff"), validators=[DataRequired(_l("Bitte einen Betreff eingeben.")),
                                                     Length(max=200)])
    # "address:3", "contact:5", "phonebook:7" or "": checked by the view (any existing record may be picked)
    target = RadioField(_l("Zuordnung"), choices=[], validate_choice=False)
    number = StringField(_l("Rufnummer"), validators=[Optional(), Length(max=120)])
    text = TextAreaField(_l("Notiz"), render_kw={"rows": 8})
    call = HiddenField()
    address = HiddenField()
    phonebook = HiddenField()
