"""Database connections: a dropped connection is retried once, and transactions without round trips.

The pool does not ping a connection before each use (`pool_pre_ping` cost a
round trip per request); it replaces connections after DATABASE_POOL_RECYCLE
seconds instead. A connection that died anyway (server restart, idle timeout of
a firewall) fails its next statement. When that statement is the first of a
transaction, nothing has been done on the dead connection yet, so the statement
is run once more on a new one ("optimistic" disconnect handling in SQLAlchemy's
terms). A later statement is not retried: the work before it is lost with the
connection, and the request fails as before.
"""
from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session

from .extensions import db

log = logging.getLogger(__name__)

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
