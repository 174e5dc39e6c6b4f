"""Database work on the webhook → banner hot path: statements, transactions and pool checkouts.

Posts signed webhooks through the test client with one event stream open and
counts, per webhook, what the request does on the database (its banner included
when the webhook renders it) and what the banner dispatcher does before the
banner goes out (SQLAlchemy's `before_cursor_execute`, `begin` and `commit`
events and the pool's `checkout`). On PostgreSQL each statement, BEGIN and
COMMIT is one round trip, and so is each checkout's ping while `pool_pre_ping`
is on. Transactions in AUTOCOMMIT mode send no BEGIN or COMMIT and are not counted.

    .venv/bin/python bench/hot_path_statements.py            # SQLite
    .venv/bin/python bench/hot_path_statements.py -v         # and the statements themselves (first 150
                                                             # characters; STATEMENT_CHARS=… for more)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/hot_path_statements.py

The tables of BENCH_DATABASE_URL are dropped and re-created.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from telephone import create_app, events, site_settings  # noqa: E402
from telephone.extensions import db  # noqa: E402
from telephone.models import Address, RoutingRule, User  # noqa: E402
from telephone.numbers import index_numbers  # noqa: E402
from telephone.placetel import sign  # noqa: E402

SECRET = "bench-secret"
KNOWN = "+4961319876543"
CALLS = {  # name: (from, events)
    "known caller, routed": (KNOWN, ["IncomingCall", "CallAccepted", "HungUp"]),
    "unknown caller": ("+4922112345678", ["IncomingCall", "HungUp"]),
}


class Tally:
    """What happened on the database, by thread: the request's own work and the dispatcher's."""

    def __init__(self, engine, pings: bool):
        self.rows: dict[str, Counter] = defaultdict(Counter)
        self.statements: dict[str, list[str]] = defaultdict(list)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", lambda conn: self._transaction(conn, "BEGIN"))
        event.listen(engine, "commit", lambda conn: self._transaction(conn, "COMMIT"))
        if pings:
            event.listen(engine.pool, "checkout", lambda *args: self._count("ping"))

    def _transaction(self, conn, what: str) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self._count(what)

    def _where(self) -> str:
        return "dispatcher" if threading.current_thread().name == "banner-dispatcher" else "webhook"

    def _count(self, what: str) -> None:
        self.rows[self._where()][what] += 1

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self._count("statements")
        self.statements[self._where()].append(" ".join(statement.split())[:int(os.environ.get("STATEMENT_CHARS", 150))])

    def reset(self) -> None:
        self.rows.clear()
        self.statements.clear()


def prepare(app) -> None:
    with app.app_context():
        db.drop_all()
        db.create_all()
        anna = User(username="anna", display_name="Anna", password_hash="x")
        db.session.add(anna)
        address = Address(kind="company", name="Müller GmbH")
        db.session.add(address)
        db.session.flush()
        index_numbers(address, [("phone", KNOWN)])
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.accounts", "anna:777111222@fpbx.de")
        db.session.add(RoutingRule(position=10, name="Kunden", caller="known", action="group", object_id="1",
                                   holidays="any", ringtime=20))
        db.session.commit()


def post(client, **fields) -> None:
    body = urlencode(sorted(fields.items())).encode()
    response = client.post("/calls/placetel/notify", data=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "X-PLACETEL-SIGNATURE": sign(body, SECRET)})
    assert response.status_code == 200, response.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every statement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "SCHEDULER_ENABLED": False, "ROUTING_BUDGET_MS": 10_000,
                          "SSE_HEARTBEAT_SECONDS": 3600, "SSE_SESSION_CHECK_SECONDS": 3600})
        prepare(app)
        client = app.test_client()
        with app.app_context():
            tally = Tally(db.engine, pings=bool(app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping")))
            subscription = events.hub().subscribe(1, "de")  # one open stream: the dispatcher renders
        print(f"database: {url.split('@')[-1]}; engine options: {app.config['SQLALCHEMY_ENGINE_OPTIONS']}")
        print(f"{'call':<22} {'event':<13} | {'webhook: stmts':>14} {'BEGIN':>5} {'COMMIT':>6} {'ping':>4} | "
              f"{'dispatcher: stmts':>17} {'BEGIN':>5} {'ping':>4}")
        for number, (name, (caller, names)) in enumerate(CALLS.items()):
            call_id = f"{number:064x}"
            for name_of_event in names:
                tally.reset()
                fields = {"call_id": call_id, "event": name_of_event, "from": caller, "to": "+492219990000",
                          "direction": "in"}
                if name_of_event == "CallAccepted":
                    fields["peer"] = "777111222@fpbx.de"
                if name_of_event == "HungUp":
                    fields.update(type="accepted" if "CallAccepted" in names else "missed", duration="12")
                post(client, **fields)
                banner = subscription.next(timeout=5)
                assert banner is not None and banner.call_id == call_id
                time.sleep(0.05)  # the dispatcher closes its session after handing the banner out
                web, disp = tally.rows["webhook"], tally.rows["dispatcher"]
                print(f"{name:<22} {name_of_event:<13} | {web['statements']:>14} {web['BEGIN']:>5} "
                      f"{web['COMMIT']:>6} {web['ping']:>4} | {disp['statements']:>17} {disp['BEGIN']:>5} "
                      f"{disp['ping']:>4}")
                if args.verbose:
                    for where in ("webhook", "dispatcher"):
                        for statement in tally.statements[where]:
                            print(f"    {where:<10} {statement}")
        with app.app_context():
            events.hub().close()
            db.engine.dispose()


if __name__ == "__main__":
    main()
