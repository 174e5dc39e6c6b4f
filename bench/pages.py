"""Page render times with 1k, 10k and 100k rows, on SQLite and PostgreSQL (issue 18).

Fills one database per size with N addresses (each company with about one contact person, 2–3
numbers each, German names with umlauts, cities), N company phonebook entries and N calls (with
their call events; the newest few still ringing or answered), through the app's own save
functions (`book.apply_address`/`apply_contact`, `entries.save_manual`, the journal's call
derivation), one commit per batch. A filled database is reused while its size, this script's
fill version match (`--refill` fills it again); one filled by an older schema is migrated to the head.

Then it renders every page in-process with the Flask test client, logged in, and prints the
median of `--runs` requests (after one warm-up) beside `/healthz` from the same run:

    .venv/bin/python bench/pages.py                         # SQLite, 1k 10k 100k
    .venv/bin/python bench/pages.py --sizes 1000 10000      # fewer sizes
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages_pg \\
        .venv/bin/python bench/pages.py                     # SQLite and PostgreSQL
    .venv/bin/python bench/pages.py --db pg                 # PostgreSQL only

SQLite files live in bench/out/pages/; on PostgreSQL each size gets its own database, named
after BENCH_DATABASE_URL's with the size appended (bench_pages_pg_1k, …; created when missing).
Searches are sent as the search field sends them while typing (HTMX, only the list is rendered);
list pages are full pages, the last page is the "last page" link of the first page.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

OUT = ROOT / "bench" / "out" / "pages"
SIZES = (1_000, 10_000, 100_000)
BATCH = 2_000  # rows per commit while filling
CALL_BATCH = 500  # calls are flushed one by one, and each flush looks at every object in the session
FILL_VERSION = 1  # raise when the generated data changes: filled databases are then filled again
MARKER = "bench.pages.fill"  # Setting row that says what a database was filled with
PASSWORD = "bench-pages-123"
SECRET_KEY = "bench-pages"

SURNAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
            "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
            "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
            "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann",
            "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller",
            "Weiß", "Jung", "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger",
            "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster", "Simon",
            "Ludwig", "Böhm", "Winter", "Kraus", "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger",
            "Otto", "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Schulte",
            "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Thomas",
            "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer", "Özdemir", "Yılmaz", "Nowak", "Kowalski")
FIRST_NAMES = ("Jürgen", "Jörg", "Björn", "Sören", "Günter", "Käthe", "Anna", "Lena", "Lukas", "Jonas", "Mia",
               "Hannah", "Felix", "Paul", "Sophie", "Marie", "Max", "Leon", "Emma", "Lea", "Jürgen", "Ümit",
               "Özlem", "Ralf", "Sabine", "Petra", "Thomas", "Michael", "Andrea", "Stefan", "Claudia",
               "Dörte", "Bärbel", "Jens", "Uwe", "Heike", "Katrin", "Tobias", "Matthias", "Renée", "Zoë")
BRANCHES = ("Bäckerei", "Gärtnerei", "Schlüsseldienst", "Ärztehaus", "Metallbau", "Elektro", "Sanitär",
            "Steuerberatung", "Immobilien", "Druckerei", "Möbelhaus", "Autohaus", "Getränke", "Zahnärzte",
            "Rechtsanwälte", "Bürobedarf", "Logistik", "Software", "Fliesen", "Dachdeckerei", "Apotheke",
            "Optik", "Brillen", "Reisebüro", "Hörgeräte", "Kältetechnik", "Malerbetrieb", "Blumen")
FORMS = ("GmbH", "GmbH & Co. KG", "AG", "KG", "e.K.", "& Söhne", "OHG", "UG (haftungsbeschränkt)")
STREETS = ("Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Dorfstraße", "Bergstraße",
           "Lindenstraße", "Kirchstraße", "Waldstraße", "Mühlenweg", "Am Südhang", "Königsallee",
           "Schloßstraße", "Uferstraße", "Rosenweg", "Marktplatz")
# (city, postcode, area code without 0)
CITIES = (("Köln", "50667", "221"), ("München", "80331", "89"), ("Düsseldorf", "40213", "211"),
          ("Lübeck", "23552", "451"), ("Nürnberg", "90402", "911"), ("Würzburg", "97070", "931"),
          ("Göttingen", "37073", "551"), ("Osnabrück", "49074", "541"), ("Saarbrücken", "66111", "681"),
          ("Mönchengladbach", "41061", "2161"), ("Berlin", "10115", "30"), ("Hamburg", "20095", "40"),
          ("Frankfurt am Main", "60311", "69"), ("Stuttgart", "70173", "711"), ("Mainz", "55116", "6131"),
          ("Bonn", "53111", "228"), ("Tübingen", "72070", "7071"), ("Fürth", "90762", "911"),
          ("Jülich", "52428", "2461"), ("Bückeburg", "31675", "5722"))
OFFICE_NUMBER = "+4922199900"
COLLEAGUES = (("anna", "Anna Kärcher", "777000001@fpbx.de"), ("ben", "Ben Öztürk", "777000002@fpbx.de"),
              ("chris", "Chris Weiß", "777000003@fpbx.de"))

# What is searched: a name of about 1 % of the rows, a number being typed, a city
NAME_QUERY = "Jäger"
CITY_QUERY = "Würzburg"


def size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


# --------------------------------------------------------------------------- databases


def sqlite_url(size: int, folder: Path = OUT) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / f'pages_{size_label(size)}.db'}"


def postgres_url(base: str, size: int) -> str:
    """The database of one size next to BENCH_DATABASE_URL's (created when missing)."""
    url = make_url(base)
    target = url.set(database=f"{url.database}_{size_label(size)}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": target.database}):
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return target.render_as_string(hide_password=False)


