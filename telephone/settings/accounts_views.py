"""The user's page, phone part: SIP account picked from Placetel's list, and the office numbers that ring them."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import messages, numbers, placetel, sip_accounts
from ..extensions import db, htmx
from ..models import User
from . import bp
from .forms import NumberAssignmentForm, SipAccountForm, UserForm


def _placetel_sip_users() -> tuple[list[placetel.SipUser] | None, str | None]:
    """Placetel's SIP users by name (from the one-minute cache), or None and the reason (reader's language)."""
    try:
        users = placetel.sip_users()
    except placetel.PlacetelError as exc:
        return None, messages.reason(exc)
    return sorted(users, key=lambda user: (user.name.casefold(), user.sipuid)), None


def phone_context(user: User, sip_form: SipAccountForm | None = None,
                  number_form: NumberAssignmentForm | None = None) -> dict:
    """What the user page's SIP account and number sections show."""
    sip_users, missing_reason = _placetel_sip_users()
    assigned = user.sip_account.sipuid if user.sip_account else ""
    by_uid = {sip_user.sipuid.lower(): sip_user for sip_user in sip_users or []}
    # Suggestions for the number field: our named numbers, then the caller ids of Placetel's phones.
    suggestions = {number.e164: number.name for number in sip_accounts.office_numbers()}
    for sip_user in sip_users or []:
        e164 = numbers.to_e164(sip_user.callerid)
        if e164:
            suggestions.setdefault(e164, sip_user.name)
    return {
        "user": user,
        "sip_form": sip_form or SipAccountForm(formdata=None, data={"sipuid": assigned}),
        "number_form": number_form or NumberAssignmentForm(formdata=None),
        "sip_users": sip_users,
        "missing_reason": missing_reason,
        "assigned_sip_user": by_uid.get(assigned),
        "number_suggestions": suggestions,
    }


def _user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


def _answer(user: User, partial: str, message: str | None, status: int = 200, **forms):
    """The changed section for HTMX; a plain form post goes back to the user page."""
    if htmx:
        return render_template(partial, saved_message=message, **phone_context(user, **forms)), status
    if status >= 400:
        return render_template("settings/user_form.html", form=_user_form(user), **phone_context(user, **forms)), status
    flash(message, "success")
    return redirect(url_for("settings.user_edit", user_id=user.id))


def _user_form(user: User) -> UserForm:
    form = UserForm(formdata=None, obj=user)
    form.admin.data = user.is_admin
    return form


@bp.post("/users/<int:user_id>/sip-account")
def user_sip_account(user_id: int):
    """Assign the user's SIP account (empty: none); it must be one Placetel lists, when the list is there."""
    user = _user(user_id)
    form = SipAccountForm()
    if form.validate():
        sipuid = sip_accounts.normalize_sipuid(form.sipuid.data)
        sip_users, _reason = _placetel_sip_users()
        known = {sip_user.sipuid.lower() for sip_user in sip_users or []}
        unchanged = user.sip_account is not None and user.sip_account.sipuid == sipuid
        if sip_users is not None and sipuid and sipuid not in known and not unchanged:
            form.sipuid.errors.append(_("Diesen SIP-Account gibt es bei Placetel nicht."))
    if form.errors:
        return _answer(user, "settings/_sip_account.html", None, 422, sip_form=form)
    sip_accounts.assign_sip_account(user, form.sipuid.data)
    db.session.commit()
    message = _("SIP-Account gespeichert.") if form.sipuid.data else _("Telefon-Zuordnung entfernt.")
    return _answer(user, "settings/_sip_account.html", message)


@bp.post("/users/<int:user_id>/numbers")
def user_number_add(user_id: int):
    """Let calls to one of the office's numbers ring this user (and name the number)."""
    user = _user(user_id)
    form = NumberAssignmentForm()
    if form.validate():
        try:
            sip_accounts.assign_number(user, form.number.data, form.name.data)
        except sip_accounts.InvalidAssignment as exc:
            db.session.rollback()
            form.number.errors.append(str(exc))
    if form.errors:
        return _answer(user, "settings/_user_numbers.html", None, 422, number_form=form)
    db.session.commit()
    return _answer(user, "settings/_user_numbers.html", _("Rufnummer zugeordnet."))


@bp.post("/users/<int:user_id>/numbers/<int:assignment_id>/delete")
def user_number_remove(user_id: int, assignment_id: int):
    """Take an office number away from the user."""
    user = _user(user_id)
    if not sip_accounts.remove_number_assignment(user, assignment_id):
        abort(404)
    db.session.commit()
    db.session.refresh(user)
    return _answer(user, "settings/_user_numbers.html", _("Zuordnung entfernt."))
