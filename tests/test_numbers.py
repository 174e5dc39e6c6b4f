"""Number normalisation and caller lookup over the index."""
import pytest

from telephone import numbers
from telephone.extensions import db
from telephone.models import Address, ContactPerson, PhonebookEntry


@pytest.mark.parametrize("text", ["06131 1234", "+4961311234", "004961311234", "+49 (0)6131 1234",
                                  "tel:+49-6131-1234", "+49 6131 / 12 34", "(06131) 1234"])
def test_german_notations_normalise_to_e164(app, text):
    with app.app_context():
        assert numbers.to_e164(text) == "+4961311234"


@pytest.mark.parametrize("text", ["anonymous", "777111222@fpbx.de", "", "abc", "12"])
def test_unparseable_numbers_have_no_e164(app, text):
    with app.app_context():
        assert numbers.parse(text).e164 is None or text == "12"


def test_default_region_comes_from_settings(app):
    from telephone import site_settings
    with app.app_context():
        site_settings.set_value("numbers.default_region", "AT")
        db.session.commit()
        assert numbers.to_e164("01 5123456") == "+4315123456"


def test_display_national_for_own_country_international_for_others(app):
    with app.app_context():
        assert numbers.display("+4961311234") == "06131 1234"
        assert numbers.display("+390669821234").startswith("+39 06")
        assert numbers.display(None, "kaputt") == "kaputt"


def _company(name, phone, **fields):
    address = Address(kind="company", name=name, phone=phone, **fields)
    numbers.index_numbers(address, [("phone", phone), ("mobile", fields.get("mobile", "")),
                                    ("fax", fields.get("fax", ""))])
    db.session.add(address)
    return address


@pytest.fixture
def directory(app):
    with app.app_context():
        mueller = _company("Müller GmbH", "06131 1234-0", fax="06131 1234-99")
        person = ContactPerson(name="Anna Schmidt", phone="06131 1234-56", address=mueller)
        numbers.index_numbers(person, [("phone", person.phone)])
        _company("Kurz AG", "0221 123")  # valid, but too short for extension matches
        twin_a = _company("Zwilling A", "030 5555555")
        twin_b = _company("Zwilling B", "+49 30 5555555")
        entry = PhonebookEntry(display_name="Jörg Müller", internal_id="2")
        numbers.index_numbers(entry, [("phone", "+4922198765432")])
        db.session.add_all([person, entry])
        db.session.commit()
        yield {"mueller": mueller.id, "person": person.id, "twins": {twin_a.id, twin_b.id}, "entry": entry.id}


@pytest.mark.parametrize("caller", ["06131123456", "+496131123456", "00496131123456"])
def test_exact_hit_on_contact_person(app, directory, caller):
    with app.test_request_context():
        result = numbers.lookup_caller(caller)
        assert [(m.kind, m.name, m.company) for m in result.matches] == [("contact", "Anna Schmidt", "Müller GmbH")]
        assert result.matches[0].url == f"/addresses/{directory['mueller']}#contact-{directory['person']}"


def test_contact_persons_are_named_with_their_own_company(app, directory):
    with app.test_request_context():
        other = _company("Weber KG", "040 7654321")
        person = ContactPerson(name="Ben Weber", phone="040 7654321-12", address=other)
        numbers.index_numbers(person, [("phone", person.phone)])
        db.session.add(person)
        db.session.commit()
        shown = lambda caller: [(m.name, m.company) for m in numbers.lookup_caller(caller).matches]  # noqa: E731
        assert shown("040 7654321-12") == [("Ben Weber", "Weber KG")]
        assert shown("06131 1234-56") == [("Anna Schmidt", "Müller GmbH")]


def test_caller_on_extension_of_main_number_matches_company(app, directory):
    with app.test_request_context():
        result = numbers.lookup_caller("06131 1234 77")
        assert [(m.kind, m.name) for m in result.matches] == [("address", "Müller GmbH")]
        assert result.matches[0].via_extension


def test_switchboard_number_itself_matches(app, directory):
    with app.test_request_context():
        assert [m.name for m in numbers.lookup_caller("0613112340").matches] == ["Müller GmbH"]


def test_short_main_numbers_never_match_partially(app, directory):
    with app.test_request_context():
        assert numbers.lookup_caller("022112345").matches == []
        assert numbers.lookup_caller("0221123").matches[0].name == "Kurz AG"  # exact is fine


def test_several_matches_are_all_candidates(app, directory):
    with app.test_request_context():
        result = numbers.lookup_caller("0305555555")
        assert {m.address_id for m in result.matches} == directory["twins"]


def test_phonebook_entries_are_found(app, directory):
    with app.test_request_context():
        result = numbers.lookup_caller("022198765432")
        assert [(m.kind, m.name) for m in result.matches] == [("phonebook", "Jörg Müller")]


@pytest.mark.parametrize("caller", ["anonymous", "", "777111222@fpbx.de"])
def test_anonymous_and_sip_callers_find_nothing(app, directory, caller):
    with app.test_request_context():
        result = numbers.lookup_caller(caller)
        assert result.e164 is None and result.matches == []


def test_unparseable_number_is_kept_and_marked(app):
    with app.app_context():
        address = Address(kind="person", name="X", phone="bitte nachfragen")
        numbers.index_numbers(address, [("phone", address.phone)])
        db.session.add(address)
        db.session.commit()
        assert [(n.raw, n.e164) for n in address.numbers] == [("bitte nachfragen", None)]
