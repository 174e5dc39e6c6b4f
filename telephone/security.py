"""HTTP hardening: trusted proxies, Secure cookies on HTTPS, HSTS and the Content-Security-Policy."""
from __future__ import annotations

from typing import Callable, Iterable

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Everything the pages load comes from this site: no inline scripts, no eval (htmx's
# hx-on and js: values are not used), no inline style attributes. Pico's icons are data: URIs.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self'",  # voicemail recordings in the journal's <audio> player
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000"


def init_app(app: Flask) -> None:
    """Install the proxy handling, the Secure-cookie rule and the security headers."""
    app.wsgi_app = SecureCookies(app.wsgi_app)
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops > 0:  # outermost: everything inside sees the client's address, scheme and host
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


class SecureCookies:
    """WSGI middleware: on an HTTPS request every cookie set (session, remember me, language)
    gets the Secure flag; on plain HTTP (development) cookies stay usable.

    Middleware rather than config because Flask and Flask-Login read their
    *_COOKIE_SECURE settings once per app, and the session cookie is written after
    every after_request hook."""

    def __init__(self, wsgi_app: Callable):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            headers = [(name, _secure(value) if name.lower() == "set-cookie" else value) for name, value in headers]
            # The server's write callable goes back unchanged (the SSE stream inspects it).
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)


def _secure(cookie: str) -> str:
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    return cookie if "secure" in attributes else cookie + "; Secure"
