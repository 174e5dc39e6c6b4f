"""Phones and other devices: the token-protected directories, and the admin page "Telefone & Geräte"."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import device_access, deskphones, placetel_contacts, public, site_settings
from ..auth.decorators import admin_required
from ..settings.views import save_with_flash
from . import bp

# URL file name → (format, Content-Type)
DIRECTORY_FILES = {
    "yealink.xml": ("yealink", "application/xml; charset=utf-8"),
    "snom.xml": ("snom", "application/xml; charset=utf-8"),
    "grandstream.xml": ("grandstream", "application/xml; charset=utf-8"),
    "fritzbox.xml": ("fritzbox", "application/xml; charset=utf-8"),
    "phonebook.vcf": ("vcard", "text/vcard; charset=utf-8"),
}


@bp.get("/directory/<file_name>")
@public  # desk phones cannot log in: the token in the URL authorises
def directory(file_name: str):
    """The company phonebook for desk phones; 404 for an unknown file or a wrong token."""
    if file_name not in DIRECTORY_FILES:
        abort(404)
    return _directory(file_name, request.args.get("token"))


@bp.get("/directory/grandstream/<token>/phonebook.xml")
@public
def grandstream_phonebook(token: str):
    """Grandstream phones append `/phonebook.xml` to the server path they are given: the token sits in the path."""
    return _directory("grandstream.xml", token)


def _directory(file_name: str, token: str | None):
    format_name, content_type = DIRECTORY_FILES[file_name]
    if not device_access.token_valid(token, f"directory {file_name}", request.remote_addr):
        abort(404)
    device_access.record_access(format_name, request.remote_addr, request.user_agent.string)
    body = deskphones.render(format_name, query=request.args.get("q", "")[:100], title=_("Firmentelefonbuch"))
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    if format_name == "vcard":
        response.headers["Content-Disposition"] = 'attachment; filename="firmentelefonbuch.vcf"'
    return response


@bp.get("/settings/devices")
@admin_required
def devices():
    """Telefone & Geräte: the directory URLs, their last access, the push to Placetel."""
    return render_template("phones/devices.html", **_page_context())


def _page_context() -> dict:
    token = device_access.current_token()
    base = request.host_url.rstrip("/")
    urls = {file_name: f"{base}{url_for('phones.directory', file_name=file_name)}?token={token}"
            for file_name in DIRECTORY_FILES}
    grandstream_path = url_for("phones.grandstream_phonebook", token=token).removesuffix("/phonebook.xml")
    return {
        "urls": urls,
        "grandstream_server_path": f"{request.host}{grandstream_path}",
        "cid_url": f"{base}{url_for('api.cid')}?token={token}&number=",
        "accesses": device_access.last_accesses(),
        "scope": site_settings.get("phones.directory_scope"),
        "push_enabled": site_settings.get("placetel.push_contacts") == "1",
        "token_set": site_settings.is_set("placetel.api_token"),
        "run": placetel_contacts.latest_run(),
    }


@bp.post("/settings/devices/token")
@admin_required
def renew_token():
    device_access.renew_token()
    flash(_("Neuer Token erzeugt. Tragen Sie die neuen Adressen in den Telefonen ein; die alten gelten nicht mehr."),
          "success")
    return redirect(url_for("phones.devices"))


@bp.post("/settings/devices/options")
@admin_required
def save_options():
    """What the directories contain, and whether every phonebook sync pushes to Placetel."""
    save_with_flash({"phones.directory_scope": request.form.get("scope", ""),
                     "placetel.push_contacts": "1" if request.form.get("push_after_sync") else "0"})
    return redirect(url_for("phones.devices"))


@bp.get("/settings/devices/push/preview")
@admin_required
def push_preview():
    """What "Jetzt übertragen" would do, without sending anything."""
    plan = placetel_contacts.plan_push()
    return render_template("phones/_push_preview.html", plan=plan)


@bp.post("/settings/devices/push")
@admin_required
def push_now():
    """Start a push in the background; the status fragment follows its progress."""
    if not site_settings.is_set("placetel.api_token"):
        flash(_("Bitte tragen Sie zuerst unter Einstellungen → Telefonie den Placetel-API-Token ein."), "error")
        return redirect(url_for("phones.devices"))
    try:
        placetel_contacts.start_background_push("manual")
    except placetel_contacts.PushRefused:
        flash(_("Eine Übertragung läuft bereits."), "error")
    return redirect(url_for("phones.devices"))


@bp.get("/settings/devices/push/status")
@admin_required
def push_status():
    return render_template("phones/_push_status.html", run=placetel_contacts.latest_run())
