"""Shared HTTP plumbing for the API sources.

Every request of a source goes through `HttpClient.request`: it sets a timeout,
retries throttled answers (429 or 503 with `Retry-After`) a bounded number of
times with a bounded wait, and turns every network failure into a `SourceError`
with a precise German reason. Messages name the host, never a URL with its
query or body, so credentials and tokens cannot end up in a message or log.
"""
from __future__ import annotations

import logging
import socket
import time
from abc import abstractmethod
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import ClassVar, Iterable, Iterator
from urllib.parse import urlparse

import requests
import urllib3

from telephone import messages
from telephone.sync.base import Record, Source, SourceError

log = logging.getLogger(__name__)

#: Attempts for one request when the service throttles (the first one included).
MAX_ATTEMPTS = 4
#: Longest wait for one `Retry-After`, in seconds; a longer one fails the sync.
MAX_WAIT = 120.0
#: Wait when a throttled answer carries no usable `Retry-After`.
DEFAULT_WAIT = 5.0


#: Bytes asked for per read; a read returns as soon as any data arrived (so the deadline is checked often).
READ_SIZE = 64 * 1024


def sleep(seconds: float) -> None:
    """Wait between retries (a module function so tests can replace it)."""
    time.sleep(seconds)


def host_of(url: str) -> str:
    """The host name of `url` for messages (no user info, path or query)."""
    try:
        return urlparse(url).hostname or url.split("/")[0]
    except ValueError:
        return "?"


def _is_name_resolution_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return True
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    text = str(exc)
    return any(marker in text for marker in (
        "NameResolutionError", "Name or service not known", "getaddrinfo failed",
        "nodename nor servname", "Temporary failure in name resolution", "No address associated",
    ))


