"""Event bus and fan-out for live call banners.

The webhook stores a CallEvent, commits, then calls `publish(call_event_id)`.
Only that id travels: in-process by default, through PostgreSQL LISTEN/NOTIFY
or Redis pub/sub when `EVENT_BUS_URL` is set so that every process hears it.
Each process has one `Hub`: a dispatcher thread that loads the call once,
renders its banner once per language in use and hands it to every stream of
that process (see `sse` for how). Streams never touch the database while they wait.

The process that received the webhook need not load the call again: the
webhook renders the banner from the call it holds (`prepare`, before its
commit) and the dispatcher sends that one when the id is published.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

from flask import Flask, current_app, has_request_context
from sqlalchemy import false, select

from . import banners, sse
from .extensions import db
from .models import Call, User

log = logging.getLogger(__name__)

CHANNEL = "telephone_events"
EXTENSION_KEY = "telephone.events"


def publish(call_event_id: int) -> None:
    """Announce a committed CallEvent to every open stream in every process."""
    hub = current_app.extensions.get(EXTENSION_KEY)
    if hub is not None:
        hub.bus.publish(call_event_id)


def prepare(call_event_id: int, call: Call, new_call: bool = False) -> None:
    """Render the banner of `call` after CallEvent `call_event_id` for this process's streams, in the
    request that stores the event and holds the call; the dispatcher sends it once the id is published
    (after the commit) instead of loading the call again. Without streams here, or outside a request,
    nothing happens; if rendering fails, the dispatcher loads the call as for other processes' events."""
    hub = current_app.extensions.get(EXTENSION_KEY)
    if hub is not None and has_request_context():
        hub.prepare(call_event_id, call, new_call)


def hub() -> Hub:
    return current_app.extensions[EXTENSION_KEY]


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = Hub(app, make_bus(app.config.get("EVENT_BUS_URL")))


# Put into a hub's inbox by Hub.close(); -1 (catch_up) and event ids are the other items
STOP_DISPATCHER = -2
# Banners rendered by `prepare` wait for their id at most in this number (an event whose commit
# failed is never published)
PREPARED_LIMIT = 64
_NOT_PREPARED = object()


