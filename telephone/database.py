"""Database connections: dropped ones are replaced without a failed request, and transactions without round trips.

The pool does not ping a connection before each use (`pool_pre_ping` cost a
round trip per request); it replaces connections after DATABASE_POOL_RECYCLE
seconds instead, and notices a dropped connection in two ways:

- When it is taken from the pool, without a round trip: a PostgreSQL
  connection the server ended (restart, `pg_terminate_backend`, idle timeout)
  has the server's goodbye waiting on its socket, where an idle connection has
  nothing; a closed SQLite connection refuses any use. Such a connection is
  replaced at once, for every kind of use (ORM, Core, the sync engine's own).
- A connection that dies unnoticed (a firewall dropping it silently) fails its
  next statement. When that is the first statement of a transaction run
  through the session, nothing has been done on the dead connection yet, so it
  is run once more on a new one ("optimistic" disconnect handling in
  SQLAlchemy's terms). A later statement is not repeated: the work before it
  is lost with the connection, and the request fails as before.
"""
from __future__ import annotations

import logging
import select
import sqlite3
import sys

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import Pool

from .extensions import db

log = logging.getLogger(__name__)


@event.listens_for(Pool, "checkout")
def _replace_dropped(dbapi_connection, connection_record, connection_proxy) -> None:
    """Make the pool open a new connection instead of handing out one that was dropped while idle."""
    if not _alive(dbapi_connection):
        log.warning("database connection was dropped while idle in the pool; opening a new one")
        raise DisconnectionError("connection dropped while idle in the pool")


# What the app sets on each new PostgreSQL connection (see `_session_settings`)
POSTGRESQL_SETTINGS = {"max_parallel_workers_per_gather": "0", "synchronous_commit": "off"}


@event.listens_for(Pool, "connect")
def _session_settings(dbapi_connection, _connection_record) -> None:
    """PostgreSQL: set POSTGRESQL_SETTINGS once per new connection.

    - No parallel workers: the app's queries are short (a page, a webhook), starting
      workers cost more than they save. A journal search at 100,000 calls waited 20 ms
      for its workers before the first row and took 30 ms in all, 15 ms without them.
    - A commit does not wait for the disk (`synchronous_commit = off`), as SQLite's
      WAL with `synchronous=NORMAL` (`telephone/__init__.py`) does not: the wait was 4 ms
      per commit here (p95 8–10 ms), most of the webhook's time before the banner.
      A crash of the server (not of the app) may lose the last fraction of a second of
      commits, never more and never the database's consistency; the call-records job
      completes lost calls from Placetel's records.
    """
    if type(dbapi_connection).__module__.split(".")[0] == "psycopg":  # psycopg 3 (not psycopg2)
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        for name, value in POSTGRESQL_SETTINGS.items():
            dbapi_connection.execute(f"SET {name} = {value}")
        dbapi_connection.autocommit = autocommit


def _alive(dbapi_connection) -> bool:
    if isinstance(dbapi_connection, sqlite3.Connection):
        try:
            dbapi_connection.total_changes  # noqa: B018 - raises once the connection is closed
        except sqlite3.ProgrammingError:
            return False
        return True
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return False
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return True
    poller = _poll()
    poller.register(fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)  # an idle connection has nothing to read


def _poll():
    """A poll object that answers at once: gevent's own would switch to other greenlets first."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")()
    return select.poll()


# session.info key: the transaction that has taken a connection (anything may have been done on it since)
_CONNECTED_TRANSACTION = "telephone.connected_transaction"


@event.listens_for(Session, "after_begin")
def _connected(session: Session, transaction, connection) -> None:
    session.info[_CONNECTED_TRANSACTION] = transaction


@event.listens_for(Session, "do_orm_execute")
def _retry_first_statement(state: ORMExecuteState):
    """Run the first statement of a transaction once more on a new connection if the pooled one was dead."""
    session = state.session
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_CONNECTED_TRANSACTION) is transaction:
        return None  # the transaction has used its connection already: not safe to repeat, run it normally
    if session.new or session.dirty or session.deleted:
        return None  # the statement would flush changes first; those cannot simply be repeated
    try:
        return state.invoke_statement()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("database connection lost (%s); running the statement again on a new connection",
                    str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
        session.rollback()  # releases the dead connection; nothing had been done on it
        return state.invoke_statement()


def statements_commit_themselves() -> None:
    """On PostgreSQL: let every statement of the request's unit of work commit by itself.

    That saves the BEGIN and COMMIT round trips. Only for work whose writes are a
    single statement (the webhook's), since two writes would no longer be atomic.
    Call it before the session's first statement; a no-op on other databases and when the
    session is at work already (e.g. the admin's test call posts through the webhook inside its request).
    """
    session = db.session()
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_CONNECTED_TRANSACTION) is transaction:
        return
    if db.engine.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        session.info.pop(_CONNECTED_TRANSACTION, None)  # nothing done on it yet: its first statement may be retried
