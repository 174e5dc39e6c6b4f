"""Call Control: how fast the webhook answers an IncomingCall with 10,000 addresses and 50 rules.

Fills a fresh database (addresses with a number each, every tenth with an account
manager, a block list of 200 numbers and prefixes, 50 rules whose conditions mostly
do not match so that a call walks far down the list), starts the production server
command (gunicorn, gevent worker) and posts signed IncomingCall webhooks from known,
unknown and blocked callers, one at a time, beside `GET /healthz` in the same run.

    .venv/bin/python bench/routing.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/routing.py
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telephone.placetel import sign  # noqa: E402
from bench.stats import percentile  # noqa: E402
from tests.servers import SECRET_KEY, running_server  # noqa: E402

SECRET = "bench-secret-0123456789"



def fill(url: str, addresses: int, rules: int) -> list[str]:
    """The schema and data; returns the known callers' numbers."""
    from telephone import block_list, create_app, site_settings
    from telephone.extensions import db
    from telephone.models import Address, RoutingRule, User
    from telephone.numbers import index_numbers

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "SCHEDULER_ENABLED": False,
                      "TESTING": True})
    rng = random.Random(3)
    known = []
    with app.app_context():
        db.drop_all()
        db.create_all()
        managers = [User(username=f"user{i}", display_name=f"Kollege {i}", password_hash="x") for i in range(20)]
        db.session.add_all(managers)
        db.session.flush()
        site_settings.set_value("placetel.shared_secret", SECRET)
        site_settings.set_value("placetel.accounts", "\n".join(f"user{i}:7770000{i:03d}@fpbx.de" for i in range(20)))
        for i in range(addresses):
            number = f"+49{rng.randint(2000, 9999)}{rng.randint(100000, 999999)}"
            address = Address(kind="company", name=f"Kunde {i}", account_manager_id=managers[i % 20].id
                              if i % 10 == 0 else None, tags="VIP" if i % 50 == 0 else "")
            db.session.add(address)
            db.session.flush()
            index_numbers(address, [("phone", number)])
            known.append(number)
        for i in range(200):
            block_list.add(f"+4930{rng.randint(1000000, 9999999)}" if i % 4 else f"0900{i:03d}*", "bench")
        for i in range(rules):
            # Most rules ask for a number or a tag nobody dials or has: the call walks the list.
            fields = {"dialled": f"+4922199{i:04d}"} if i % 2 else {"tag": f"gruppe{i}"}
            db.session.add(RoutingRule(position=i * 10, name=f"Regel {i}", action="group", object_id=str(i + 1),
                                       caller="any", holidays="any", ringtime=20, **fields))
        db.session.add(RoutingRule(position=rules * 10, name="Kundenbetreuung", caller="managed",
                                   action="account_manager", targets="user1", holidays="not", ringtime=20))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return known


def body(call_id: str, caller: str) -> str:
    return urlencode(sorted({"call_id": call_id, "direction": "in", "event": "IncomingCall", "from": caller,
                             "to": "0221999000"}.items()))


def measure(base: str, known: list[str], count: int) -> dict[str, list[float]]:
    rng = random.Random(9)
    session = requests.Session()
    result: dict[str, list[float]] = {"known caller": [], "unknown caller": [], "blocked prefix": [], "healthz": []}
    kinds = list(result)[:3]
    for i in range(count + 30):
        kind = kinds[i % 3]
        caller = {"known caller": lambda: rng.choice(known),
                  "unknown caller": lambda: f"+4940{rng.randint(1000000, 9999999)}",
                  "blocked prefix": lambda: f"0900{rng.randrange(0, 200, 4):03d}1234"}[kind]()
        data = body(f"{i:016x}", caller)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-PLACETEL-SIGNATURE": sign(data.encode(), SECRET)}
        start = time.perf_counter()
        response = session.post(f"{base}/calls/placetel/notify", data=data, headers=headers)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, response.text
        if kind == "blocked prefix":
            assert b"<Reject" in response.content, response.text
        start = time.perf_counter()
        session.get(f"{base}/healthz")
        healthz = (time.perf_counter() - start) * 1000
        if i >= 30:  # the first requests compile statements and warm caches
            result[kind].append(elapsed)
            result["healthz"].append(healthz)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addresses", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        print(f"database: {url.split('@')[-1]}; {args.addresses} addresses, {args.rules + 1} rules, "
              f"200 blocked; {os.cpu_count()} cores")
        known = fill(url, args.addresses, args.rules)
        with running_server(url) as base:
            result = measure(base, known, args.requests)
        print(f"{'IncomingCall':<16} {'requests':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
        for kind, values in result.items():
            print(f"{kind:<16} {len(values):>8} {statistics.median(values):>7.2f} {percentile(values, 95):>7.2f} "
                  f"{percentile(values, 99):>7.2f}")


if __name__ == "__main__":
    main()