def make_app(url: str):
    from telephone import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "SCHEDULER_ENABLED": False,
                       "TESTING": True, "WTF_CSRF_ENABLED": False})


def migration_head(app) -> str:
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    return ",".join(sorted(ScriptDirectory.from_config(config).get_heads()))


def wanted_marker(app, size: int) -> dict:
    return {"size": size, "version": FILL_VERSION, "head": migration_head(app)}


def stored_marker(app) -> dict | None:
    from telephone.extensions import db

    with app.app_context():
        try:
            value = db.session.execute(text("SELECT value FROM setting WHERE key = :key"), {"key": MARKER}).scalar()
        except Exception:  # no schema yet
            value = None
        db.session.remove()
        db.engine.dispose()  # SQLite: no connection may keep a file open that a refill deletes
    return json.loads(value) if value else None


def reset_schema(app, url: str) -> None:
    """An empty database migrated to the head, as `flask db upgrade` leaves it."""
    from flask_migrate import upgrade

    from telephone.extensions import db

    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        with app.app_context():
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- generated data


@dataclass
class Person:
    first: str
    last: str


def _subscriber(rng: random.Random, area: str) -> str:
    return str(rng.randint(10 ** (7 - len(area)), 10 ** (8 - len(area)) - 1))


def _mobile(rng: random.Random) -> str:
    return f"01{rng.choice('567')}{rng.randint(0, 9)} {rng.randint(1000000, 9999999)}"


def address_rows(size: int):
    """(address data, [contact data]) for `size` addresses: 80 % companies, each with 0–2 contacts."""
    rng = random.Random(size)
    for i in range(size):
        city, postcode, area = CITIES[rng.randrange(len(CITIES))]
        subscriber = _subscriber(rng, area)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 180)}"
        if rng.random() < 0.8:
            name = f"{rng.choice(SURNAMES)} {rng.choice(BRANCHES)} {rng.choice(FORMS)}"
            data = {"kind": "company", "name": name, "company": "", "phone": f"0{area} {subscriber}-0",
                    "fax": f"0{area} {subscriber}-99", "mobile": _mobile(rng) if rng.random() < 0.3 else ""}
            contacts = [{"first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(SURNAMES),
                         "salutation": rng.choice(("Herr", "Frau", "")), "role": rng.choice(("Einkauf", "Chef", "")),
                         "phone": f"0{area} {subscriber}-{rng.randint(10, 89)}",
                         "mobile": _mobile(rng) if rng.random() < 0.6 else ""}
                        for _ in range(rng.choice((0, 1, 1, 1, 1, 2)))]
        else:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
            data = {"kind": "person", "name": name, "company": "", "phone": f"0{area} {subscriber}",
                    "mobile": _mobile(rng), "fax": ""}
            contacts = []
        data.update({"customer_number": f"K{i + 1:06d}", "street": street, "postcode": postcode, "city": city,
                     "country": "DE", "email": f"info{i}@example.de", "notes": "", "tags": ""})
        yield data, contacts


