"""The webhook → banner hot path: how much database work one event costs, and that it stays correct.

Every statement is a round trip to PostgreSQL while Placetel and the banners wait;
the bounds below catch a change that adds queries to the hot path again
(bench/hot_path_statements.py prints the statements themselves).
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from telephone import call_rows, events, journal, placetel, routing
from telephone.calls.webhook import notify_form
from telephone.extensions import db
from telephone.models import Address, CallEvent
from telephone.numbers import index_numbers

from .calls_helpers import ANSWERED_CALL, ANSWERED_ID, SIPUID, configure, post_notify, stored_call
from .conftest import make_user

# Statements of one webhook including its banner (SQLite needs one more: its write takes two).
INCOMING_CALL_STATEMENTS = {"postgresql": 9, "sqlite": 10}
ANSWERED_STATEMENTS = {"postgresql": 8, "sqlite": 9}


class Statements:
    """The statements run on the app's engine, by thread (the request's own and the banner dispatcher's)."""

    def __init__(self, engine):
        self.by_thread: dict[str, list[str]] = {}
        self.transactions = 0  # BEGINs sent to the server
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

    def _statement(self, conn, cursor, statement, *args):
        self.by_thread.setdefault(threading.current_thread().name, []).append(statement)

    def _begin(self, conn):
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.transactions += 1

    def clear(self) -> None:
        self.by_thread.clear()
        self.transactions = 0

    @property
    def of_request(self) -> list[str]:
        return self.by_thread.get(threading.current_thread().name, [])

    @property
    def of_dispatcher(self) -> list[str]:
        return self.by_thread.get("banner-dispatcher", [])


@pytest.fixture
def office(app):
    """A known caller (06131 123456 is Müller GmbH), a routing rule that asks about known callers,
    Anna's phone and an open event stream."""
    anna = make_user(app, "anna")
    configure(app, accounts=f"anna:{SIPUID}")
    with app.app_context():
        customer = Address(kind="company", name="Müller GmbH")
        db.session.add(customer)
        db.session.flush()
        index_numbers(customer, [("phone", "06131 123456")])
        rule = routing.new_rule()
        rule.name, rule.caller, rule.action, rule.object_id = "Kunden", "known", "group", "1"
        db.session.add(rule)
        db.session.commit()
        stream = events.hub().subscribe(anna, "de")
        dialect = db.engine.dialect.name
        statements = Statements(db.engine)
    return stream, statements, dialect


def test_an_incoming_call_and_its_banner_take_few_statements(app, client, office):
    stream, statements, dialect = office
    response = post_notify(client, ANSWERED_CALL[0])
    assert response.status_code == 200 and b'<Group id="1"' in response.data  # Call Control knew the caller

    banner = stream.next(timeout=5)
    assert banner.call_id == ANSWERED_ID and "Müller GmbH" in banner.html["de"]
    assert len(statements.of_request) <= INCOMING_CALL_STATEMENTS[dialect], statements.of_request
    # The caller is looked up once for Call Control and the journal
    assert sum("FROM phone_number" in statement for statement in statements.of_request) == 1
    # The dispatcher sent the banner the webhook rendered, without loading the call again
    assert statements.of_dispatcher == []
    if dialect == "postgresql":  # each statement commits itself: no BEGIN and COMMIT round trips
        assert statements.transactions == 0


def test_an_answered_call_and_its_banner_take_few_statements(app, client, office):
    stream, statements, dialect = office
    assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    stream.next(timeout=5)
    statements.clear()

    assert post_notify(client, ANSWERED_CALL[1]).status_code == 200
    banner = stream.next(timeout=5)
    assert "Anruf angenommen von Anna" in banner.html["de"]
    assert len(statements.of_request) <= ANSWERED_STATEMENTS[dialect], statements.of_request
    assert statements.of_dispatcher == []


def test_an_event_stored_meanwhile_by_another_request_is_not_lost(app, client, monkeypatch):
    """CallAccepted is stored by another request between this HungUp's read and its write: the HungUp
    notices that the call changed, derives it again from all three events and stores that."""
    make_user(app, "anna")
    configure(app, accounts=f"anna:{SIPUID}")
    assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    save = call_rows.save

    def save_after_another_request(call, call_event):
        monkeypatch.setattr(call_rows, "save", save)
        with app.app_context():  # another request, with its own session
            journal.record_event(placetel.parse_notify(notify_form(ANSWERED_CALL[1])))
        return save(call, call_event)

    monkeypatch.setattr(call_rows, "save", save_after_another_request)
    assert post_notify(client, ANSWERED_CALL[2]).status_code == 200

    call = stored_call(app, ANSWERED_ID)
    with app.app_context():
        accepted_at = db.session.scalar(select(CallEvent.received_at).where(CallEvent.event == "CallAccepted"))
        assert db.session.scalar(select(func.count()).select_from(CallEvent)) == 3
    assert call.status == "ended" and call.duration == 38
    assert call.peer == SIPUID and call.user_id is not None
    assert call.answered_at == accepted_at  # not the time derived from the duration, as without CallAccepted
