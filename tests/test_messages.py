"""messages.Message: German now, stored with msgid and parameters, shown in the reader's language."""
from __future__ import annotations

from telephone import messages

from .conftest import make_user


def test_a_message_is_its_german_text_and_travels_through_json(app):
    message = messages.gettext("Zeile %(line)s: %(text)s", line=3,
                               text=messages.gettext("Unbekannte Spalte „%(name)s“ wird ignoriert.", name="x"))
    assert message == "Zeile 3: Unbekannte Spalte „x“ wird ignoriert."
    stored = messages.to_stored(message)
    assert messages.from_stored(stored) == message
    with app.app_context():
        assert messages.localized(stored) == message  # outside a request: German


def test_stored_messages_are_shown_in_the_readers_language(app, client, auth):
    make_user(app, "emma", locale="en")
    auth.login("emma")
    stored = messages.to_stored(messages.ngettext("%(num)d Fehler in den Daten.", "%(num)d Fehler in den Daten.", 1))
    with app.test_request_context():
        from flask_login import login_user

        from telephone.extensions import db
        from telephone.models import User
        login_user(db.session.scalar(db.select(User).filter_by(username="emma")))
        assert messages.localized(stored) == "1 error in the data."
        assert messages.localized({**stored, "num": 2}) == "2 errors in the data."
        # a stored row whose parameters no longer fit its msgid shows its German text, never an error
        broken = {"msgid": "Zeile %(line)s: %(text)s", "text": "Zeile 1: kaputt", "params": {}}
        assert messages.localized(broken) == "Zeile 1: kaputt"
        assert messages.problem_text({"level": "error", "line": 1, "text": "alter Text"}) == "alter Text"
