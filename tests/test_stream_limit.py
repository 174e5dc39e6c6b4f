"""Event streams never starve the webhook: above a share of the connection slots new streams get 503."""
from __future__ import annotations

import http.client
from urllib.parse import urlparse

import pytest
import requests

from telephone import site_settings
from telephone.extensions import db

from .conftest import PASSWORD, make_user
from .servers import login, notify, running_server
from .test_events import open_stream

SECRET = "12345"


@pytest.fixture(autouse=True)
def fast_heartbeat(app):
    app.config["SSE_HEARTBEAT_SECONDS"] = 0.05


def test_stream_above_the_limit_is_refused_with_retry_after(app, client, auth):
    app.config["EVENT_STREAM_LIMIT"] = 1
    auth.login("anna")
    first = open_stream(client)
    refused = client.get("/events")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
    assert "bitte später erneut versuchen" in refused.text
    first.close()
    open_stream(client).close()  # the slot is free again


def test_limit_is_a_share_of_the_server_slots(app):
    from telephone import events

    with app.app_context():
        hub = events.hub()
        assert hub.stream_limit() is None  # development server: nothing known, nothing refused
        app.config["SERVER_CONNECTION_SLOTS"] = 10000
        assert hub.stream_limit() == 8000
        app.config["EVENT_STREAM_SHARE"] = 0.5
        assert hub.stream_limit() == 5000
        app.config["EVENT_STREAM_LIMIT"] = 7
        assert hub.stream_limit() == 7


def test_gunicorn_conf_reports_the_slots_of_each_worker_class():
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    path = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf", path)
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    cfg = SimpleNamespace(worker_connections=10000, threads=1000, worker_class_str="gevent")
    assert conf.connection_slots(cfg) == 10000
    assert conf.connection_slots(SimpleNamespace(**{**vars(cfg), "worker_class_str": "gthread"})) == 1000
    assert conf.connection_slots(SimpleNamespace(**{**vars(cfg), "worker_class_str": "sync"})) == 1
    worker = SimpleNamespace(cfg=cfg, wsgi=SimpleNamespace(config={}))
    conf.post_worker_init(worker)
    assert worker.wsgi.config == {"SERVER_CONNECTION_SLOTS": 10000}


def _open_raw_stream(base: str, cookie: str) -> tuple[http.client.HTTPConnection, int]:
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("GET", "/events", headers={"Cookie": cookie, "Accept": "text/event-stream"})
    response = connection.getresponse()
    if response.status != 200:
        response.read()
    return connection, response.status


def test_full_streams_leave_slots_for_healthz_and_the_webhook(app, database_url):
    """gunicorn with 20 connection slots: 20 browsers open streams, yet /healthz and Notify answer at once."""
    make_user(app, "anna")
    with app.app_context():
        site_settings.set_value("placetel.shared_secret", SECRET)
        db.session.commit()
    with running_server(database_url, worker_connections=20) as base:
        session = login(base, "anna", PASSWORD)
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        session.close()
        opened = [_open_raw_stream(base, cookie) for _ in range(20)]
        try:
            statuses = [status for _connection, status in opened]
            assert statuses.count(200) == 16 and statuses.count(503) == 4  # 80 % of 20 slots
            # answered while every stream slot is taken (a blocked request would run into the timeout)
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            assert notify(base, SECRET, call_id="7" * 64, direction="in", event="IncomingCall",
                          **{"from": "06131123456", "to": "0221999000"}).status_code == 200
        finally:
            for connection, _status in opened:
                connection.close()
