"""Telefonie settings: the admin's test call button."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import trial_call
from ..extensions import htmx
from . import bp


@bp.post("/telephony/test-call", endpoint="test_call")
def test_call():
    """Send a signed test call through the own webhook (admins only, see the bp's before_request)."""
    number = request.form.get("number", "").strip()
    try:
        trial_call.start_trial_call(current_app._get_current_object(), number, current_user)
    except trial_call.TrialCallError as exc:
        error, message, status = str(exc), None, 422
    else:
        error, message, status = None, _("Testanruf gesendet"), 200
    if htmx:
        return render_template("settings/_test_call.html", test_call_number=number,
                               test_call_error=error, test_call_message=message), status
    flash(error or message, "error" if error else "success")
    return redirect(url_for("settings.telephony", _anchor="test-call"))
