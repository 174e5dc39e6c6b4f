"""Phonebook sync benchmark: first import, unchanged re-sync and 10 % changed, 10k and 100k records.

Runs against a temporary SQLite database, and against PostgreSQL when
BENCH_DATABASE_URL is set (its tables are dropped and re-created!). Each case
runs in its own subprocess so that the peak memory (resource.getrusage
ru_maxrss, the whole process's peak resident set) belongs to that case alone.

    .venv/bin/python bench/sync_bench.py
"""
from __future__ import annotations

import csv
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIZES = (10_000, 100_000)
HEADER = "internal_id,display_name,family_name,given_name,honorific_prefix,gender,phone,phone,phone,email"
GIVEN = ["Anna", "Jörg", "Klaus", "Ülrike", "Sven", "Maria", "Özlem", "Peter", "Lena", "Tobias"]
FAMILY = ["Schmidt", "Müller", "Weber", "Schäfer", "Becker", "Hoffmann", "Koch", "Richter", "Wolf", "Braun"]


def make_csv(count: int, changed_share: float = 0.0, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    change = set(random.Random(2).sample(range(count), int(count * changed_share)))
    lines = [HEADER]
    for i in range(count):
        given, family = GIVEN[i % 10], FAMILY[(i // 10) % 10]
        work = f"+49{rng.randint(2000, 9999)}{rng.randint(100000, 999999)}"
        mobile = f"+4917{rng.randint(10000000, 99999999)}"
        if i in change:
            work = work[:-1] + str((int(work[-1]) + 1) % 10)
        gender = "female" if i % 2 else "male"
        lines.append(f'{i + 1},"{family}, {given} {i}",{family},{given},{"Dr." if i % 7 == 0 else ""},{gender},'
                     f"WORK:{work},MOBILE:{mobile},,WORK:{given.lower()}.{i}@example.com")
    return ("\n".join(lines) + "\n").encode("utf-8")


def child(size: int, case: str, database_url: str) -> None:
    """Run one case against an existing database and print `seconds maxrss_mb counts`."""
    from telephone import create_app, site_settings
    from telephone.extensions import db
    from telephone.models import SyncSource
    from telephone.sync import engine

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False,
                      "TESTING": True})
    data = make_csv(size, 0.1 if case == "changed" else 0.0)
    with app.app_context():
        if case == "first":
            db.drop_all()
            db.create_all()
            site_settings.set_value("phonebook.max_per_upload", str(size))
            site_settings.set_value("phonebook.max_total", str(size))
            db.session.add(SyncSource(id=1, type="csv", name="Bench", options={}))
            db.session.commit()
        start = time.perf_counter()
        outcome = engine.sync_source(1, "cli", upload=data)
        seconds = time.perf_counter() - start
    assert outcome.ok, outcome.summary()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {maxrss_mb:.0f} created={outcome.created} updated={outcome.updated} "
          f"unchanged={outcome.unchanged}")


def csv_only(size: int) -> float:
    data = make_csv(size)
    start = time.perf_counter()
    for _row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        pass
    return time.perf_counter() - start


def main() -> None:
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite:///{tmp}/bench.db"))
        if os.environ.get("BENCH_DATABASE_URL"):
            targets.append(("PostgreSQL", os.environ["BENCH_DATABASE_URL"]))
        print("peak memory: resource.getrusage ru_maxrss of a fresh process per case (includes the interpreter "
              "and the generated file)")
        print(f"{'database':<11} {'records':>8} {'case':<18} {'seconds':>8} {'peak MB':>8}  result")
        for label, url in targets:
            for size in SIZES:
                print(f"{'(csv only)':<11} {size:>8} {'csv.reader':<18} {csv_only(size):>8.2f}")
                for case, text in (("first", "first import"), ("unchanged", "unchanged re-sync"),
                                   ("changed", "10 % changed")):
                    result = subprocess.run([sys.executable, __file__, "--child", str(size), case, url],
                                            capture_output=True, text=True, cwd=ROOT)
                    if result.returncode:
                        print(result.stderr[-2000:])
                        raise SystemExit(1)
                    seconds, peak, counts = result.stdout.strip().splitlines()[-1].split(" ", 2)
                    print(f"{label:<11} {size:>8} {text:<18} {seconds:>8} {peak:>8}  {counts}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
