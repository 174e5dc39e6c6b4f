"""Error pages and answers: German HTML for pages, fragments for HTMX, JSON for the API."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from .extensions import htmx


def N_(message: str) -> str:
    """Mark a message for extraction by pybabel; it is translated where it is shown."""
    return message


MESSAGES = {
    400: N_("Die Anfrage war fehlerhaft."),
    403: N_("Dafür fehlt Ihnen die Berechtigung."),
    404: N_("Diese Seite gibt es nicht."),
    405: N_("Diese Aktion ist so nicht erlaubt."),
    413: N_("Die Datei ist zu groß."),
    500: N_("Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es erneut."),
}


def error_response(status: int, message: str | None = None):
    message = message or _(MESSAGES.get(status, MESSAGES[500]))
    if request.path.startswith("/api/"):
        return jsonify(error=message), status
    if htmx:
        return render_template("errors/_message.html", message=message), status
    return render_template("errors/error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    for status in MESSAGES:
        app.register_error_handler(status, lambda exc, status=status: error_response(status))

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return error_response(
            400, _("Das Formular ist abgelaufen oder ungültig. Bitte laden Sie die Seite neu und versuchen Sie es erneut.")
        )
