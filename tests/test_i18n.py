"""The English UI catalog: users who choose English see English, and the catalog stays complete."""
from __future__ import annotations

import io
import os

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from telephone import ROOT

from .conftest import csrf_token_from, make_user

TRANSLATIONS = os.path.join(ROOT, "translations")
POT = os.path.join(TRANSLATIONS, "messages.pot")
PO = os.path.join(TRANSLATIONS, "en", "LC_MESSAGES", "messages.po")
MO = os.path.join(TRANSLATIONS, "en", "LC_MESSAGES", "messages.mo")


def _read_catalog(path: str):
    with open(path, "rb") as file:
        return read_po(file)


def test_english_user_sees_english_address_list_and_nav(client, auth, app):
    make_user(app, "emma", locale="en")
    auth.login("emma")
    page = client.get("/addresses/").text
    assert 'lang="en"' in page
    for text in ("Addresses", "Call log", "Phonebook", "My settings", "Sign out",
                 "No addresses yet.", "Search addresses"):
        assert text in page
    for german in ("Anrufliste", "Telefonbuch", "Abmelden", "Noch keine Adressen vorhanden."):
        assert german not in page


def test_german_user_sees_german(client, auth):
    auth.login("anna")
    page = client.get("/addresses/").text
    assert 'lang="de"' in page
    for text in ("Adressen", "Anrufliste", "Telefonbuch", "Meine Einstellungen", "Abmelden",
                 "Noch keine Adressen vorhanden."):
        assert text in page
    for english in ("Call log", "Phonebook", "Sign out"):
        assert english not in page


def test_error_pages_follow_the_language(client, auth, app):
    make_user(app, "emma", locale="en")
    auth.login("emma")
    response = client.get("/does-not-exist")
    assert response.status_code == 404
    assert "This page does not exist." in response.text


def test_english_flash_and_form_errors(client, auth, app):
    """Messages from views and lazily translated form labels switch too."""
    make_user(app, "emma", locale="en")
    auth.login("emma")
    response = client.post("/addresses/new", data={"kind": "company", "name": ""})
    assert response.status_code == 422
    assert "Please enter a name." in response.text
    assert "Street" in response.text and "Postcode" in response.text


@pytest.mark.csrf
def test_language_switch_on_login_page_shows_english_login(client):
    login = client.get("/login")
    assert "Bitte melden Sie sich an." in login.text
    response = client.post("/language", data={"lang": "en", "next": "/login",
                                               "csrf_token": csrf_token_from(login.text)},
                           follow_redirects=True)
    assert response.status_code == 200
    assert 'lang="en"' in response.text
    for text in ("Please sign in.", "Username", "Password", "Stay signed in", "Sign in"):
        assert text in response.text
    assert "Bitte melden Sie sich an." not in response.text

    back = client.post("/language", data={"lang": "de", "next": "/login",
                                          "csrf_token": csrf_token_from(response.text)},
                       follow_redirects=True)
    assert "Bitte melden Sie sich an." in back.text


def _messages(translations: Translations) -> dict:
    """The translations a catalog holds, without its header (which names the tool and its version)."""
    return {key: value for key, value in translations._catalog.items() if key != ""}


def test_compiled_catalog_matches_the_po_file():
    """messages.mo is committed; it must hold the same translations as messages.po, whatever Babel wrote it."""
    fresh = io.BytesIO()
    write_mo(fresh, _read_catalog(PO))
    fresh.seek(0)
    with open(MO, "rb") as file:
        committed = Translations(file)
    expected = Translations(fresh)
    assert _messages(expected), "messages.po holds no translations"
    assert _messages(committed) == _messages(expected), (
        "translations/en/LC_MESSAGES/messages.mo is out of date: run `pybabel compile -d translations`")


def test_every_message_has_an_english_translation():
    template = _read_catalog(POT)
    english = _read_catalog(PO)
    untranslated, fuzzy = [], []
    for message in template:
        if not message.id:
            continue
        translated = english.get(message.id, message.context)
        strings = translated.string if translated else None
        if isinstance(strings, tuple):
            complete = all(strings)
        else:
            complete = bool(strings)
        if not complete:
            untranslated.append(message.id)
        elif translated.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"untranslated (run pybabel update and translate): {untranslated}"
    assert not fuzzy, f"fuzzy translations to review: {fuzzy}"


def test_translations_keep_their_placeholders():
    english = _read_catalog(PO)
    problems = [(message.id, [str(error) for error in errors]) for message, errors in english.check() if errors]
    assert not problems


def test_template_messages_follow_a_locale_forced_within_the_request(app):
    """Templates' `_()` keeps translated messages per request and locale: a language forced in the
    middle of a request (banners are rendered per language) gets its own, and the German ones stay."""
    from flask_babel import force_locale

    with app.test_request_context("/"):
        template = app.jinja_env.from_string("{{ _('Anrufliste') }}|{{ _('Anrufliste') }}|{{ _('100%%') }}|"
                                             "{{ _('an: %(number)s', number='<b>') }}")
        assert template.render() == "Anrufliste|Anrufliste|100%|an: &lt;b&gt;"
        with force_locale("en"):
            assert template.render().startswith("Call log|Call log|100%|")
        assert template.render().startswith("Anrufliste|")
