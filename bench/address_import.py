"""Benchmark: check and import a CSV file of N addresses (default 1,000) with one contact each.

Usage: .venv/bin/python bench/address_import.py [N] [DATABASE_URL]
Prints the time for the preview check, the import and the export. Uses a
temporary SQLite database unless a URL is given (its tables are created and emptied).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from telephone import create_app  # noqa: E402
from telephone.addresses import csv_io  # noqa: E402
from telephone.extensions import db  # noqa: E402


def sample_csv(count: int) -> bytes:
    lines = ["Typ;Name;Funktion;Straße;PLZ;Ort;E-Mail;Telefon;Mobil;Fax"]
    for i in range(count):
        lines.append(f"Firma;Firma {i} GmbH;;Weg {i};55116;Mainz;info{i}@firma.de;06131 {100000 + i}-0;;"
                     f"06131 {100000 + i}-99")
        lines.append(f"Ansprechpartner;Person {i};Einkauf;;;;p{i}@firma.de;06131 {100000 + i}-17;"
                     f"0171 {2000000 + i};")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    folder = tempfile.mkdtemp()
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{folder}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False})
    content = sample_csv(count)
    with app.test_request_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        preview = csv_io.read_import(content)
        checked = time.perf_counter()
        addresses, contacts = csv_io.apply_import(preview)
        imported = time.perf_counter()
        exported = csv_io.export_csv()
        done = time.perf_counter()
        print(f"rows: {len(preview.rows)} ({addresses} addresses, {contacts} contact persons), "
              f"faulty: {len(preview.faulty)}")
        print(f"check (preview): {checked - started:.2f} s")
        print(f"import (one transaction): {imported - checked:.2f} s")
        print(f"export: {done - imported:.2f} s ({len(exported) // 1024} KiB)")
        db.session.remove()
        db.drop_all()


if __name__ == "__main__":
    main()