def phonebook_rows(size: int):
    from telephone.phonebook.entries import ManualEntryData

    rng = random.Random(size + 1)
    for i in range(size):
        _city, _postcode, area = CITIES[rng.randrange(len(CITIES))]
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        phones = [("WORK", f"0{area} {_subscriber(rng, area)}")]
        if rng.random() < 0.7:
            phones.append(("MOBILE", _mobile(rng)))
        yield ManualEntryData(display_name=f"{last}, {first}", given_name=first, family_name=last,
                              company=f"{rng.choice(SURNAMES)} {rng.choice(BRANCHES)} {rng.choice(FORMS)}",
                              gender=rng.choice(("male", "female", "")), phones=phones,
                              emails=[f"p{i}@example.de"])


# --------------------------------------------------------------------------- filling


def _commit_progress(label: str, done: int, total: int, started: float) -> None:
    from telephone.extensions import db

    db.session.commit()
    db.session.expunge_all()
    print(f"\r  {label}: {done:,}/{total:,} ({time.perf_counter() - started:.0f} s)", end="", flush=True)


class Ids:
    """Primary keys handed out while filling: rows with their id set are inserted in one executemany
    per table and flush instead of one INSERT … RETURNING each (the database is empty)."""

    def __init__(self):
        self._last: dict[type, int] = {}

    def give(self, *rows) -> None:
        for row in rows:
            last = self._last.get(type(row), 0) + 1
            row.id = self._last[type(row)] = last


def fix_sequences() -> None:
    """PostgreSQL: the id sequences continue after the ids handed out while filling."""
    from telephone.extensions import db

    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key and table.c.id.autoincrement:
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                    f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table.name}\"), false)"))
    db.session.commit()


def fill_users() -> None:
    from telephone.extensions import db
    from telephone.models import SipAccount, User

    bench = User(username="bench", display_name="Bench", role="admin")
    bench.set_password(PASSWORD)
    db.session.add(bench)
    for username, display_name, sipuid in COLLEAGUES:
        user = User(username=username, display_name=display_name, role="user")
        user.set_password(PASSWORD)
        user.sip_account = SipAccount(sipuid=sipuid)
        db.session.add(user)
    db.session.commit()


def fill_addresses(size: int, ids: Ids) -> list[str]:
    """Saves the addresses; returns their phone numbers as typed (callers for the journal)."""
    from telephone import numbers
    from telephone.addresses import book
    from telephone.extensions import db
    from telephone.models import Address, ContactPerson

    region = numbers.default_region()
    callers, started = [], time.perf_counter()
    for i, (data, contacts) in enumerate(address_rows(size), start=1):
        address = Address()
        ids.give(address)
        db.session.add(address)
        book.apply_address(address, data, region)
        for contact_data in contacts:
            contact = ContactPerson(address=address)
            ids.give(contact)
            db.session.add(contact)
            book.apply_contact(contact, contact_data, region)
            ids.give(*contact.numbers)
            callers.append(contact_data["phone"])
        ids.give(*address.numbers)
        callers.append(data["phone"])
        if i % BATCH == 0 or i == size:
            _commit_progress("addresses", i, size, started)
    print()
    return callers


def fill_phonebook(size: int, ids: Ids) -> list[str]:
    from telephone.phonebook import entries

    callers, started = [], time.perf_counter()
    for i, data in enumerate(phonebook_rows(size), start=1):
        entry = entries.save_manual(None, data)
        ids.give(entry, *entry.numbers)
        callers.append(data.phones[0][1])
        if i % BATCH == 0 or i == size:
            _commit_progress("phonebook", i, size, started)
    print()
    return callers


