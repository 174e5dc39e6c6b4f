"""The call journal (Anrufliste): list with filters, marking missed calls as done."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user

from .. import journal, paging, voicemail
from ..extensions import db, htmx
from ..models import Call
from . import bp
from .journal_forms import JournalFilterForm


@bp.app_template_filter("call_status")
def call_status_filter(status: str) -> str:
    return journal.status_label(status)


@bp.app_template_global("open_missed_calls")
def open_missed_calls() -> str:
    """The navigation's count of missed calls without callback, counted once per request."""
    if "open_missed_calls" not in g:
        g.open_missed_calls = journal.missed_count_label(journal.open_missed_count())
    return g.open_missed_calls


def _filters(form: JournalFilterForm) -> journal.JournalFilter:
    form.validate()  # invalid dates are shown as errors and ignored
    return journal.JournalFilter(
        mine=bool(form.mine.data), missed=bool(form.missed.data),
        direction=form.direction.data if form.direction.data in ("in", "out") else "",
        date_from=None if form.date_from.errors else form.date_from.data,
        date_to=None if form.date_to.errors else form.date_to.data,
        search=(form.q.data or "").strip() if not form.q.errors else "",
    )


@bp.get("/", endpoint="journal")
def journal_page():
    """All calls, newest first; the HTMX filter form gets only the list.

    Stale calls are closed by the scheduler job (journal.register_jobs), not here.
    """
    form = JournalFilterForm(request.args)
    filters = _filters(form)
    page = paging.requested_page(journal.journal_query(filters, current_user.id, get_timezone()),
                                 journal.JOURNAL_ORDER)
    template = "calls/_journal_list.html" if htmx and htmx.target == "journal-list" else "calls/journal.html"
    return render_template(template, form=form, page=page,
                           open_missed=journal.calls_needing_callback(page.items),
                           owners_since=journal.owners_found_since(page.items),
                           audible=voicemail.audible_call_ids(page.items, current_user))


@bp.post("/<int:call_pk>/done", endpoint="mark_done")
def mark_done(call_pk: int):
    """"erledigt": a missed call no longer needs a callback."""
    call = db.get_or_404(Call, call_pk)
    journal.mark_done(call, current_user)
    db.session.commit()
    flash(_("Der Anruf ist als erledigt markiert."), "success")
    return redirect(url_for("calls.journal"))
