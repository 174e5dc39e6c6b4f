"""What a number text is: phone number, internal extension, colleague's SIP id, anonymous, or not recognised.

One function (numbers.parse) decides for storage, the display macro, the journal and click-to-dial.
"""
import pytest
from sqlalchemy import select

from telephone import numbers, site_settings
from telephone.extensions import db
from telephone.models import Address, Call, PhoneNumber

from .conftest import make_user

PHONE = '{% from "_macros.html" import phone %}{{ phone(raw, none, fax) }}'


def render(app, raw, fax=False):
    with app.test_request_context():
        return app.jinja_env.from_string(PHONE).render(raw=raw, fax=fax)


@pytest.mark.parametrize("text, kind, target", [
    ("12345", numbers.INTERNAL, "12345"),
    ("23", numbers.INTERNAL, "23"),
    ("9999", numbers.INTERNAL, "9999"),
    ("777123456@fpbx.de", numbers.COLLEAGUE, None),
    ("anonymous", numbers.ANONYMOUS_CALLER, None),
    ("0221 12", numbers.UNRECOGNISED, None),  # possible, but no valid German number
    ("1234567", numbers.UNRECOGNISED, None),  # seven digits: no extension, no number either
    ("0221 123456", numbers.PHONE, "+49221123456"),
    ("", numbers.EMPTY, None),
])
def test_parse_says_what_a_number_is(app, text, kind, target):
    with app.app_context():
        parsed = numbers.parse(text)
        assert (parsed.kind, parsed.dial_target) == (kind, target)
        assert parsed.e164 == (target if kind == numbers.PHONE else None)


@pytest.mark.parametrize("text", ["12345", "23", "9999", "+4912345", "+4923"])
def test_short_numbers_never_become_e164(app, text):
    with app.app_context():
        assert numbers.to_e164(text) is None


def test_internal_extension_is_shown_as_such_and_dialled_as_typed(app):
    html = render(app, "12345")
    assert "intern 12345" in html and "⚠" not in html and "tel:" not in html
    assert '"number": "12345"' in html and "+4912345" not in html


def test_unrecognised_number_is_marked_without_dial_button(app):
    html = render(app, "0221 12")
    assert 'class="unrecognised"' in html and "⚠" in html and 'class="dial"' not in html


def test_fax_number_gets_no_dial_button(app):
    html = render(app, "0221 123456", fax=True)
    assert "0221 123456" in html and 'class="dial"' not in html and "tel:" not in html
    assert 'class="dial"' in render(app, "0221 123456")


def test_colleague_is_shown_by_the_mapped_user_name(app):
    make_user(app, "anna", display_name="Anna Schmidt")
    with app.app_context():
        site_settings.set_value("placetel.accounts", "anna:777123456@fpbx.de")
        db.session.commit()
    html = render(app, "777123456@fpbx.de")
    assert "intern: Anna Schmidt" in html and 'class="dial"' not in html
    assert "intern: 777999999@fpbx.de" in render(app, "777999999@fpbx.de")


def test_anonymous_caller_is_named_not_dialled(app):
    html = render(app, "anonymous")
    assert "unterdrückte Nummer" in html and 'class="dial"' not in html
    with app.test_request_context():
        assert numbers.display(None, "anonymous") == "anonym"


def test_stored_extension_has_no_e164_and_no_lookup_hit(app):
    with app.test_request_context():
        address = Address(kind="company", name="Zentrale", phone="23", mobile="12345")
        numbers.index_numbers(address, [("phone", "23"), ("mobile", "12345")])
        db.session.add(address)
        db.session.commit()
        assert db.session.scalars(select(PhoneNumber.e164)).all() == [None, None]
        assert numbers.lookup_caller("23").matches == []


def test_journal_offers_callback_to_extension_as_it_is(app, client, auth):
    auth.login("anna")
    with app.app_context():
        db.session.add_all([Call(call_id="a" * 64, direction="in", from_number="23", to_number="0221123456",
                                 status="missed"),
                            Call(call_id="b" * 64, direction="in", from_number="anonymous", to_number="0221123456",
                                 status="missed")])
        db.session.commit()
    page = client.get("/calls/").text
    assert "intern 23" in page and "+4923" not in page
    assert 'name="number" value="23"' in page
    assert page.count("zurückrufen") == 1  # not for the anonymous caller
