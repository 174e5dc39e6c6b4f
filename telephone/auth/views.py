"""Login, logout and the personal settings page ("Meine Einstellungen")."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from .. import public
from ..extensions import db
from ..models import User
from . import bp, login_limits
from .accounts import authenticate
from .forms import AccountForm, LoginForm


def _safe_next(target: str | None) -> str:
    """Only follow `next` to a path on this site."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("addresses.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username, address = form.username.data, request.remote_addr or "unknown"
        wait = login_limits.seconds_to_wait(username, address)
        if wait:
            minutes = -(-wait // 60)
            form.password.errors.append(ngettext(
                "Zu viele Fehlversuche. Bitte versuchen Sie es in %(num)d Minute erneut.",
                "Zu viele Fehlversuche. Bitte versuchen Sie es in %(num)d Minuten erneut.", minutes))
            status = 429
        elif (user := authenticate(username, form.password.data)) is None:
            login_limits.record_failure(username, address)
            db.session.commit()
            form.password.errors.append(_("Benutzername oder Passwort ist falsch."))
        elif not user.active:
            form.username.errors.append(_("Dieses Konto ist deaktiviert. Bitte wenden Sie sich an Ihren Administrator."))
        else:
            login_limits.clear_failures(username)
            db.session.commit()
            _log_in(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    no_users = db.session.scalar(select(func.count(User.id))) == 0
    return render_template("auth/login.html", form=form, no_users=no_users), status


def _log_in(user: User, remember: bool) -> None:
    """Start a session for `user`; with `remember` it outlives the browser (REMEMBER_COOKIE_DURATION)."""
    login_user(user, remember=remember)
    session.permanent = remember


def _remembered() -> bool:
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


@bp.post("/logout")
def logout():
    """End every session of the user, on this and every other device."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash(_("Sie wurden abgemeldet."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
@public
def language():
    """Language switch on the login page (logged-in users choose in their settings)."""
    lang = request.form.get("lang", "de")
    session["lang"] = lang if lang in ("de", "en") else "de"
    if current_user.is_authenticated:
        current_user.locale = session["lang"]
        db.session.commit()
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user: User = current_user._get_current_object()
    form = AccountForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.locale.data = user.locale or "de"
    if form.validate_on_submit():
        if form.new_password.data:
            if not (user.must_change_password or user.check_password(form.current_password.data or "")):
                form.current_password.errors.append(_("Das aktuelle Passwort ist falsch."))
                return render_template("auth/account.html", form=form), 422
            user.set_password(form.new_password.data)  # ends every session of the user …
            user.must_change_password = False
            _log_in(user, remember=_remembered())  # … except this one
        elif user.must_change_password:
            form.new_password.errors.append(_("Bitte wählen Sie jetzt ein eigenes Passwort."))
            return render_template("auth/account.html", form=form), 422
        user.display_name = (form.display_name.data or "").strip()
        user.call_notifications = form.call_notifications.data
        user.desktop_notifications = form.desktop_notifications.data
        user.ring_sound = form.ring_sound.data
        user.locale = form.locale.data
        session["lang"] = user.locale
        db.session.commit()
        flash(_("Ihre Einstellungen wurden gespeichert."), "success")
        return redirect(url_for("auth.account"))
    status = 422 if form.errors else 200
    return render_template("auth/account.html", form=form), status
