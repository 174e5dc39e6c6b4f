"""Keyset paging (telephone/paging.py): pages forward and back, first and last page, bad cursors, counts."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import event, select

from telephone import paging
from telephone.addresses.book import LIST_ORDER
from telephone.extensions import db
from telephone.journal import JOURNAL_ORDER
from telephone.models import Address, Call
from telephone.paging import Position, paginate

NAMES = ["Apotheke am Dom", "Bäcker", "Bäcker", "Bäcker", "Dachdecker", "elektro Weiß", "Fliesen", "Gärtner",
         "Hörgeräte", "Immobilien", "Jäger"]


@pytest.fixture
def context(app):
    with app.test_request_context():
        yield


@pytest.fixture
def addresses(context):
    db.session.add_all([Address(name=name) for name in NAMES])
    db.session.commit()


def names(page) -> list[str]:
    return [address.name for address in page.items]


def by_name():
    return paginate(select(Address), LIST_ORDER, Position(), 3)


def walk_forward(statement, order, per_page) -> list[list]:
    pages, position = [], Position()
    while True:
        page = paginate(statement, order, position, per_page)
        pages.append(page.items)
        if not page.has_next:
            return pages
        position = Position(after=page.next_cursor)


def walk_back(statement, order, per_page) -> list[list]:
    pages, position = [], Position(last=True)
    while True:
        page = paginate(statement, order, position, per_page)
        pages.insert(0, page.items)
        if not page.has_prev:
            return pages
        position = Position(before=page.prev_cursor)


def test_first_next_and_last_page(addresses):
    first = by_name()
    assert names(first) == ["Apotheke am Dom", "Bäcker", "Bäcker"]
    assert (first.has_prev, first.has_next, first.prev_cursor) == (False, True, None)
    second = paginate(select(Address), LIST_ORDER, Position(after=first.next_cursor), 3)
    assert names(second) == ["Bäcker", "Dachdecker", "elektro Weiß"]  # ties on the name go on by id
    assert second.has_prev and second.has_next
    back = paginate(select(Address), LIST_ORDER, Position(before=second.prev_cursor), 3)
    assert [a.id for a in back.items] == [a.id for a in first.items] and not back.has_prev
    last = paginate(select(Address), LIST_ORDER, Position(last=True), 3)
    assert names(last) == ["Hörgeräte", "Immobilien", "Jäger"]
    assert last.has_prev and not last.has_next and last.next_cursor is None


def test_every_row_once_forward_and_back(addresses):
    forward = walk_forward(select(Address), LIST_ORDER, 4)
    back = walk_back(select(Address), LIST_ORDER, 4)
    ids_forward = [address.id for page in forward for address in page]
    ids_back = [address.id for page in back for address in page]
    expected = db.session.scalars(select(Address.id).order_by(*LIST_ORDER)).all()
    assert ids_forward == expected and len(set(ids_forward)) == len(NAMES)
    assert ids_back[-4:] == expected[-4:] and sorted(set(ids_back)) == sorted(expected)
    assert [len(page) for page in forward] == [4, 4, 3]


def test_descending_keys_with_equal_times(context):
    """The journal: newest first, calls of the same second in descending id."""
    start = datetime(2026, 3, 1, 9, 0)
    db.session.add_all([Call(call_id=f"c{n}", started_at=start + timedelta(seconds=n // 3)) for n in range(10)])
    db.session.commit()
    expected = db.session.scalars(select(Call.id).order_by(*JOURNAL_ORDER)).all()
    forward = [call.id for page in walk_forward(select(Call), JOURNAL_ORDER, 3) for call in page]
    assert forward == expected
    back = walk_back(select(Call), JOURNAL_ORDER, 3)
    assert [call.id for call in back[-1]] == expected[-3:]
    assert {call.id for page in back for call in page} == set(expected)


def test_keys_in_both_directions(addresses):
    order = (Address.name, Address.id.desc())
    expected = db.session.scalars(select(Address.id).order_by(*order)).all()
    assert [a.id for page in walk_forward(select(Address), order, 2) for a in page] == expected
    assert [a.id for a in walk_back(select(Address), order, 2)[-1]] == expected[-2:]


def test_filters_of_the_statement_are_kept(addresses):
    bakers = select(Address).where(Address.name == "Bäcker")
    pages = walk_forward(bakers, LIST_ORDER, 2)
    assert [names_ for names_ in ([a.name for a in page] for page in pages)] == [["Bäcker", "Bäcker"], ["Bäcker"]]
    assert paginate(bakers, LIST_ORDER, Position(), 2).count == 3


@pytest.mark.parametrize("change", [
    lambda cursor: cursor[:-1] + ("A" if cursor[-1] != "A" else "B"),  # signature changed
    lambda cursor: "W10" + cursor[3:],  # data changed
    lambda cursor: cursor[:10],  # cut off
    lambda cursor: "garbage",
    lambda cursor: "%00%ff",
    lambda cursor: "." * 500,
])
def test_a_changed_cursor_gives_the_first_page(addresses, change):
    cursor = by_name().next_cursor
    for position in (Position(after=change(cursor)), Position(before=change(cursor))):
        page = paginate(select(Address), LIST_ORDER, position, 3)
        assert names(page) == ["Apotheke am Dom", "Bäcker", "Bäcker"] and not page.has_prev


def test_signed_values_of_the_wrong_shape_give_the_first_page(addresses):
    """Only what the app signed is read back, and only with the keys it was made for."""
    for values in (["Bäcker"], ["Bäcker", 2, 3], {"name": "Bäcker"}, ["Bäcker", {"x": 1}], [None, 2]):
        cursor = paging._serializer(LIST_ORDER).dumps(values)
        assert names(paginate(select(Address), LIST_ORDER, Position(after=cursor), 3))[0] == "Apotheke am Dom"
    journal_cursor = paging.encode_cursor(JOURNAL_ORDER, [datetime(2026, 1, 1), 5])
    assert paging.decode_cursor(LIST_ORDER, journal_cursor) is None
    assert paging.decode_cursor(JOURNAL_ORDER, journal_cursor) == [datetime(2026, 1, 1), 5]


def test_rows_gone_meanwhile(addresses):
    """Zurück to before the start gives the full first page; Weiter past the end the last page."""
    second = paginate(select(Address), LIST_ORDER, Position(after=by_name().next_cursor), 3)
    db.session.execute(Address.__table__.delete().where(Address.name.in_(["Apotheke am Dom"])))
    db.session.commit()
    back = paginate(select(Address), LIST_ORDER, Position(before=second.prev_cursor), 3)
    assert names(back) == ["Bäcker", "Bäcker", "Bäcker"] and not back.has_prev and back.has_next
    last = paginate(select(Address), LIST_ORDER, Position(last=True), 3)
    db.session.execute(Address.__table__.delete().where(Address.name.in_(["Immobilien", "Jäger"])))
    db.session.commit()
    past_the_end = paginate(select(Address), LIST_ORDER, Position(after=last.prev_cursor), 3)
    assert names(past_the_end) == ["Fliesen", "Gärtner", "Hörgeräte"] and not past_the_end.has_next


def test_count_stops_after_the_cap(context):
    db.session.add_all([Address(name=f"Firma {n:03d}") for n in range(150)])
    db.session.commit()
    page = paginate(select(Address), LIST_ORDER, Position(), 25)
    assert page.count == paging.COUNT_CAP + 1 and page.count_capped
    hundred = select(Address).where(Address.name < "Firma 100")
    page = paginate(hundred, LIST_ORDER, Position(last=True), 25)
    assert page.count == 100 and not page.count_capped
    assert paging.count_rows(select(Address)) == 101


def test_a_single_page_is_counted_without_a_query(context):
    db.session.add_all([Address(name=f"Firma {n}") for n in range(3)])
    db.session.commit()
    statements = []

    def remember(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        page = paginate(select(Address), LIST_ORDER, Position(), 25)
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert page.count == 3 and not page.is_paged
    assert len(statements) == 1 and "count(" not in statements[0].lower()


def _count_text(app, count: int, locale: str) -> str:
    page = paging.Page(items=[], has_prev=False, has_next=False, prev_cursor=None, next_cursor=None, count=count)
    template = app.jinja_env.from_string('{% from "_partials/pager.html" import match_count %}{{ match_count(p) }}')
    with force_locale(locale):
        return template.render(p=page)


@pytest.mark.parametrize("count, german, english", [
    (1, "1 Treffer", "1 match"), (2, "2 Treffer", "2 matches"), (100, "100 Treffer", "100 matches"),
    (101, "mehr als 100 Treffer", "100+ matches"),
])
def test_counts_in_words(app, context, count, german, english):
    assert _count_text(app, count, "de") == german
    assert _count_text(app, count, "en") == english


def test_pager_links_keep_search_and_filters(app):
    with app.test_request_context("/calls/?q=M%C3%BCller&direction=in&mine=&page=3&after=old&last=1"):
        assert paging.page_url() == "/calls/?q=M%C3%BCller&direction=in"
        assert paging.page_url(after="abc") == "/calls/?q=M%C3%BCller&direction=in&after=abc"
        assert paging.page_url(last=1) == "/calls/?q=M%C3%BCller&direction=in&last=1"
    with app.test_request_context("/addresses/"):
        assert paging.page_url() == "/addresses/"
        assert paging.page_url(before="x") == "/addresses/?before=x"


def test_pager_shows_the_links_a_page_has(app, addresses):
    template = app.jinja_env.from_string('{% from "_partials/pager.html" import pager %}{{ pager(p) }}')
    first = template.render(p=by_name())
    assert 'rel="next"' in first and 'rel="last"' in first and 'rel="prev"' not in first
    assert "Weiter" in first and "Letzte Seite" in first
    last = template.render(p=paginate(select(Address), LIST_ORDER, Position(last=True), 3))
    assert 'rel="first"' in last and 'rel="prev"' in last and 'rel="next"' not in last
    assert "Erste Seite" in last and "Zurück" in last
    assert "<nav" not in template.render(p=paginate(select(Address), LIST_ORDER, Position(), 50))
