"""Phonebook on phones: directory render time at 10,000 entries, caller-name lookup over HTTP.

1. Fills a fresh database with N phonebook entries (two numbers each, through the
   sync engine as a CSV import would) and renders every directory format in-process
   (`deskphones.render`, median and max of several runs: a full render as after a phonebook
   change, and the kept rendering while the phonebook is unchanged).
2. Starts the production server command (gunicorn, gevent worker) on the same
   database and asks `GET /api/v1/cid` for known and unknown numbers, one request
   at a time on a kept-alive connection, beside `GET /healthz` in the same run.

    .venv/bin/python bench/phones.py
    .venv/bin/python bench/phones.py --entries 10000 --requests 2000
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/phones.py
"""
from __future__ import annotations

import argparse
import gc
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sync_bench import make_csv  # noqa: E402
from bench.stats import percentile  # noqa: E402
from tests.servers import SECRET_KEY, running_server  # noqa: E402



def fill(url: str, entries: int) -> tuple[str, list[str]]:
    """Create the schema, import `entries` phonebook records; returns the directory token and known numbers."""
    from telephone import create_app, device_access, site_settings
    from telephone.extensions import db
    from telephone.models import PhoneNumber, SyncSource
    from telephone.sync import engine

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "SCHEDULER_ENABLED": False,
                      "TESTING": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        site_settings.set_value("phonebook.max_per_upload", str(entries))
        site_settings.set_value("phonebook.max_total", str(entries))
        source = SyncSource(type="csv", name="bench", options={})
        db.session.add(source)
        db.session.commit()
        outcome = engine.sync_source(source.id, "upload", upload=make_csv(entries))
        assert outcome.ok, outcome.summary()
        token = device_access.current_token()
        known = list(db.session.scalars(db.select(PhoneNumber.e164).where(PhoneNumber.e164.is_not(None))
                                        .limit(5000)))
        db.session.remove()
        db.engine.dispose()
    return token, known


def render_times(url: str, runs: int) -> dict[str, list[float]]:
    from telephone import create_app, deskphones

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "SCHEDULER_ENABLED": False,
                      "TESTING": True})
    times: dict[str, list[float]] = {}
    with app.test_request_context():
        for format_name in deskphones.FORMATS:
            deskphones.render(format_name)  # warm-up: statements compiled, metadata loaded
            for _ in range(runs):
                deskphones._rendered.clear()  # a full render, as after every phonebook change
                gc.collect()  # the previous render's garbage is not this one's
                start = time.perf_counter()
                body = deskphones.render(format_name)
                times.setdefault(format_name, []).append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                deskphones.render(format_name)  # unchanged phonebook: the kept rendering
                times.setdefault(format_name + "_cached", []).append((time.perf_counter() - start) * 1000)
            times[format_name + "_bytes"] = [len(body)]
    return times


class Client:
    """One kept-alive HTTP/1.1 connection, as a PBX's HTTP client holds it (Asterisk's CURL(), Superfecta).

    Plain `http.client`: the `requests` library spends ~1.3 ms of its own per request on this
    machine (a trivial WSGI app under gunicorn: 1.8 ms p50 through requests, 0.5 ms through
    http.client), which would be counted as the server's time.
    """

    def __init__(self, base: str):
        host, port = urlsplit(base).hostname, urlsplit(base).port
        self.connection = http.client.HTTPConnection(host, port, timeout=10)

    def get(self, path: str, **params) -> tuple[float, int, str]:
        """(milliseconds, status, body) of one GET."""
        if params:
            path = f"{path}?{urlencode(params)}"
        start = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        return (time.perf_counter() - start) * 1000, response.status, body.decode()


def http_times(base: str, token: str, known: list[str], count: int) -> dict[str, list[float]]:
    rng = random.Random(7)
    client = Client(base)
    result: dict[str, list[float]] = {"cid known": [], "cid unknown": [], "healthz": []}
    for _ in range(50):  # warm-up
        client.get("/api/v1/cid", token=token, number=known[0])
    for i in range(count):
        if i % 3 == 2:
            kind, number = "cid unknown", f"+4930{rng.randint(1000000, 9999999)}"
        else:
            kind, number = "cid known", rng.choice(known)
        elapsed, status, text = client.get("/api/v1/cid", token=token, number=number)
        result[kind].append(elapsed)
        assert status == 200 and (kind == "cid unknown") == (text == ""), text
        result["healthz"].append(client.get("/healthz")[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        print(f"database: {url.split('@')[-1]}; {args.entries} phonebook entries (2 numbers each); "
              f"{os.cpu_count()} cores")
        token, known = fill(url, args.entries)
        times = render_times(url, args.runs)
        print(f"{'directory':<12} {'render median ms':>16} {'max ms':>7} {'unchanged ms':>12} {'size kB':>8}")
        for format_name in ("yealink", "snom", "grandstream", "fritzbox", "vcard"):
            values = times[format_name]
            print(f"{format_name:<12} {statistics.median(values):>16.1f} {max(values):>7.1f} "
                  f"{statistics.median(times[format_name + '_cached']):>12.1f} "
                  f"{times[format_name + '_bytes'][0] / 1024:>8.0f}")
        with running_server(url) as base:
            result = http_times(base, token, known, args.requests)
        print(f"{'over HTTP':<12} {'requests':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
        for kind, values in result.items():
            print(f"{kind:<12} {len(values):>9} {statistics.median(values):>7.2f} {percentile(values, 95):>7.2f} "
                  f"{percentile(values, 99):>7.2f}")


if __name__ == "__main__":
    main()
