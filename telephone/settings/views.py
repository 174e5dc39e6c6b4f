"""Admin settings: Telefonie (Placetel connection, accounts, banner routing) and users."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import messages, placetel, sip_accounts, site_settings
from ..auth.accounts import UserExists, create_user, one_time_password
from ..auth.decorators import admin_required
from ..extensions import db
from ..models import Role, User
from . import bp
from .accounts_views import phone_context
from .forms import TelephonyForm, UserForm

# form field → (setting key, is secret)
TELEPHONY_FIELDS = {
    "api_token": "placetel.api_token",
    "shared_secret": "placetel.shared_secret",
    "webhook_user": "placetel.webhook_user",
    "webhook_password": "placetel.webhook_password",
    "default_region": "numbers.default_region",
    "routing": "calls.routing",
    "expire_minutes": "calls.expire_minutes",
    "lookup_token": "api.token",
}


@bp.before_request
@admin_required
def only_admins():
    """Every settings page is for admins."""


def _secret_states() -> dict[str, bool]:
    return {field: site_settings.is_set(key) for field, key in TELEPHONY_FIELDS.items()
            if site_settings.spec(key).secret}


def render_telephony(form: TelephonyForm, status: int = 200, **context):
    """The Telefonie page; other features (connection test, test call) add their context."""
    region_default = site_settings.spec("numbers.default_region").effective_default()
    webhook = placetel.webhook_state()
    webhook_url = placetel.webhook_url(url_for("calls.notify", _external=True), webhook.basic_user)
    return render_template("settings/telephony.html", form=form, secrets=_secret_states(), webhook=webhook,
                           webhook_url=webhook_url, phone_users=sip_accounts.users_with_phones(),
                           office_numbers=sip_accounts.office_numbers(), region_default=region_default,
                           **context), status


@bp.route("/telephony", methods=["GET", "POST"])
def telephony():
    form = TelephonyForm()
    if request.method == "GET":
        for field, key in TELEPHONY_FIELDS.items():
            if not site_settings.spec(key).secret:
                getattr(form, field).data = site_settings.get(key)
        return render_telephony(form)
    if not form.validate():
        return render_telephony(form, 422)
    for field, key in TELEPHONY_FIELDS.items():
        value = getattr(form, field).data
        if site_settings.spec(key).secret:
            if getattr(form, f"clear_{field}").data:
                value = ""
            elif not value:
                continue  # empty secret field: keep what is stored
        try:
            site_settings.set_value(key, str(value if value is not None else ""))
        except site_settings.InvalidSetting as exc:
            getattr(form, field).errors.extend(str(exc).splitlines())
    _check_webhook_credentials(form)
    if form.errors:
        db.session.rollback()
        return render_telephony(form, 422)
    db.session.commit()
    flash(_("Die Telefonie-Einstellungen wurden gespeichert."), "success")
    if form.shared_secret.data and len(form.shared_secret.data.strip()) < placetel.MIN_SHARED_SECRET_LENGTH:
        flash(_("Das Shared Secret ist kürzer als %(count)s Zeichen und damit leicht zu erraten. "
                "Besser ein längeres wählen.", count=placetel.MIN_SHARED_SECRET_LENGTH), "warning")
    return redirect(url_for("settings.telephony"))


def _check_webhook_credentials(form: TelephonyForm) -> None:
    """Basic credentials for the webhook come as a pair: a user name needs a password and vice versa."""
    user = (form.webhook_user.data or "").strip()
    password_kept = site_settings.is_set("placetel.webhook_password") and not form.clear_webhook_password.data
    if user and not (form.webhook_password.data or password_kept):
        form.webhook_password.errors.append(_("Bitte auch ein Passwort für den Webhook setzen."))
    elif not user and form.webhook_password.data and not form.clear_webhook_password.data:
        form.webhook_user.errors.append(_("Bitte auch einen Benutzernamen für den Webhook setzen."))


@bp.get("/users")
def users():
    rows = db.session.scalars(select(User).options(selectinload(User.sip_account)).order_by(User.username)).all()
    return render_template("settings/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = UserForm()
    if form.validate_on_submit():
        password = form.password.data or one_time_password()
        try:
            user = create_user(form.username.data, password, admin=form.admin.data,
                               display_name=form.display_name.data or "",
                               must_change_password=not form.password.data)
        except UserExists as exc:
            form.username.errors.append(str(exc))
        else:
            user.active = form.active.data
            user.locale = form.locale.data
            db.session.commit()
            return _after_password_set(user, password, generated=not form.password.data)
    return render_template("settings/user_form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = UserForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.admin.data = user.is_admin
    if form.validate_on_submit():
        taken = db.session.scalar(select(User.id).where(User.username == form.username.data.strip(),
                                                        User.id != user.id))
        if taken:
            form.username.errors.append(_("Benutzer „%(name)s“ gibt es schon.", name=form.username.data))
        elif user.id == current_user.id and (not form.admin.data or not form.active.data):
            form.admin.errors.append(_("Sie können sich nicht selbst die Administratorrechte entziehen oder sich deaktivieren."))
        else:
            user.username = form.username.data.strip()
            user.display_name = form.display_name.data or ""
            user.role = Role.ADMIN.value if form.admin.data else Role.USER.value
            if user.active and not form.active.data:
                user.end_sessions()  # deactivated: logged out everywhere, open banner streams end
            user.active = form.active.data
            user.locale = form.locale.data
            db.session.commit()
            flash(_("Benutzer „%(name)s“ gespeichert.", name=user.username), "success")
            return redirect(url_for("settings.users"))
    return render_template("settings/user_form.html", form=form, **phone_context(user)), 422 if form.errors else 200


@bp.post("/users/<int:user_id>/reset-password")
def user_reset_password(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    password = one_time_password()
    user.set_password(password)
    user.must_change_password = True
    db.session.commit()
    return _after_password_set(user, password, generated=True)


def _after_password_set(user: User, password: str, generated: bool):
    if generated:
        # Shown once, never stored in clear text.
        return render_template("settings/one_time_password.html", user=user, password=password)
    flash(_("Benutzer „%(name)s“ angelegt.", name=user.username), "success")
    return redirect(url_for("settings.users"))


@bp.post("/telephony/test-connection")
def telephony_test_connection():
    """"Verbindung testen": Placetel's SIP accounts and mapped UIDs Placetel does not know (HTMX fragment)."""
    try:
        report = placetel.check_connection()
    except placetel.PlacetelError as exc:
        return render_template("settings/_connection_result.html", error=exc.message_for(current_user), report=None)
    return render_template("settings/_connection_result.html", error=None, report=report)


def save_with_flash(values: dict[str, str]) -> bool:
    """Store several settings from a form (all or none) and flash the outcome in the reader's language."""
    try:
        site_settings.save_all(values)
    except site_settings.InvalidSetting as exc:
        flash(messages.reason(exc), "error")
        return False
    flash(_("Gespeichert."), "success")
    return True
