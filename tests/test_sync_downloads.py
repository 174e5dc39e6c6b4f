"""Downloads of a phonebook source: cut-off transfers and servers that never finish change nothing."""
from __future__ import annotations

import time

import pytest

from telephone import site_settings
from telephone.extensions import db
from telephone.models import SyncRun, SyncSource
from telephone.sync import engine

from .download_servers import csv_server
from .phonebook_helpers import add_source, csv_rows, entries, sync

FULL = csv_rows(100).encode()


def _sync_from(app, source_id: int, url: str) -> engine.SyncOutcome:
    with app.app_context():
        db.session.get(SyncSource, source_id).url = url
        db.session.commit()
        outcome = engine.sync_source(source_id, "manual")
        db.session.remove()
        return outcome


def _cut_in_a_number() -> int:
    """60 % of the file, ending inside a phone number (`…,WORK:+4922`-like row cut in half)."""
    position = int(len(FULL) * 0.6)
    return FULL.index(b"WORK:+49", position) + len(b"WORK:+49")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_cut_off_download_changes_nothing(app, framing):
    source_id = add_source(app)
    assert sync(app, source_id, FULL).ok
    with csv_server(FULL, framing, cut=_cut_in_a_number()) as url:
        outcome = _sync_from(app, source_id, url)
    assert not outcome.ok
    assert "vorzeitig beendet" in outcome.problems[0].text
    kept = entries(app, source_id)
    assert len(kept) == 100
    assert all(len(entry["phones"][0]["number"]) > 8 for entry in kept.values())


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_complete_download_in_each_framing_is_synced(app, framing):
    source_id = add_source(app)
    with csv_server(FULL, framing) as url:
        outcome = _sync_from(app, source_id, url)
    assert outcome.ok, outcome.problems
    assert outcome.created == 100


def test_close_delimited_file_without_final_line_break_counts_as_cut(app):
    source_id = add_source(app)
    body = FULL.rstrip(b"\n")
    with csv_server(body, "close") as url:
        outcome = _sync_from(app, source_id, url)
    assert not outcome.ok and "vorzeitig beendet" in outcome.problems[0].text
    with csv_server(body, "length") as url:  # with a length the last line needs no line break
        assert _sync_from(app, source_id, url).ok


def test_trickling_server_is_cut_at_the_total_deadline(app):
    source_id = add_source(app)
    with app.app_context():
        site_settings.set_value("phonebook.download_deadline", "1")
        db.session.commit()
    started = time.monotonic()
    with csv_server(FULL, "length", trickle=0.05) as url:  # would need 100+ seconds in total
        outcome = _sync_from(app, source_id, url)
    assert time.monotonic() - started < 5
    assert not outcome.ok
    assert "länger als 1 Sekunden" in outcome.problems[0].text
    with app.app_context():
        run = db.session.scalars(db.select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert run.status == "failed"
        assert not engine.is_running(source_id)


def test_deadline_is_a_setting_with_a_default(app):
    with app.app_context():
        assert site_settings.get_int("phonebook.download_deadline") == 120
        with pytest.raises(site_settings.InvalidSetting):
            site_settings.set_value("phonebook.download_deadline", "0")


def test_api_requests_have_the_same_deadline_and_completeness_checks():
    from telephone.sync.base import SourceError
    from telephone.sync.sources.http import HttpClient

    body = b'{"records": []}'
    with csv_server(body, "length", trickle=0.3) as url:
        started = time.monotonic()
        with pytest.raises(SourceError, match="länger als 1 Sekunden"):
            HttpClient("SugarCRM", deadline=1).request("GET", url)
        assert time.monotonic() - started < 4
    with csv_server(body, "chunked", cut=8) as url:
        with pytest.raises(SourceError, match="vorzeitig beendet"):
            HttpClient("SugarCRM").request("GET", url)
    with csv_server(body, "chunked") as url:
        assert HttpClient("SugarCRM").json(HttpClient("SugarCRM").request("GET", url)) == {"records": []}
