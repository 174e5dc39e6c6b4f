"""Keyset paging for the lists: a page continues after (or before) the sort key of the row the
previous page ended with, never at a growing OFFSET, so the last page costs what the first does.

A list gives an unordered statement and its ORDER, a tuple of sort keys ending in a unique one
(`(func.lower(Address.name), Address.id)`, `(Call.started_at.desc(), Call.id.desc())`); keys must
never be NULL. The page's links carry a cursor: the sort key of the row at the page's edge, signed
with the app's secret so that nobody can hand the database values of their own. A cursor that was
changed, cut off or made for another list is ignored: that request gets the first page.

Counting stops at `COUNT_CAP` + 1 rows: the lists say "mehr als 100 Treffer" instead of
counting every row of a large table or search.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from .extensions import db

COUNT_CAP = 100  # more rows than this are "mehr als 100"
PARAMS = ("after", "before", "last")  # the request arguments paging reads; links replace them


@dataclass(frozen=True)
class Position:
    """Where a page starts: after or before a cursor, the last page, or (all None) the first page."""

    after: str | None = None
    before: str | None = None
    last: bool = False

    @classmethod
    def from_args(cls, args) -> Position:
        """The position a request asks for (`?after=…`, `?before=…`, `?last=1`)."""
        return cls(after=args.get("after") or None, before=args.get("before") or None,
                   last=args.get("last") == "1")


@dataclass
class Page:
    """One page of a list: its items and what the pager links to."""

    items: list
    has_prev: bool
    has_next: bool
    prev_cursor: str | None  # the link "Zurück": ?before=…
    next_cursor: str | None  # the link "Weiter": ?after=…
    count: int  # rows of the whole list, at most COUNT_CAP + 1

    @property
    def cap(self) -> int:
        return COUNT_CAP

    @property
    def count_capped(self) -> bool:
        """More rows than COUNT_CAP: "mehr als 100 Treffer"."""
        return self.count > COUNT_CAP

    @property
    def is_paged(self) -> bool:
        """The list does not fit on one page (the pager is shown)."""
        return self.has_prev or self.has_next


@dataclass(frozen=True)
class _Key:
    column: ColumnElement
    descending: bool


def _keys(order: tuple) -> list[_Key]:
    """The ORDER tuple's sort keys: plain columns ascending, `.desc()`/`.asc()` as given."""
    keys = []
    for item in order:
        if isinstance(item, UnaryExpression) and item.modifier in (operators.desc_op, operators.asc_op):
            keys.append(_Key(item.element, item.modifier is operators.desc_op))
        else:
            keys.append(_Key(item, False))
    return keys


def _order_by(keys: list[_Key], reverse: bool = False) -> list:
    return [key.column.desc() if key.descending != reverse else key.column.asc() for key in keys]


def _beyond(keys: list[_Key], values: list, reverse: bool = False):
    """Rows that come after `values` in the keys' order (before them with `reverse`)."""
    values = [literal(value, key.column.type) for key, value in zip(keys, values)]  # bound as the column is

    def later(key: _Key, value):
        return key.column < value if key.descending != reverse else key.column > value

    if len({key.descending for key in keys}) == 1:  # one direction: a row-value comparison the index serves
        columns, given = tuple_(*(key.column for key in keys)), tuple_(*values)
        return columns < given if keys[0].descending != reverse else columns > given
    return or_(*(and_(*(key.column == value for key, value in zip(keys[:i], values[:i])), later(keys[i], values[i]))
                 for i in range(len(keys))))


# --------------------------------------------------------------------------- cursors

_salts: dict[int, tuple[tuple, str]] = {}  # id(order) → (order, salt): compiling the keys' SQL takes ~0.2 ms


def _salt(order: tuple) -> str:
    """Names the sort keys, so that a cursor of another list (other keys) is not valid here."""
    cached = _salts.get(id(order))
    if cached is None or cached[0] is not order:
        if len(_salts) > 64:  # lists use module-level ORDER tuples; anything else must not pile up
            _salts.clear()
        salt = "paging:" + ",".join(f"{key.column}{' desc' if key.descending else ''}" for key in _keys(order))
        cached = _salts[id(order)] = (order, salt)
    return cached[1]