def call_events(rng: random.Random, index: int, size: int, callers: list[str], now):
    """The Notify events of call `index` (oldest first) with the times they arrived."""
    from telephone.placetel import NotifyEvent

    started = now - timedelta(minutes=3 * (size - index))
    call_id = f"{index:064x}"
    remote = rng.choice(callers)
    colleague = rng.choice(COLLEAGUES)[2]
    duration = rng.randint(5, 900)
    open_call = index >= size - 5  # the newest calls are still ringing or answered
    if rng.random() < 0.7:
        start = NotifyEvent("IncomingCall", call_id, from_number=remote, to_number=OFFICE_NUMBER, direction="in")
        outcome = rng.random()
        if open_call:
            rest = [] if index % 2 else [(NotifyEvent("CallAccepted", call_id, peer=colleague), 8)]
        elif outcome < 0.65:
            rest = [(NotifyEvent("CallAccepted", call_id, peer=colleague), 8),
                    (NotifyEvent("HungUp", call_id, type="accepted", duration=duration), 8 + duration)]
        elif outcome < 0.9:
            rest = [(NotifyEvent("HungUp", call_id, type="missed"), 30)]
        else:
            rest = [(NotifyEvent("HungUp", call_id, type="voicemail", duration=40), 70)]
    else:
        remote = remote if remote != "anonymous" else callers[0]
        start = NotifyEvent("OutgoingCall", call_id, from_number=OFFICE_NUMBER, to_number=remote,
                            direction="out", peer=colleague)
        rest = [] if open_call else [
            (NotifyEvent("HungUp", call_id, type="accepted" if rng.random() < 0.8 else "canceled",
                         duration=duration), 5 + duration)]
    return start, [(start, started)] + [(event, started + timedelta(seconds=delay)) for event, delay in rest]


