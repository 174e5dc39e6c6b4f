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


def end_idle_connections(app) -> None:
    """What a database restart does to the app's idle pooled connections.

    PostgreSQL: the server ends their sessions (pg_terminate_backend, waiting until they are gone).
    SQLite has no server: the connection is closed as it goes back into the pool.
    """
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            killer = create_engine(engine.url, poolclass=NullPool)
            with killer.connect() as connection:
                ended = connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
            killer.dispose()
            assert ended >= 1  # the app had a pooled connection, now dead
        else:
            event.listen(engine.pool, "checkin", lambda dbapi_connection, *_: dbapi_connection.close(), once=True)


def drop_next_connection_unnoticed(app) -> None:
    """A connection that dies after it left the pool (a firewall dropping it silently looks the same):
    closed under the app when it is next taken, after the pool's own check."""
    with app.app_context():
        event.listen(db.engine.pool, "checkout", lambda dbapi_connection, *_: dbapi_connection.close(), once=True)


def test_the_webhook_and_pages_work_after_the_database_ended_idle_connections(app, client, auth, caplog):
    configure(app)
    auth.login("anna")
    assert client.get("/calls/").status_code == 200  # the pool now holds a connection

    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    end_idle_connections(app)
    if sqlite:
        client.get("/calls/")  # the connection is closed as it goes back
    with caplog.at_level(logging.WARNING, logger="telephone.database"):
        assert post_notify(client, ANSWERED_CALL[0]).status_code == 200
    assert "dropped while idle" in caplog.text
    assert stored_call(app, ANSWERED_ID).status == "ringing"

    end_idle_connections(app)
    if sqlite:
        client.get("/calls/")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="telephone.database"):
        page = client.get("/calls/")
    assert page.status_code == 200 and "06131" in page.text
    assert "dropped while idle" in caplog.text


def test_a_page_works_when_its_connection_died_unnoticed(app, client, auth, caplog):
    """The first statement of the request's transaction fails with a disconnect and is run again."""
    auth.login("anna")
    drop_next_connection_unnoticed(app)
    with caplog.at_level(logging.WARNING, logger="telephone.database"):
        page = client.get("/calls/")
    assert page.status_code == 200 and "Anrufliste" in page.text
    assert "running the statement again" in caplog.text


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


def test_postgresql_connections_plan_without_parallel_workers_and_commit_without_waiting_for_the_disk(
        app, client, auth):
    """Starting parallel workers cost a 100,000-call journal search more than it saved, waiting
    for the disk 4 ms per webhook commit; the settings hold on every new connection, also in a
    transaction the request began."""
    wanted = {"max_parallel_workers_per_gather": "0", "synchronous_commit": "off"}

    def settings() -> dict:
        return {name: db.session.scalar(text(f"SHOW {name}")) for name in wanted}

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL settings")
        assert settings() == wanted
        db.session.rollback()
    end_idle_connections(app)  # the replacement connection gets them too
    auth.login()
    assert client.get("/calls/?q=Jäger").status_code == 200
    with app.app_context():
        assert settings() == wanted