def _serializer(order: tuple) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_salt(order))


def _plain(value: Any):
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _typed(value: Any):
    if isinstance(value, dict):
        if set(value) == {"t"}:
            return datetime.fromisoformat(value["t"])
        if set(value) == {"d"}:
            return date.fromisoformat(value["d"])
        raise ValueError("unknown cursor value")
    if not isinstance(value, (str, int, float)):
        raise ValueError("unknown cursor value")
    return value


def _encode(serializer: URLSafeSerializer, values) -> str:
    return serializer.dumps([_plain(value) for value in values])


def _decode(serializer: URLSafeSerializer, length: int, cursor: str | None) -> list | None:
    if not cursor:
        return None
    try:
        values = serializer.loads(cursor)
        if not isinstance(values, list) or len(values) != length:
            return None
        return [_typed(value) for value in values]
    except (BadData, ValueError, TypeError):
        return None


def encode_cursor(order: tuple, values) -> str:
    """The cursor of a row whose sort keys (`order`) have `values`."""
    return _encode(_serializer(order), values)


def decode_cursor(order: tuple, cursor: str | None) -> list | None:
    """The sort key values a cursor holds, or None for a missing, changed or foreign cursor."""
    return _decode(_serializer(order), len(order), cursor)


# --------------------------------------------------------------------------- pages


def count_rows(statement: Select, cap: int = COUNT_CAP) -> int:
    """Rows of `statement`, counting no further than `cap` + 1."""
    return db.session.scalar(select(func.count()).select_from(statement.order_by(None).limit(cap + 1).subquery()))


def paginate(statement: Select, order: tuple, position: Position, per_page: int) -> Page:
    """The page of the unordered `statement` (sorted by `order`) at `position`; items as the statement
    selects them (entities, or tuples when it selects several columns)."""
    keys = _keys(order)
    width = len(statement.column_descriptions)  # entities or columns per result row
    keyed = statement.add_columns(*(key.column.label(f"_paging_key_{i}") for i, key in enumerate(keys)))

    def fetch(reverse: bool = False, values: list | None = None):
        query = keyed.order_by(None).order_by(*_order_by(keys, reverse)).limit(per_page + 1)
        if values is not None:
            query = query.where(_beyond(keys, values, reverse))
        rows = db.session.execute(query).all()
        more = len(rows) > per_page
        rows = rows[:per_page]
        return (list(reversed(rows)) if reverse else rows), more

    serializer = _serializer(order)
    after = _decode(serializer, len(keys), position.after)
    before = _decode(serializer, len(keys), position.before)
    if position.last:
        rows, has_prev = fetch(reverse=True)
        has_next = False
    elif before is not None:
        rows, has_prev = fetch(reverse=True, values=before)
        has_next = True
        if not has_prev:  # the start was reached: the first page, full
            rows, has_next = fetch()
    elif after is not None:
        rows, has_next = fetch(values=after)
        has_prev = True
        if not rows:  # nothing left after it (rows were deleted meanwhile): the last page
            rows, has_prev = fetch(reverse=True)
    else:
        rows, has_next = fetch()
        has_prev = False

    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]
    edge = [list(row[width:]) for row in rows]
    count = len(items) if not (has_prev or has_next) else count_rows(statement)
    return Page(items=items, has_prev=has_prev and bool(items), has_next=has_next and bool(items),
                prev_cursor=_encode(serializer, edge[0]) if has_prev and edge else None,
                next_cursor=_encode(serializer, edge[-1]) if has_next and edge else None,
                count=count)


def requested_page(statement: Select, order: tuple) -> Page:
    """The page of `statement` the current request asks for, PAGE_SIZE rows long."""
    return paginate(statement, order, Position.from_args(request.args), current_app.config["PAGE_SIZE"])


def page_url(**position) -> str:
    """This request's URL (search and filters kept) at another page: `page_url(after=cursor)`,
    `page_url(before=cursor)`, `page_url(last=1)`; without arguments the first page."""
    kept = [(key, value) for key, value in request.args.items(multi=True)
            if key not in PARAMS and key != "page" and value]
    kept += [(key, value) for key, value in position.items() if value]
    return request.path + ("?" + urlencode(kept) if kept else "")
