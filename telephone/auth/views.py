"""Login, logout and the personal settings page ("Meine Einstellungen")."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from .. import public
from ..extensions import db
from ..models import User
from . import bp
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
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append(_("Benutzername oder Passwort ist falsch."))
        elif not user.active:
            form.username.errors.append(_("Dieses Konto ist deaktiviert. Bitte wenden Sie sich an Ihren Administrator."))
        else:
            login_user(user, remember=form.remember.data)
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    no_users = db.session.scalar(select(func.count(User.id))) == 0
    return render_template("auth/login.html", form=form, no_users=no_users)


@bp.post("/logout")
def logout():
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
    user: User = current_user
    form = AccountForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.locale.data = user.locale or "de"
    if form.validate_on_submit():
        if form.new_password.data:
            if not (user.must_change_password or user.check_password(form.current_password.data or "")):
                form.current_password.errors.append(_("Das aktuelle Passwort ist falsch."))
                return render_template("auth/account.html", form=form), 422
            user.set_password(form.new_password.data)
            user.must_change_password = False
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
