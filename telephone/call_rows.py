"""Storing a call event together with its call row: one statement where the database allows it.

The journal derives the `Call` row in memory (from the stored events and the new
one) and hands both here. On PostgreSQL the call row and the event are written by
one statement (data-modifying CTEs); SQLite needs two, in one transaction.

The call row is written only if nobody changed it since it was read (its
`updated_at` is unchanged), and the event only together with it: a concurrent
change makes `save` return None and the journal derives again. A repeated event
(the unique `(call_id, event)`) and a call created meanwhile raise IntegrityError.
"""
from __future__ import annotations

from sqlalchemy import Insert, Update, inspect, insert, literal, select, true, update

from .extensions import db
from .models import Call, CallEvent, utcnow

CALLS = Call.__table__
CALL_EVENTS = CallEvent.__table__
_EVENT_COLUMNS = ("call_id", "event", "payload", "received_at")


def save(call: Call, call_event: CallEvent) -> int | None:
    """Write `call` (a new one, or the changed columns of one read before) and `call_event`; the
    new event's id, or None when the call row changed meanwhile. Sets a new call's `id`. Caller commits."""
    now = utcnow()
    write_call = _write_call(call, now)
    event_values = [literal(getattr(call_event, name), CALL_EVENTS.c[name].type) for name in _EVENT_COLUMNS]
    if db.session.get_bind().dialect.name == "postgresql":
        saved_call = write_call.cte("saved_call")
        saved_event = (
            insert(CALL_EVENTS).from_select(_EVENT_COLUMNS, select(*event_values).select_from(saved_call))
            .returning(CALL_EVENTS.c.id).cte("saved_event")
        )
        row = db.session.execute(
            select(saved_call.c.id, saved_event.c.id).select_from(saved_call.join(saved_event, true()))
        ).first()
    else:
        call_pk = db.session.scalar(write_call)
        row = None if call_pk is None else (call_pk, db.session.scalar(
            insert(CALL_EVENTS).from_select(_EVENT_COLUMNS, select(*event_values)).returning(CALL_EVENTS.c.id)))
    if row is None:
        return None
    call.id, call.updated_at = row[0], now
    return row[1]


def _write_call(call: Call, now) -> Insert | Update:
    """INSERT of a new call, or UPDATE of the changed columns of a stored one if it is unchanged."""
    state = inspect(call)
    changed = {attr.key: attr.history.added[0] for attr in state.attrs
               if attr.key in CALLS.c and attr.key not in ("id", "updated_at") and attr.history.added}
    if call.id is None:
        # Column defaults spelled out: Core leaves them out of an INSERT inside a CTE
        defaults = {column.key: _default(column) for column in CALLS.c
                    if column.default is not None and column.key not in changed}
        return insert(CALLS).values(**{**defaults, **changed, "updated_at": now}).returning(CALLS.c.id)
    seen = call.updated_at  # as read: derive_call does not touch it
    unchanged = CALLS.c.updated_at.is_(None) if seen is None else CALLS.c.updated_at == seen
    return (update(CALLS).where(CALLS.c.id == call.id, unchanged).values(**changed, updated_at=now)
            .returning(CALLS.c.id))


def _default(column):
    default = column.default
    return default.arg(None) if default.is_callable else default.arg