def network_error(exc: BaseException, host: str, system: str) -> SourceError:
    """Translate a requests (or socket) exception into a German SourceError."""
    log.info("%s: network error %s talking to %s", system, type(exc).__name__, host)
    if isinstance(exc, requests.exceptions.SSLError):
        return SourceError(
            messages.gettext("%(system)s: TLS-Fehler bei der Verbindung zu %(host)s – das Zertifikat des "
                             "Servers ist ungültig, abgelaufen oder nicht vertrauenswürdig.",
                             system=system, host=host)
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return SourceError(messages.gettext("%(system)s: Zeitüberschreitung beim Verbindungsaufbau zu "
                                            "%(host)s. Bitte Adresse und Firewall prüfen.", system=system, host=host))
    if isinstance(exc, (requests.exceptions.Timeout, socket.timeout)):
        return SourceError(messages.gettext("%(system)s: %(host)s hat nicht rechtzeitig geantwortet "
                                            "(Zeitüberschreitung).", system=system, host=host))
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        if _is_name_resolution_failure(exc):
            return SourceError(messages.gettext("%(system)s: Server nicht gefunden (%(host)s). Bitte die "
                                                "Adresse prüfen.", system=system, host=host))
        return SourceError(messages.gettext("%(system)s: Keine Verbindung zu %(host)s möglich (Verbindung "
                                            "abgelehnt oder abgebrochen).", system=system, host=host))
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return SourceError(messages.gettext("%(system)s: Ungültige Adresse. Bitte eine vollständige "
                                            "https://-Adresse angeben.", system=system))
    return SourceError(messages.gettext("%(system)s: Verbindungsfehler zu %(host)s (%(error)s).", system=system, host=host, error=type(exc).__name__))


def unexpected_answer(system: str, host: str, detail: str = "") -> SourceError:
    """The service answered with something the source cannot read."""
    if detail:
        return SourceError(messages.gettext("%(system)s: Unerwartete Antwort von %(host)s (%(detail)s). Ist die "
                                            "Adresse die des richtigen Dienstes?", system=system, host=host,
                                            detail=detail))
    return SourceError(messages.gettext("%(system)s: Unerwartete Antwort von %(host)s. Ist die Adresse die des "
                                        "richtigen Dienstes?", system=system, host=host))


def _retry_after(response: requests.Response) -> float:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return DEFAULT_WAIT
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_WAIT
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class BodyTooLarge(Exception):
    """The body is longer than the caller allows."""


def deadline_exceeded(system: str, host: str, seconds: float) -> SourceError:
    """The transfer took longer than the total deadline (setting phonebook.download_deadline)."""
    return SourceError(messages.gettext("%(system)s: Die Übertragung von %(host)s dauerte länger als "
                                        "%(seconds)s Sekunden und wurde abgebrochen (Gesamtzeitlimit). "
                                        "Nichts wurde geändert.", system=system, host=host,
                                        seconds=format(seconds, "g")))


def truncated(system: str, host: str) -> SourceError:
    """The connection ended before the whole body arrived."""
    return SourceError(messages.gettext("%(system)s: Die Übertragung von %(host)s wurde vorzeitig beendet – "
                                        "die Daten sind unvollständig. Nichts wurde geändert. Bitte später "
                                        "erneut versuchen.", system=system, host=host))


def read_body(response: requests.Response, *, system: str, deadline: float, max_bytes: int | None = None,
              require_final_newline: bool = False) -> bytes:
    """Read a streamed response's whole body, or raise SourceError when it is not complete.

    Complete means: as long as Content-Length says (urllib3 raises otherwise), or a
    chunked body that ended with its last chunk (urllib3 raises otherwise). A body
    delimited only by the connection closing has no end marker: with
    `require_final_newline` its last line must end with a line break, else it is
    taken as cut off. The whole transfer must finish within `deadline` seconds
    after the headers arrived, however slowly the server trickles; each socket
    read keeps its own read timeout. Raises BodyTooLarge beyond `max_bytes`.
    """
    host = host_of(response.url or "")
    started = time.monotonic()
    chunks, size = [], 0
    try:
        while True:
            if time.monotonic() - started > deadline:
                raise deadline_exceeded(system, host, deadline)
            chunk = response.raw.read1(READ_SIZE)
            if not chunk:
                break
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise BodyTooLarge()
            chunks.append(chunk)
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as exc:
        log.info("%s: incomplete body from %s: %s", system, host, type(exc).__name__)
        raise truncated(system, host) from None
    except (urllib3.exceptions.ReadTimeoutError, socket.timeout):
        raise SourceError(messages.gettext("%(system)s: %(host)s hat nicht rechtzeitig geantwortet "
                                           "(Zeitüberschreitung).", system=system, host=host)) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise network_error(requests.exceptions.ConnectionError(exc), host, system) from None
    if time.monotonic() - started > deadline:
        raise deadline_exceeded(system, host, deadline)
    body = b"".join(chunks)
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and "Content-Encoding" not in response.headers and len(body) != int(length):
        raise truncated(system, host)
    delimited = length.isdigit() or "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    if require_final_newline and body and not delimited and not body.endswith((b"\n", b"\r")):
        raise truncated(system, host)
    return body


class HttpClient:
    """A requests session for one source run with timeout, throttling retry and error mapping."""

    def __init__(self, system: str, timeout: float = 30.0, max_attempts: int = MAX_ATTEMPTS,
                 max_wait: float = MAX_WAIT, deadline: float = 120.0):
        self.system = system
        self.timeout = timeout
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.session = requests.Session()

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """Send a request; retry throttled answers; raise SourceError on network failure.

        Any other status is returned to the caller, which knows what it means. The
        body is read completely within the deadline (see `read_body`).
        """
        host = host_of(url)
        kwargs.setdefault("timeout", self.timeout)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.session.request(method, url, stream=True, **kwargs)
            except requests.exceptions.RequestException as exc:
                raise network_error(exc, host, self.system) from None
            with response:
                response._content = read_body(response, system=self.system, deadline=self.deadline)
            throttled = response.status_code == 429 or (
                response.status_code == 503 and "Retry-After" in response.headers)
            if not throttled:
                return response
            wait = _retry_after(response)
            if wait > self.max_wait:
                raise SourceError(messages.gettext("%(system)s: Der Dienst bremst die Abfragen (HTTP "
                                                   "%(status)s) und verlangt %(seconds)s Sekunden Pause. "
                                                   "Bitte später erneut versuchen.",
                                                   system=self.system, status=response.status_code, seconds=int(wait)))
            if attempt == self.max_attempts:
                break
            log.info("%s: throttled by %s (HTTP %s), waiting %.0f s (attempt %d of %d)",
                     self.system, host, response.status_code, wait, attempt, self.max_attempts)
            sleep(wait)
        raise SourceError(messages.gettext("%(system)s: Der Dienst bremst die Abfragen weiterhin (HTTP 429) "
                                           "– nach %(attempts)s Versuchen abgebrochen. Bitte später erneut "
                                           "versuchen.", system=self.system, attempts=self.max_attempts))

    def json(self, response: requests.Response):
        """The JSON body of `response`, or SourceError "unerwartete Antwort"."""
        try:
            return response.json()
        except ValueError:
            raise unexpected_answer(self.system, host_of(response.url or ""),
                                    messages.gettext("kein gültiges JSON")) from None

    def close(self) -> None:
        self.session.close()


def server_error(system: str, response: requests.Response) -> SourceError:
    """A status the source does not handle specially."""
    host = host_of(response.url or "")
    if response.status_code >= 500:
        return SourceError(messages.gettext("%(system)s: Der Server %(host)s meldet einen internen Fehler "
                                            "(HTTP %(status)s). Bitte später erneut versuchen.",
                                            system=system, host=host, status=response.status_code))
    if response.status_code == 404:
        return SourceError(messages.gettext("%(system)s: Adresse auf %(host)s nicht gefunden (HTTP 404). "
                                            "Bitte die URL prüfen.", system=system, host=host))
    return unexpected_answer(system, host, f"HTTP {response.status_code}")


def base_url(url: str, system: str, what: str = "") -> str:
    """`url` without trailing slash, with https:// added when no scheme is given."""
    what = what or messages.gettext("Adresse")
    url = (url or "").strip().rstrip("/")
    if not url:
        raise SourceError(messages.gettext("%(system)s: Bitte die %(what)s angeben.", system=system, what=what))
    if "://" not in url:
        url = "https://" + url
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SourceError(messages.gettext("%(system)s: Die %(what)s ist ungültig. Bitte eine Adresse wie "
                                           "https://server.firma.de angeben.", system=system, what=what))
    return url


class ApiSource(Source):
    """A source read page by page over HTTP; subclasses implement `_pages`."""

    system: ClassVar[str]

    @abstractmethod
    def _pages(self, client: HttpClient) -> Iterator[list[Record]]:
        """Authenticate with `client` and yield the records page by page."""

    def _reads_users(self) -> bool:
        """Whether the source reads users (not contacts): only for the test message."""
        return False

    def fetch(self) -> Iterable[Record]:
        """Yield every record of every page."""
        client = HttpClient(self.system, timeout=self.timeout, deadline=self.deadline)
        try:
            for page in self._pages(client):
                yield from page
        finally:
            client.close()

    def test_connection(self) -> str:
        """Authenticate and read the first page."""
        client = HttpClient(self.system, timeout=self.timeout, deadline=self.deadline)
        try:
            page = next(iter(self._pages(client)), [])
        finally:
            client.close()
        return first_page_read(len(page), users=self._reads_users())


def first_page_read(count: int, users: bool = False) -> messages.Message:
    """The success message of a connection test that read one page of `count` contacts (or users)."""
    if users:
        return messages.ngettext("Verbindung erfolgreich – %(num)d Benutzer auf der ersten Seite gelesen.",
                                 "Verbindung erfolgreich – %(num)d Benutzer auf der ersten Seite gelesen.", count)
    return messages.ngettext("Verbindung erfolgreich – %(num)d Kontakt auf der ersten Seite gelesen.",
                             "Verbindung erfolgreich – %(num)d Kontakte auf der ersten Seite gelesen.", count)
