"""Search as in a German phonebook: umlauts and their spellings, ß, city and role, the contact
person a hit was found by, DIN 5007 order by surname, and one rule for typed numbers in every search."""
from __future__ import annotations

import re
from datetime import timezone

import pytest
from sqlalchemy import select, text

from telephone import directory, search
from telephone.extensions import db
from telephone.journal import JournalFilter, journal_query
from telephone.models import Call
from telephone.phonebook import entries
from tests.phonebook_helpers import HEADER, add_source, sync
from tests.test_addresses import add_contact, create_address, listed_names

BLANK = {"company": "", "phone": "", "mobile": "", "fax": "", "email": "", "city": "", "postcode": "", "street": ""}


@pytest.fixture
def german_book(app):
    """Addresses whose names need German folding, in no particular order."""
    address(app, name="Straßenbau Krämer GmbH", city="Düsseldorf")
    address(app, name="Öztürk Handel GmbH", city="Köln", phone="0221 1234567")
    address(app, kind="person", name="Dr. Thomas Groß", city="Essen")
    ahrens = address(app, name="Gärtnerei Ahrens", city="Münster")
    add_contact(app, ahrens, name="Anna Schmidt", role="Einkauf", mobile="0171 7654321")
    address(app, name="Oberhausen Bau", city="Oberhausen")
    address(app, kind="person", name="Otto Adler", city="Bonn")


def address(app, **fields) -> int:
    return create_address(app, **{**BLANK, **fields})


def found(client, query: str) -> list[str]:
    response = client.get("/addresses/", query_string={"q": query})
    assert response.status_code == 200
    return listed_names(response.text)


@pytest.mark.parametrize("query", ["Öztürk", "Oeztuerk", "Ozturk", "ÖZTÜRK", "oztürk handel"])
def test_umlauts_and_their_spellings_are_the_same(client, auth, german_book, query):
    auth.login("anna")
    assert found(client, query) == ["Öztürk Handel GmbH"]


@pytest.mark.parametrize("query", ["strassenbau", "Straßenbau", "STRASSENBAU", "kraemer", "Krämer", "strassenbau krämer"])
def test_sharp_s_and_spelled_umlauts(client, auth, german_book, query):
    auth.login("anna")
    assert found(client, query) == ["Straßenbau Krämer GmbH"]


@pytest.mark.parametrize(("query", "expected"), [
    ("Köln", ["Öztürk Handel GmbH"]), ("koeln", ["Öztürk Handel GmbH"]), ("muenster", ["Gärtnerei Ahrens"]),
    ("Düsseldorf", ["Straßenbau Krämer GmbH"]), ("oberhausen", ["Oberhausen Bau"]),
])
def test_city_is_searchable(client, auth, german_book, query, expected):
    auth.login("anna")
    assert found(client, query) == expected


def test_a_hit_on_a_contact_person_says_which_contact_matched(client, auth, german_book):
    auth.login("anna")
    html = client.get("/addresses/", query_string={"q": "Einkauf"}).text  # the contact person's role
    assert listed_names(html) == ["Gärtnerei Ahrens"]
    assert "gefunden bei Anna Schmidt (Einkauf)" in html
    html = client.get("/addresses/", query_string={"q": "schmidt ahrens"}).text  # one word each
    assert "gefunden bei Anna Schmidt" in html
    html = client.get("/addresses/", query_string={"q": "ahrens"}).text  # the address itself
    assert listed_names(html) == ["Gärtnerei Ahrens"] and "gefunden bei" not in html


def test_list_sorts_german_style_persons_by_surname(client, auth, german_book):
    """DIN 5007: "Dr. Thomas Groß" under G (after Gärtnerei), "Öztürk" with the O's."""
    auth.login("anna")
    assert found(client, "") == ["Otto Adler", "Gärtnerei Ahrens", "Dr. Thomas Groß", "Oberhausen Bau",
                                 "Öztürk Handel GmbH", "Straßenbau Krämer GmbH"]


def test_punctuation_alone_finds_nothing_and_html_stays_escaped(client, auth, german_book):
    auth.login("anna")
    assert found(client, "%") == [] and found(client, "\"'") == []
    assert "<script>" not in client.get("/addresses/", query_string={"q": "<script>"}).text


def _manual(app, **fields):
    data = entries.ManualEntryData(**fields)
    with app.test_request_context():
        entry = entries.save_manual(None, data)
        db.session.commit()
        return entry.id


def test_phonebook_search_and_order_fold_the_same_way(app, client, auth):
    _manual(app, given_name="Jürgen", family_name="Weiß", phones=[("WORK", "0221 1234999")])
    _manual(app, honorific_prefix="Dr.", given_name="Anna", family_name="Öztürk")
    _manual(app, display_name="Bäckerei Müller", company="Bäckerei Müller")
    auth.login("anna")

    def names(query: str) -> list[str]:
        html = client.get("/phonebook/", query_string={"q": query}).text
        return [name for name in ("Jürgen Weiß", "Anna Öztürk", "Bäckerei Müller") if name in html]

    assert names("weiss") == names("Weiß") == ["Jürgen Weiß"]
    assert names("Oeztuerk") == ["Anna Öztürk"]
    assert names("baeckerei mueller") == ["Bäckerei Müller"]
    html = client.get("/phonebook/").text
    positions = [html.index(name) for name in ("Bäckerei Müller", "Anna Öztürk", "Jürgen Weiß")]
    assert positions == sorted(positions)  # B, Ö with the O's, W