class Hub:
    """Fans banners out to the streams of this process."""

    def __init__(self, app: Flask, bus: Bus):
        self.app = app
        self.bus = bus
        bus.deliver = self.deliver
        bus.on_reconnect = self.catch_up
        self._subscriptions: set[sse.Subscription] = set()
        self._lock = threading.Lock()
        self._inbox: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._prepared: dict[int, banners.Banner | None] = {}  # event id → banner rendered by its webhook
        self.last_event_id = 0

    def stream_limit(self) -> int | None:
        """How many streams this process holds at most; None = no limit known (development server).

        EVENT_STREAM_LIMIT if set, else EVENT_STREAM_SHARE of the server's connection slots
        (gunicorn's worker_connections, or its threads for gthread), so that the
        webhook, /healthz and the pages always find a free slot.
        """
        config = self.app.config
        if config.get("EVENT_STREAM_LIMIT") is not None:
            return max(int(config["EVENT_STREAM_LIMIT"]), 0)
        slots = config.get("SERVER_CONNECTION_SLOTS")
        if not slots:
            return None
        return int(int(slots) * float(config.get("EVENT_STREAM_SHARE", 0.8)))

    def subscribe(self, user_id: int, locale: str, session_token: str | None = None) -> sse.Subscription | None:
        """A new stream of `user_id`, or None when this process holds as many streams as it may."""
        subscription = sse.Subscription(user_id, locale, session_token=session_token)
        limit = self.stream_limit()
        with self._lock:
            if limit is not None and len(self._subscriptions) >= limit:
                return None
            self._subscriptions.add(subscription)
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch_forever, name="banner-dispatcher",
                                                    daemon=True)
                self._dispatcher.start()
                self.bus.listen()
        return subscription

    def unsubscribe(self, subscription: sse.Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def stream_count(self) -> int:
        return len(self._subscriptions)

    def locales(self) -> tuple[str, ...]:
        """The languages of this process's streams."""
        with self._lock:
            return tuple(sorted({s.locale for s in self._subscriptions}))

    def prepare(self, call_event_id: int, call: Call, new_call: bool) -> None:
        """See `prepare()`; needs a request context."""
        locales = self.locales()
        if not locales:
            return
        try:
            # nobody can have closed the banner of a new call yet
            muted, dismissed = self._check_streams(None if new_call else call.call_id)
            banner = banners.banner_for_call(call_event_id, call, locales, muted, dismissed)
        except Exception:  # the banner is then rendered by the dispatcher, from the database
            log.exception("banner of call event %s not rendered by its webhook", call_event_id)
            return
        with self._lock:
            self._prepared[call_event_id] = banner
            while len(self._prepared) > PREPARED_LIMIT:
                del self._prepared[next(iter(self._prepared))]

    def deliver(self, call_event_id: int) -> None:
        """Called by the bus for every published event id (any thread)."""
        self._inbox.put(call_event_id)

    def catch_up(self) -> None:
        """After a bus reconnect: deliver the events this process may have missed."""
        self._inbox.put(-1)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the dispatcher after the event in hand (tests, shutdown): no thread touches the database then."""
        with self._lock:
            dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            self._inbox.put(STOP_DISPATCHER)
            dispatcher.join(timeout)

    def _dispatch_forever(self) -> None:
        next_heartbeat = time.monotonic() + self._heartbeat_seconds()
        next_session_check = time.monotonic() + self._session_check_seconds()
        while True:
            wait = min(next_heartbeat, next_session_check) - time.monotonic()
            try:
                event_id = self._inbox.get(timeout=wait) if wait > 0 else None
            except queue.Empty:
                continue
            if event_id == STOP_DISPATCHER:
                return
            try:
                if event_id is None and time.monotonic() >= next_session_check:
                    next_session_check = time.monotonic() + self._session_check_seconds()
                    with self.app.app_context():
                        try:
                            self._check_streams()
                        finally:
                            db.session.remove()
                if event_id is None and time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + self._heartbeat_seconds()
                    self._broadcast(None)
                elif event_id is not None:
                    self._dispatch(event_id)
            except Exception:  # a broken event must not stop the banners of later calls
                log.exception("could not dispatch call event %s", "(heartbeat)" if event_id is None else event_id)

    def _heartbeat_seconds(self) -> float:
        return self.app.config.get("SSE_HEARTBEAT_SECONDS", 15)

    def _session_check_seconds(self) -> float:
        return self.app.config.get("SSE_SESSION_CHECK_SECONDS", 5)

    def _check_streams(self, call_id: str | None = None) -> tuple[frozenset[int], frozenset[int]]:
        """End the streams whose user logged out, got a new password or was deactivated; of the other
        streams' users, those who switched banners off and those who closed the banner of `call_id`
        (one query for all streams; needs an app context)."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        if not subscriptions:
            return frozenset(), frozenset()
        dismissed = banners.dismissed_by_user(call_id) if call_id else false()
        users = {row.id: row for row in db.session.execute(
            select(User.id, User.session_token, User.active, User.call_notifications, dismissed.label("dismissed"))
            .where(User.id.in_({s.user_id for s in subscriptions})))}
        for subscription in subscriptions:
            user = users.get(subscription.user_id)
            if subscription.session_token is not None and (
                    user is None or not user.active or user.session_token != subscription.session_token):
                subscription.end()
                self.unsubscribe(subscription)
        return (frozenset(user.id for user in users.values() if not user.call_notifications),
                frozenset(user.id for user in users.values() if user.dismissed))

    def _broadcast(self, banner: banners.Banner | None) -> None:
        """Hand a banner (None: a heartbeat) to every stream of this process."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.deliver(banner)

    def _dispatch(self, event_id: int) -> None:
        with self._lock:
            prepared = self._prepared.pop(event_id, _NOT_PREPARED)
        locales = self.locales()
        if not locales:
            return
        if prepared is not _NOT_PREPARED:  # rendered by the webhook, which checked the streams too
            found = [prepared] if prepared is not None else []
        else:
            with self.app.test_request_context("/"):
                try:
                    muted, _ = self._check_streams()  # a banner never reaches an ended session
                    if event_id == -1:
                        found = banners.replay(self.last_event_id, locales, muted) if self.last_event_id else []
                    else:
                        banner = banners.banner_for_event(event_id, locales, muted)
                        found = [banner] if banner else []
                finally:
                    db.session.remove()
        for banner in found:
            self.last_event_id = max(self.last_event_id, banner.event_id)
            self._broadcast(banner)


# --------------------------------------------------------------------------- buses


class Bus:
    """Carries event ids between processes; `deliver` is set by the Hub."""

    deliver: Callable[[int], None]
    on_reconnect: Callable[[], None] | None = None

    def publish(self, call_event_id: int) -> None:
        raise NotImplementedError

    def listen(self) -> None:
        """Start hearing events from other processes (called once, when a stream opens)."""


class LocalBus(Bus):
    """One process (SQLite, development): the id goes straight to the hub."""

    def publish(self, call_event_id: int) -> None:
        self.deliver(call_event_id)


class _ListeningBus(Bus):
    """A bus with a listener thread that reconnects with backoff and asks for a catch-up."""

    name = "bus"

    def __init__(self, url: str):
        self.url = url
        self._publish_lock = threading.Lock()

    def listen(self) -> None:
        threading.Thread(target=self._listen_forever, name=f"{self.name}-listener", daemon=True).start()

    def _listen_forever(self) -> None:
        delay, first = 0.5, True
        while True:
            try:
                self._listen(ready=lambda: None if first else self._reconnected())
            except Exception as exc:  # connection lost: retry, never give up
                log.warning("%s listener lost its connection (%s); retrying in %.1fs", self.name, exc, delay)
            first = False
            time.sleep(delay)
            delay = min(delay * 2, 10)

    def _reconnected(self) -> None:
        log.info("%s listener reconnected", self.name)
        if self.on_reconnect:
            self.on_reconnect()

    def _listen(self, ready: Callable[[], None]) -> None:
        raise NotImplementedError

    def _deliver_payload(self, payload: str | bytes) -> None:
        try:
            self.deliver(int(payload))
        except ValueError:
            log.warning("%s: ignoring payload %r", self.name, payload)


class PostgresBus(_ListeningBus):
    """Several processes on PostgreSQL: NOTIFY carries the id, LISTEN hears it."""

    name = "postgresql"

    def __init__(self, url: str):
        super().__init__(url.replace("postgresql+psycopg://", "postgresql://", 1))
        self._connection = None

    def publish(self, call_event_id: int) -> None:
        import psycopg

        with self._publish_lock:
            for attempt in (1, 2):
                try:
                    if self._connection is None or self._connection.closed:
                        self._connection = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                    self._connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(call_event_id)))
                    return
                except psycopg.OperationalError:
                    self._connection = None
                    if attempt == 2:
                        raise

    def _listen(self, ready: Callable[[], None]) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            ready()
            for notify in connection.notifies():
                self._deliver_payload(notify.payload)


class RedisBus(_ListeningBus):
    """Several processes with Redis: PUBLISH carries the id, SUBSCRIBE hears it."""

    name = "redis"

    def __init__(self, url: str):
        super().__init__(url)
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=3)

    def publish(self, call_event_id: int) -> None:
        self._client.publish(CHANNEL, str(call_event_id))

    def _listen(self, ready: Callable[[], None]) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=3, health_check_interval=30)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(CHANNEL)
            ready()
            for message in pubsub.listen():
                if message and message.get("type") == "message":
                    self._deliver_payload(message["data"])
        finally:
            pubsub.close()
            client.close()


def make_bus(url: str | None) -> Bus:
    """The bus for EVENT_BUS_URL: unset → in-process, postgresql://… or redis://…."""
    if not url:
        return LocalBus()
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresBus(url.replace("postgres://", "postgresql://", 1))
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url)
    raise ValueError(f"EVENT_BUS_URL must start with postgresql:// or redis://, not {url.split(':', 1)[0]}://")
