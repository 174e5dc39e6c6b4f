"""Two real server processes: a webhook handled by one reaches streams held by the other."""
from __future__ import annotations

import os
import queue
import threading

import pytest
import redis
import requests
from sqlalchemy import create_engine, text

from telephone import site_settings
from telephone.extensions import db

from .conftest import PASSWORD, make_user
from .servers import login, notify, running_server

SECRET = "12345"
PG_BUS = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_BUS = "redis://127.0.0.1:6379/0"


def _reachable(url: str) -> bool:
    try:
        if url.startswith("redis"):
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        else:
            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            finally:
                engine.dispose()
        return True
    except Exception:
        return False


def _require(url: str) -> None:
    if not _reachable(url):
        if os.environ.get("CI"):
            pytest.fail(f"{url} is not reachable, but CI needs it for the multi-process test")
        pytest.skip(f"{url} is not reachable")


def _read_banners(session, base: str, found: queue.Queue, stop: threading.Event) -> None:
    try:
        with session.get(f"{base}/events", stream=True, timeout=(5, 30)) as response:
            found.put(("status", response.status_code))
            for line in response.iter_lines(decode_unicode=True):
                if stop.is_set():
                    return
                if line and line.startswith("data: ") and 'id="call-' in line:
                    found.put(("banner", line))
    except requests.RequestException as exc:  # the server stops at the end of the test
        if not stop.is_set():
            found.put(("error", repr(exc)))


@pytest.mark.parametrize("bus_url", [REDIS_BUS, PG_BUS], ids=["redis", "postgresql"])
def test_webhook_on_one_process_reaches_stream_on_another(app, database_url, bus_url):
    _require(bus_url)
    make_user(app, "anna")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        db.session.commit()
    with running_server(database_url, EVENT_BUS_URL=bus_url) as first, \
            running_server(database_url, EVENT_BUS_URL=bus_url) as second:
        session = login(second, "anna", PASSWORD)
        found: queue.Queue = queue.Queue()
        stop = threading.Event()
        reader = threading.Thread(target=_read_banners, args=(session, second, found, stop), daemon=True)
        reader.start()
        assert found.get(timeout=10) == ("status", 200)
        call_id = "c0ffee" * 10 + "abcd"
        response = notify(first, SECRET, call_id=call_id, direction="in", event="IncomingCall",
                          **{"from": "06131123456", "to": "0221999000"})
        assert response.status_code == 200
        kind, line = found.get(timeout=10)
        stop.set()
        assert kind == "banner" and f'id="call-{call_id}"' in line