@pytest.mark.parametrize("query", ["0221 1234", "+49 221 1234", "0049 221 1234", "+49 (0)221 1234", "0221/1234-567"])
def test_one_rule_for_typed_numbers_in_all_four_searches(app, german_book, query):
    """Addresses, company phonebook, Telefon page and journal find the same number the same way."""
    _manual(app, given_name="Jürgen", family_name="Weiß", phones=[("WORK", "+49 221 1234999")])
    with app.test_request_context():
        db.session.add(Call(call_id="c1", direction="in", from_number="+492211234567", to_number="0221999",
                            remote_e164="+492211234567", status="missed"))
        db.session.commit()
        addresses = [a.name for a in db.session.scalars(search_address(query))]
        phonebook = [e.display_name for e in db.session.scalars(entries.search_statement(query)).unique()]
        numbers = {entry.owner.name for entry in directory.entries(db.session.scalars(directory.search(query)).all())}
        calls = [c.call_id for c in db.session.scalars(journal_query(JournalFilter(search=query), 0, timezone.utc))]
    full = re.sub(r"\D", "", query).endswith("567")
    assert addresses == ["Öztürk Handel GmbH"]
    assert phonebook == ([] if full else ["Jürgen Weiß"])
    assert numbers == ({"Öztürk Handel GmbH"} if full else {"Öztürk Handel GmbH", "Jürgen Weiß"})
    assert calls == ["c1"]


def search_address(query: str):
    from telephone.addresses import book

    return book.search_query(query)


@pytest.mark.parametrize(("query", "digits"), [
    ("0221 12", "22112"), ("+49 221 12", "4922112"), ("004922112", "4922112"), ("12345", "12345"),
    ("Müller", None), ("12", None),
])
def test_the_digit_rule(app, query, digits):
    with app.app_context():
        assert search.number_digits(query) == digits


def test_folding():
    assert search.fold("Öztürk") == search.fold("Oeztuerk") == search.fold("Ozturk") == "ozturk"
    assert search.fold("Straßenbau") == search.fold("STRASSENBAU") == "strassenbau"
    assert search.fold("Dipl.-Ing. René Ça") == "dipl ing rene ca"


def test_postgresql_finds_calls_of_a_number_through_the_btree_and_typed_digits_through_the_trigrams(app):
    """pg_trgm also serves `=`, and PostgreSQL misjudges it for numbers (a handful of digit trigrams
    in every row): with the index on the column it answered the journal's `remote_e164 = ANY(…)`
    through it, 1.4 s at 10,000 calls. The index holds the digits instead, which only the search asks."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's index choice")
        db.session.add_all(Call(call_id=f"c{n}", direction="in", remote_e164=f"+49221{n:07d}", status="missed")
                           for n in range(2_000))
        db.session.flush()
        db.session.execute(text('ANALYZE "call"'))
        db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a small table: make it choose an index

        def plan(query) -> str:
            compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
            rows = db.session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
            return "\n".join(row[0] for row in rows)

        numbers = [f"+49221{n:07d}" for n in range(0, 2_000, 50)]
        by_number = plan(select(Call.id).where(search.one_of(Call.remote_e164, numbers)))
        assert "_trgm" not in by_number and "ix_call_remote_e164" in by_number
        typed = plan(journal_query(JournalFilter(search="0221 000012"), 0, timezone.utc))
        assert "ix_call_remote_e164_digits_trgm" in typed
        found = db.session.scalars(journal_query(JournalFilter(search="0221 000012"), 0, timezone.utc)).all()
        assert sorted(call.call_id for call in found) == [f"c{n}" for n in range(120, 130)]
        db.session.rollback()


def test_postgresql_searches_read_no_pending_list(app):
    """GIN's pending list is read in full by every search until a VACUUM merges it: after a
    100,000-entry sync a phonebook search took 150 ms instead of 6. Indexes of tables written row
    by row have none; the phonebook's (written in bulk) is merged by the sync."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's GIN indexes")
        options = dict(db.session.execute(text(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relname LIKE 'ix\\_%\\_trgm'")).all())
        assert options == {"ix_address_search_text_trgm": "fastupdate=off",
                           "ix_contact_person_search_text_trgm": "fastupdate=off",
                           "ix_call_remote_e164_digits_trgm": "fastupdate=off",
                           "ix_phonebook_entry_search_text_trgm": None}
    rows = "\n".join(f"{n},Jäger {n},Jäger,,,,WORK:+4930{n:07d},," for n in range(300))
    assert sync(app, add_source(app), f"{HEADER}\n{rows}\n").created == 300
    with app.app_context():  # merging now finds nothing left to merge
        assert db.session.scalar(text("SELECT gin_clean_pending_list('ix_phonebook_entry_search_text_trgm')")) == 0
        assert len(db.session.scalars(entries.search_statement("jaeger")).all()) == 300
