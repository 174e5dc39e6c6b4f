"""Database connections: a connection the server dropped is replaced without a failed request."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from telephone.extensions import db
from telephone.models import Setting

from .calls_helpers import ANSWERED_CALL, ANSWERED_ID, configure, post_notify, stored_call


def drop_pooled_connections(app) -> None:
    """What a database restart does to the app's idle pooled connections.

    PostgreSQL: the server ends their sessions (pg_terminate_backend). SQLite has no
    server: the next connection taken from the pool is closed under the app once.
    """
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            killer = create_engine(engine.url, poolclass=NullPool)
            with killer.connect() as connection:
                ended = connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
            killer.dispose()
            assert ended >= 1  # the app had a pooled connection, now dead
        else:
            event.listen(engine.pool, "checkout", lambda dbapi_connection, *_: dbapi_connection.close(), once=True)


def test_the_webhook_and_pages_work_after_the_database_dropped_the_connection(app, client, auth, caplog):
    configure(app)
    auth.login("anna")
    assert client.get("/calls/").status_code == 200  # the pool now holds a connection

    drop_pooled_connections(app)
    with caplog.at_level(logging.WARNING, logger="telephone.database"):
        assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    assert "database connection lost" in caplog.text
    assert stored_call(app, ANSWERED_ID).status == "ringing"

    drop_pooled_connections(app)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="telephone.database"):
        page = client.get("/calls/")
    assert page.status_code == 200 and "06131" in page.text
    assert "database connection lost" in caplog.text


def test_a_dropped_connection_in_the_middle_of_a_transaction_fails_instead_of_losing_work(app):
    """Only a transaction's first statement is run again: after other work on the connection a
    repeat on a new one would silently drop that work, so the error stands."""
    with app.app_context():
        db.session.add(Setting(key="calls.routing", value="affected"))
        db.session.flush()
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            killer = create_engine(db.engine.url, poolclass=NullPool)
            with killer.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killer.dispose()
        else:
            connection.connection.dbapi_connection.close()
        with pytest.raises(DBAPIError) as raised:
            db.session.execute(select(Setting.value))
        assert raised.value.connection_invalidated
        db.session.rollback()
        assert db.session.scalar(select(Setting.value).where(Setting.key == "calls.routing")) is None
