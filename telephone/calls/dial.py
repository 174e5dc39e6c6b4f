"""Click-to-dial (`POST /calls/dial`) and the Telefon page with "Alle Nummern" (every stored number)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import dialling, directory, paging, presence
from ..extensions import htmx
from . import bp


@bp.post("/dial")
def dial():
    """Start a call; HTMX gets the result fragment, a plain form post a redirect with a flash message."""
    outcome = dialling.dial(current_user, request.form.get("number", ""))
    if htmx:
        return render_template("calls/_dial_result.html", outcome=outcome)
    flash(outcome.message, "success" if outcome.ok else "error")
    return redirect(_back())


def _back() -> str:
    """The page the form was sent from (same host only), else the Telefon page."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if referrer and parts.netloc == request.host and parts.scheme in ("http", "https"):
        return referrer
    return url_for("calls.phone")


@bp.get("/phone")
def phone():
    """The Telefon page: dial any number, and "Alle Nummern", a searchable list of every stored number."""
    query = request.args.get("q", "").strip()
    page = paging.requested_page(directory.search(query), directory.ORDER)
    page.items = directory.entries(page.items)
    if htmx and htmx.target == "phonebook":
        return render_template("calls/_phonebook.html", page=page, query=query)
    # The "Kollegen" list loads right after the page (calls.colleagues): the page never waits on Placetel.
    return render_template("calls/phone.html", page=page, query=query)


@bp.get("/colleagues")
def colleagues():
    """The Telefon page's "Kollegen" list (HTMX fragment, polled): who is ringing, on the phone or free."""
    return render_template("calls/_colleagues.html", colleagues=presence.colleagues(current_user))