def caller_pool(size: int, known: list[str]) -> list[str]:
    """Who calls: numbers we have (up to 3,000, each calls again and again), unknown ones, a few anonymous."""
    rng = random.Random(size + 3)
    pool = rng.sample(known, min(len(known), 3_000))
    for _ in range(len(pool) // 2):
        _city, _postcode, area = rng.choice(CITIES)
        pool.append(f"+49{area}{_subscriber(rng, area)}")
    return pool + ["anonymous"] * (len(pool) // 30)


def fill_calls(size: int, known: list[str], ids: Ids) -> None:
    """Stores each call's events and derives the call as the webhook does (journal._update_call, no publish).

    Caller lookups and SIP users are remembered per number while filling: the pool of callers
    is small, and a lookup per call would make filling 100k calls take most of an hour. The events
    of a batch of calls are inserted together first.
    """
    from unittest import mock

    from telephone import journal, numbers
    from telephone.extensions import db
    from telephone.models import Call, CallEvent, User, utcnow

    lookups, users = {}, {}
    real_lookup, real_user = numbers.lookup_caller, journal.user_for_sipuid

    def lookup_caller(number, region=None):
        if number not in lookups:
            lookups[number] = real_lookup(number, region)
        return lookups[number]

    def user_for_sipuid(sipuid):
        if sipuid not in users:
            user = real_user(sipuid)
            users[sipuid] = user.id if user is not None else None
        return db.session.get(User, users[sipuid]) if users[sipuid] is not None else None

    callers = caller_pool(size, known)
    rng, now, started = random.Random(size + 2), utcnow(), time.perf_counter()
    with mock.patch.object(numbers, "lookup_caller", lookup_caller), \
            mock.patch.object(journal, "user_for_sipuid", user_for_sipuid):
        for first in range(0, size, CALL_BATCH):
            batch = [call_events(rng, index, size, callers, now)
                     for index in range(first, min(first + CALL_BATCH, size))]
            stored = [[CallEvent(call_id=event.call_id, event=event.event, payload=event.payload(), received_at=at)
                       for event, at in events] for _start, events in batch]
            ids.give(*(row for rows in stored for row in rows))
            db.session.add_all([row for rows in stored for row in rows])
            db.session.flush()
            db.session.expunge_all()  # every flush below looks at each object in the session
            calls = []
            for (start, _events), rows in zip(batch, stored):
                call = Call(call_id=start.call_id)
                journal._update_call(call, rows, start, True, None)
                calls.append(call)
            ids.give(*calls)
            db.session.add_all(calls)
            db.session.flush()
            db.session.expunge_all()
            _commit_progress("calls", first + len(batch), size, started)
    print()


def fill(app, url: str, size: int) -> None:
    from telephone.extensions import db
    from telephone.models import Setting

    print(f"filling {url.split('@')[-1]} with {size:,} addresses, phonebook entries and calls")
    reset_schema(app, url)
    with app.test_request_context():
        fill_users()
        ids = Ids()
        known = fill_addresses(size, ids) + fill_phonebook(size, ids)
        fill_calls(size, known, ids)
        fix_sequences()
        db.session.add(Setting(key=MARKER, value=json.dumps(wanted_marker(app, size))))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


def upgrade_filled(app, size: int) -> None:
    """A database filled by an older schema, brought to the head by the migrations (as `flask db upgrade`
    brings an office's database): much faster than filling it again, and the same rows."""
    from flask_migrate import upgrade

    from telephone.extensions import db
    from telephone.models import Setting

    print(f"upgrading the filled database of {size:,} rows to {migration_head(app)}")
    with app.app_context():
        upgrade()
        db.session.merge(Setting(key=MARKER, value=json.dumps(wanted_marker(app, size))))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def ensure_filled(url: str, size: int, refill: bool):
    app = make_app(url)
    stored = stored_marker(app)
    wanted = wanted_marker(app, size)
    if not refill and stored and stored != wanted and {**stored, "head": wanted["head"]} == wanted:
        upgrade_filled(app, size)
    elif refill or stored != wanted:
        if stored and not refill:
            print(f"refilling: filled with {stored}, wanted {wanted}")
        fill(app, url, size)
    return app


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    target: str | None = None  # HX-Target of the search field; None: a full page


def number_query(size: int) -> str:
    """A number of the address list as typed so far: area code and the first digits."""
    rows = address_rows(size)
    for _ in range(size // 2):
        data, _contacts = next(rows)
    return data["phone"].split("-")[0][:-3]


def pages(size: int) -> list[Page]:
    """The pages measured; labels are the same for every size (the number searched differs)."""
    digits = quote(number_query(size))
    name, city = quote(NAME_QUERY), quote(CITY_QUERY)
    return [
        Page("/healthz", "/healthz"),
        Page("addresses: list, first page", "/addresses/"),
        Page("addresses: list, last page", "last:/addresses/"),
        Page("addresses: search name", f"/addresses/?q={name}", "address-list"),
        Page("addresses: search number", f"/addresses/?q={digits}", "address-list"),
        Page("addresses: search city", f"/addresses/?q={city}", "address-list"),
        Page("phonebook: list, first page", "/phonebook/"),
        Page("phonebook: list, last page", "last:/phonebook/"),
        Page("phonebook: search name", f"/phonebook/?q={name}", "phonebook-list"),
        Page("Telefon: Alle Nummern, first page", "/calls/phone"),
        Page("Telefon: Alle Nummern, last page", "last:/calls/phone"),
        Page("Telefon: Alle Nummern, search name", f"/calls/phone?q={name}", "phonebook"),
        Page("journal: first page", "/calls/"),
        Page("journal: last page", "last:/calls/"),
        Page("journal: search name", f"/calls/?q={name}", "journal-list"),
        Page("journal: search number", f"/calls/?q={digits}", "journal-list"),
    ]


_LAST_LINK = re.compile(r'<a\b[^>]*\brel="last"[^>]*>')
_HREF = re.compile(r'\bhref="([^"]+)"')
_PAGES = re.compile(r"Seite 1 von (\d+)")


def last_page_url(client, path: str) -> str:
    """The first page's "last page" link (rel="last"), else page=N of "Seite 1 von N"."""
    body = client.get(path).get_data(as_text=True)
    link = _LAST_LINK.search(body)
    if link:
        return html.unescape(_HREF.search(link.group(0)).group(1))
    pages_found = _PAGES.search(body)
    return f"{path}?page={pages_found.group(1)}" if pages_found else path


BADGE = "(in every page: missed-calls badge query)"
FEW_OPEN = 5
BADGE_FEW = f"(the badge query with {FEW_OPEN} calls open)"


def median_ms(action, runs: int) -> float:
    """Median time of `runs` calls of `action`, after one more as warm-up."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        action()
        if run:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(app, size: int, runs: int) -> dict[str, float]:
    from sqlalchemy import select, update

    from telephone import journal
    from telephone.models import Call

    client = app.test_client()
    response = client.post("/login", data={"username": "bench", "password": PASSWORD})
    assert response.status_code == 302, f"login failed: {response.status_code}"
    result = {}
    for page in pages(size):
        path = last_page_url(client, page.path[5:]) if page.path.startswith("last:") else page.path
        headers = {"HX-Request": "true", "HX-Target": page.target} if page.target else {}

        def get():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, f"{path}: {response.status_code}"

        result[page.label] = median_ms(get, runs)
    # Every full page shows the navigation's count of missed calls without callback; its query alone,
    # as filled (thousands open) and as in an office that calls back (all but a few marked done for
    # the measurement, committed as a real office's would be, then open again):
    with app.app_context():
        result[BADGE] = median_ms(journal.open_missed_count, runs)
        done_at = datetime(2000, 1, 1)  # no call of the fill is done: the marker to undo
        open_ids = select(Call.id).where(Call.direction == "in", Call.status.in_(journal.MISSED_STATUSES),
                                         Call.done_at.is_(None)).order_by(Call.id.desc()).offset(FEW_OPEN)
        _commit_and_vacuum(update(Call).where(Call.id.in_(open_ids)).values(done_at=done_at))
        result[BADGE_FEW] = median_ms(journal.open_missed_count, runs)
        _commit_and_vacuum(update(Call).where(Call.done_at == done_at).values(done_at=None))
    return result


def _commit_and_vacuum(statement) -> None:
    """Run and commit `statement`; on PostgreSQL vacuum the calls afterwards, as autovacuum would soon."""
    from telephone.extensions import db

    db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql('VACUUM ANALYZE "call"')


def print_table(results: dict[tuple[str, int], dict[str, float]], loads: list[str]) -> None:
    columns = list(results)
    labels = list(next(iter(results.values())))
    width = max(len(label) for label in labels)
    head = " | ".join(f"{db_name} {size_label(size)}" for db_name, size in columns)
    print()
    print(f"median ms of the render ({'; '.join(loads)})")
    print(f"| {'page':<{width}} | {head} |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(db_name) + len(size_label(size)) + 2) + ":"
                                            for db_name, size in columns) + "|")
    for label in labels:
        cells = " | ".join(f"{results[column][label]:>{len(column[0]) + len(size_label(column[1])) + 1}.1f}"
                           for column in columns)
        print(f"| {label:<{width}} | {cells} |")


def load_average() -> str:
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page (median; one warm-up more)")
    parser.add_argument("--db", nargs="+", choices=("sqlite", "pg"),
                        default=["sqlite", "pg"] if os.environ.get("BENCH_DATABASE_URL") else ["sqlite"])
    parser.add_argument("--refill", action="store_true", help="fill the databases again even if they are filled")
    parser.add_argument("--fill-only", action="store_true", help="fill the databases (when needed), measure nothing")
    parser.add_argument("--sqlite-dir", type=Path, default=OUT, help=f"where the SQLite files are (default {OUT})")
    args = parser.parse_args()
    if "pg" in args.db and not os.environ.get("BENCH_DATABASE_URL"):
        parser.error("--db pg needs BENCH_DATABASE_URL")
    print(f"{os.cpu_count()} cores, {load_average()}; searched: name „{NAME_QUERY}“, city „{CITY_QUERY}“, "
          f"number " + ", ".join(f"„{number_query(size)}“ ({size_label(size)})" for size in args.sizes))
    results, loads = {}, [f"start {load_average()}"]
    for db_name in args.db:
        for size in args.sizes:
            url = (sqlite_url(size, args.sqlite_dir) if db_name == "sqlite"
                   else postgres_url(os.environ["BENCH_DATABASE_URL"], size))
            app = ensure_filled(url, size, args.refill)
            if args.fill_only:
                continue
            label = "SQLite" if db_name == "sqlite" else "PG"
            results[(label, size)] = measure(app, size, args.runs)
            print(f"measured {label} {size_label(size)} ({load_average()}): " + ", ".join(
                f"{page} {ms:.1f}" for page, ms in results[(label, size)].items()), flush=True)
            with app.app_context():
                from telephone.extensions import db

                db.engine.dispose()
    loads.append(f"end {load_average()}")
    if results:
        print_table(results, loads)


if __name__ == "__main__":
    main()
